package vit

import (
	"context"
	"fmt"
	"image"
	"slices"
	"sort"

	"github.com/goformer/goformer/task"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// ErrNoClassifier is returned by the classification methods of a model
// loaded without a classification head (a ViTModel checkpoint).
var ErrNoClassifier = task.NewInputError("vit: model has no classification head")

// Model is a ViT image classifier (transformers' ViTForImageClassification)
// or bare encoder (ViTModel), with its image processor and labels.
//
// A loaded Model is immutable and safe for concurrent use. Weights read from
// a safetensors file may be memory-mapped: call Close when done with the
// model, and not before.
type Model struct {
	Config Config
	// Encoder is the vision transformer (embeddings, blocks, final norm).
	Encoder *Encoder
	// Pooler is ViTModel's optional pooler (dense + tanh on the class
	// token); nil when the checkpoint has none.
	Pooler *nn.Linear
	// Classifier maps the class token to logits; nil for a bare ViTModel.
	Classifier *nn.Linear
	// Labels names the classes by index (id2label, or LABEL_i when the
	// config has none).
	Labels []string

	proc  *imageproc.Processor
	store *checkpoint.Store
}

// Option configures Load: the shared load options of every family
// (nn.WithWeightType).
type Option = nn.LoadOption

// WithWeightType keeps the float32 weights of the linear layers packed as t
// (tensor.WeightF16 or WeightBF16): half their memory, at the cost of
// rounding each weight to 11 (F16) or 8 (BF16) significant bits. Weights an
// F16 or BF16 checkpoint stores are kept in their own type regardless.
// t = tensor.WeightQ8 instead quantizes the weights of every linear layer
// (16-bit checkpoints included) to int8 with a scale per 256 values, and
// their inputs on the fly: a quarter of float32's memory and reads (the
// accuracy measured on the fixtures is in tensor/PERFORMANCE.md).
func WithWeightType(t tensor.WeightType) Option { return nn.WithWeightType(t) }

// WithDevice builds the model on device d (nn.WithDevice): its weights are
// uploaded and packed there by Load, Forward runs there, taking pixel
// values from the host and returning tensors on d, and Close frees the
// device memory. nil is the host.
func WithDevice(d *tensor.Device) Option { return nn.WithDevice(d) }

// Load reads a ViT model from a Hub-layout directory: config.json (see
// ParseConfig), the weights (model.safetensors preferred, else
// pytorch_model.bin; all missing, mis-shaped and unexpected tensors are
// reported in one error wrapping checkpoint.ErrMissingWeights) and
// preprocessor_config.json (when absent, ViTImageProcessor defaults at the
// model's image size). The weights are made resident (packed, and uploaded
// to the device of WithDevice) before Load returns.
func Load(dir string, opts ...Option) (*Model, error) {
	o, cfg, err := nn.StartLoad("vit", dir, opts, LoadConfig)
	if err != nil {
		return nil, err
	}
	proc, err := imageproc.LoadProcessorIfPresent(dir)
	if err != nil {
		return nil, fmt.Errorf("vit: %w", err)
	}
	m, store, err := nn.LoadStore("vit", dir, o, func(store *checkpoint.Store) (*Model, error) {
		return New(cfg, store.Root())
	})
	if err != nil {
		return nil, err
	}
	m.store = store // Load's store is the model's; New's stays the caller's
	if proc != nil {
		m.proc = proc
	}
	return m, nil
}

// New builds a model from a configuration and weights (a
// checkpoint.Store's Root) holding transformers' ViT names (with or
// without the "vit." prefix of ViTForImageClassification). Every missing, mis-shaped or unexpected
// tensor is reported in one error wrapping checkpoint.ErrMissingWeights. The model
// preprocesses images with ViTImageProcessor defaults at its image size
// (see WithProcessor). The store stays the caller's: Close does not close
// it, and it must stay open while the model is used. New prepares the
// store (checkpoint.Store.Prepare): the model computes on the store's
// Device with its weights resident there, freed when the store is closed.
func New(cfg Config, w checkpoint.Weights) (*Model, error) {
	if err := w.CheckStore("vit"); err != nil {
		return nil, err
	}
	store := w.Store()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pc := imageproc.DefaultProcessorConfig(imageproc.ViTImageProcessorType)
	pc.Size = imageproc.Size{Height: cfg.ImageSize, Width: cfg.ImageSize}
	proc, err := imageproc.NewProcessor(pc)
	if err != nil {
		return nil, fmt.Errorf("vit: %w", err)
	}
	root := w
	if w = root.Sub("vit"); !w.Has("embeddings.cls_token") && root.Has("embeddings.cls_token") {
		w = root // a bare ViTModel checkpoint
	}
	enc, err := NewEncoder(w, cfg.EncoderConfig())
	if err != nil {
		return nil, err
	}
	m := &Model{Config: cfg, Encoder: enc, proc: proc}
	d := cfg.HiddenSize
	if w.Has("pooler.dense.weight") {
		m.Pooler = nn.NewLinear(w.Sub("pooler").Sub("dense"), d, d, true)
	}
	labels, err := cfg.Labels()
	if err != nil {
		return nil, err
	}
	wantHead := len(cfg.Architectures) > 0 && cfg.Architectures[0] == "ViTForImageClassification"
	// transformers' ViTModel has no head, whatever the checkpoint holds.
	bare := len(cfg.Architectures) > 0 && cfg.Architectures[0] == "ViTModel"
	if !bare && (root.Has("classifier.weight") || root.Has("classifier.bias") || wantHead) {
		n := len(labels)
		if n == 0 {
			if t, ok := store.Get(root.Prefix() + "classifier.weight"); ok && t.Rank() == 2 {
				n = t.Dim(0)
			}
			labels = make([]string, n)
			for i := range labels {
				labels[i] = fmt.Sprintf("LABEL_%d", i)
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("vit: %w: a classification model needs id2label or a classifier weight", nn.ErrConfig)
		}
		m.Classifier = nn.NewLinear(root.Sub("classifier"), d, n, true)
		m.Labels = labels
	}
	var ignore []string
	if bare {
		// A classification checkpoint loaded as ViTModel: its head is
		// left out, as transformers does.
		ignore = append(ignore, root.Prefix()+"classifier.")
	}
	if err := store.Err(true, ignore...); err != nil {
		return nil, fmt.Errorf("vit: %w", err)
	}
	if err := store.Prepare(); err != nil {
		return nil, fmt.Errorf("vit: %s: %w", store.Source, err)
	}
	return m, nil
}

// Device returns the device the model computes on (nil: the host).
func (m *Model) Device() *tensor.Device { return m.Encoder.Device() }

// Processor returns the image processor that turns images into the model's
// pixel values: the one of the directory's preprocessor_config.json for a
// model made by Load, else ViTImageProcessor defaults at the model's image
// size.
func (m *Model) Processor() *imageproc.Processor { return m.proc }

// WithProcessor returns a copy of the model that preprocesses images with
// p (nil leaves the copy without one: its image-level calls then fail with
// ErrInput). The copy shares the weights: Close on either releases them for
// both.
func (m *Model) WithProcessor(p *imageproc.Processor) *Model {
	c := *m
	c.proc = p
	return &c
}

// Close releases the memory mapping of the weights and what Load made
// resident (packed weights, device memory). The model must not be used
// afterwards.
func (m *Model) Close() error {
	if m == nil || m.store == nil {
		return nil
	}
	return m.store.Close()
}

// Options are per-call options of Forward.
type Options struct {
	// InterpolatePosEncoding accepts pixel values of a size other than the
	// model's image_size, resizing the position embeddings bicubically as
	// transformers' interpolate_pos_encoding=True does.
	InterpolatePosEncoding bool
	// OutputHiddenStates fills Output.HiddenStates.
	OutputHiddenStates bool
}

// Output is the result of Forward for a batch of B images. Its tensors are
// on the model's device (read them with tensor.ToHost or tensor.HostData
// when that is not the host).
type Output struct {
	// LastHiddenState is the final-normalized hidden state [B, 1+N, D]
	// (class token first), usable as patch embeddings.
	LastHiddenState *tensor.Tensor
	// Pooled is [B, D]: the pooler output when the checkpoint has a pooler
	// (ViTModel), else the normalized class token the classifier reads.
	Pooled *tensor.Tensor
	// Logits is [B, num_labels], or nil for a model without a classifier.
	Logits *tensor.Tensor
	// HiddenStates, with Options.OutputHiddenStates, holds transformers'
	// hidden_states: the embeddings, then the output of each layer
	// (1+num_hidden_layers tensors [B, 1+N, D]); the last one is the encoder
	// output before the final layer norm.
	HiddenStates []*tensor.Tensor
}

// Release hands the output's tensors back for reuse by later calls
// (tensor.Release), so that a loop over images allocates nothing; neither o
// nor its tensors may be used afterwards. Calling it is optional.
func (o *Output) Release() {
	if o == nil {
		return
	}
	ts := append([]*tensor.Tensor{o.LastHiddenState, o.Pooled, o.Logits}, o.HiddenStates...)
	for i, t := range ts {
		if !slices.Contains(ts[:i], t) {
			tensor.Release(t)
		}
	}
	*o = Output{}
}

// Forward runs the model on pixel values [B, C, H, W] as made by
// imageproc.Processor.PreprocessBatch (on the host, or on the model's
// device). The context is checked between layers.
func (m *Model) Forward(ctx context.Context, pixels *tensor.Tensor, opt Options) (*Output, error) {
	hidden, states, err := m.Encoder.forward(ctx, pixels, opt.InterpolatePosEncoding, opt.OutputHiddenStates)
	if err != nil {
		return nil, err
	}
	cls, err := tensor.Position(hidden, 0)
	if err != nil {
		return nil, err
	}
	out := &Output{LastHiddenState: hidden, Pooled: cls, HiddenStates: states}
	if m.Classifier != nil {
		out.Logits = m.Classifier.Forward(cls)
	}
	if m.Pooler != nil {
		out.Pooled = m.Pooler.ForwardAct(cls, tensor.Tanh)
		tensor.Release(cls) // the logits, if any, are computed
	}
	return out, nil
}

// Logits returns the classification logits [B, num_labels] for pixel values
// [B, C, H, W] at the model's image size, on the model's device.
func (m *Model) Logits(ctx context.Context, pixels *tensor.Tensor) (*tensor.Tensor, error) {
	if m.Classifier == nil {
		return nil, ErrNoClassifier
	}
	out, err := m.Forward(ctx, pixels, Options{})
	if err != nil {
		return nil, err
	}
	logits := out.Logits
	out.Logits = nil
	out.Release()
	return logits, nil
}

// ForwardImages preprocesses images with the model's Processor and runs
// Forward on them as one batch.
func (m *Model) ForwardImages(ctx context.Context, imgs []image.Image, opt Options) (*Output, error) {
	if m.proc == nil {
		return nil, fmt.Errorf("%w: model has no image processor", ErrInput)
	}
	pixels, err := m.proc.PreprocessBatch(imgs)
	if err != nil {
		return nil, err
	}
	return m.Forward(ctx, pixels, opt)
}

// Prediction is one class of a classification result: its label, index
// and softmax probability (the front door's task.Prediction).
type Prediction = task.Prediction

// Classify returns the k most probable classes of img, best first, with
// softmax probabilities as scores (transformers' image-classification
// pipeline). k ≤ 0 or beyond the number of classes returns all classes.
func (m *Model) Classify(ctx context.Context, img image.Image, k int) ([]Prediction, error) {
	res, err := m.ClassifyBatch(ctx, []image.Image{img}, k)
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// ClassifyBatch classifies images as one batch; see Classify.
func (m *Model) ClassifyBatch(ctx context.Context, imgs []image.Image, k int) ([][]Prediction, error) {
	if m.Classifier == nil {
		return nil, ErrNoClassifier
	}
	out, err := m.ForwardImages(ctx, imgs, Options{})
	if err != nil {
		return nil, err
	}
	defer out.Release()
	return topK(out.Logits, m.Labels, k)
}

// TopK turns logits [B, C] into the k most probable classes per row (softmax
// probabilities, best first, ties by lower index). k ≤ 0 or k > C gives all
// C classes. labels names the classes; missing names are left empty.
// Logits on a device are downloaded first (nil is returned if that fails).
func TopK(logits *tensor.Tensor, labels []string, k int) [][]Prediction {
	res, _ := topK(logits, labels, k)
	return res
}

// topK is TopK, reporting a failed download.
//
//goformer:host ranking the downloaded logits of a classification
func topK(logits *tensor.Tensor, labels []string, k int) ([][]Prediction, error) {
	h, err := tensor.ToHost(logits)
	if err != nil {
		return nil, fmt.Errorf("vit: logits: %w", err)
	}
	probs := tensor.Softmax(h)
	if h != logits {
		tensor.Release(h)
	}
	c := probs.Dim(-1)
	rows := probs.Len() / max(c, 1)
	if k <= 0 || k > c {
		k = c
	}
	pd := probs.Data()
	res := make([][]Prediction, rows)
	for r := 0; r < rows; r++ {
		row := pd[r*c : (r+1)*c]
		idx := make([]int, c)
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return row[idx[a]] > row[idx[b]] })
		preds := make([]Prediction, k)
		for i := 0; i < k; i++ {
			j := idx[i]
			preds[i] = Prediction{Index: j, Score: row[j]}
			if j < len(labels) {
				preds[i].Label = labels[j]
			}
		}
		res[r] = preds
	}
	tensor.Release(probs)
	return res, nil
}
