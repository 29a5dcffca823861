package llava

import (
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/llm"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/task"
	"github.com/goformer/goformer/tensor"
	"github.com/goformer/goformer/tokenizer"
	"github.com/goformer/goformer/vit"
)

// ErrInput marks input a model call cannot take: a conversation the chat
// format cannot write, images that do not match the <image> tokens of a
// prompt, pixel values of the wrong shape, prompts and token counts beyond
// the language model's positions, bad generation options. It matches
// task.ErrInput.
var ErrInput = task.NewInputError("llava: invalid input")

// Model is a loaded LLaVA checkpoint. It is immutable after Load or New and
// safe for concurrent use.
type Model struct {
	cfg Config
	// tower is the CLIP vision encoder cut after the layer the features
	// come from (the layers after it are never run).
	tower *vit.Encoder
	proj  *nn.MLP
	lm    *llm.Model
	// dev is the device the weights live and the model computes on (nil:
	// the host).
	dev *tensor.Device

	proc     *imageproc.Processor
	tok      *tokenizer.SentencePiece
	tmpl     Template
	defaults llm.GenerateOptions
	res      *resources
}

// resources are what a model and its copies (WithProcessor, ...) share:
// the store Load opened, closed once.
type resources struct {
	once  sync.Once
	store *checkpoint.Store
	err   error
}

func (r *resources) close() error {
	if r == nil {
		return nil
	}
	r.once.Do(func() {
		if r.store != nil {
			r.err = r.store.Close()
		}
	})
	return r.err
}

// Option configures Load: the load options every family shares
// (nn.LoadOption).
type Option = nn.LoadOption

// WithWeightType packs the float32 weights of linear layers as t
// (nn.WithWeightType): tensor.WeightF16 or WeightBF16 halve their memory
// and reads at the cost of rounding, tensor.WeightQ8 quarters them (int8
// with a scale per 256 values).
func WithWeightType(t tensor.WeightType) Option { return nn.WithWeightType(t) }

// WithDevice builds the model on device d (nn.WithDevice): Load uploads and
// packs the weights there, the forward passes run there, and Close frees
// the device memory. nil is the host.
func WithDevice(d *tensor.Device) Option { return nn.WithDevice(d) }

// Load reads a LLaVA model directory laid out like a Hub repository:
// config.json, the weights (model.safetensors, sharded safetensors or
// PyTorch files; F16 and BF16 weights stay 16-bit, float32 ones can be
// packed as 16-bit with nn.WithWeightType), generation_config.json when
// present (the default decoding), preprocessor_config.json (needed by the
// image-level calls) and the Llama tokenizer (tokenizer.model or
// tokenizer.json with tokenizer_config.json; needed by the text-level
// calls). The weights stay memory-mapped until Close. With nn.WithDevice
// the model keeps its weights on that device and computes there. Every
// weight is made resident (packed, uploaded) before Load returns, so the
// first call runs as fast as later ones. Checkpoints saved by
// transformers 4.52 and later (model.language_model.*, lm_head.*, ...) are
// read under the names New expects.
func Load(dir string, opts ...Option) (*Model, error) {
	o, cfg, err := nn.StartLoad("llava", dir, opts, LoadConfig)
	if err != nil {
		return nil, err
	}
	defaults, err := llm.LoadGenerationConfig(dir, llm.DefaultOptions(cfg.Text))
	if err != nil {
		return nil, fmt.Errorf("llava: %w", err)
	}
	proc, err := imageproc.LoadProcessorIfPresent(dir)
	if err != nil {
		return nil, fmt.Errorf("llava: %w", err)
	}
	var tok *tokenizer.SentencePiece
	if exists(filepath.Join(dir, "tokenizer.model")) || exists(filepath.Join(dir, "tokenizer.json")) {
		if tok, err = tokenizer.LoadLlama(dir); err != nil {
			return nil, fmt.Errorf("llava: %w", err)
		}
	}
	style, err := readChatTemplate(dir)
	if err != nil {
		return nil, err
	}
	m, store, err := nn.LoadStore("llava", dir, o, func(store *checkpoint.Store) (*Model, error) {
		renameNewLayout(store)
		m, err := New(cfg, store.Root())
		if err != nil {
			return nil, err
		}
		// The language model's layers are packed in parallel, then the
		// store's Prepare makes the rest resident (tower, projector).
		if err := m.lm.Pack(); err != nil {
			return nil, fmt.Errorf("llava: %w", err)
		}
		return m, nil
	})
	if err != nil {
		return nil, err
	}
	m.res = &resources{store: store}
	m.defaults = defaults
	m.proc = proc
	m.tmpl.Style = style
	if tok != nil {
		if m, err = m.WithTokenizer(tok); err != nil {
			store.Close()
			return nil, err
		}
	}
	return m, nil
}

// renameNewLayout maps the weight names of checkpoints saved by
// transformers 4.52 and later (model.language_model.*, model.vision_tower.*,
// model.multi_modal_projector.*, lm_head.*) onto the names New reads, as
// transformers' own checkpoint conversion mapping does.
func renameNewLayout(store *checkpoint.Store) {
	if !store.Root().Has("model.language_model.embed_tokens.weight") {
		return
	}
	store.Rename(func(name string) string {
		switch {
		case strings.HasPrefix(name, "model.language_model."):
			return "language_model.model." + strings.TrimPrefix(name, "model.language_model.")
		case strings.HasPrefix(name, "model.vision_tower."):
			return "vision_tower." + strings.TrimPrefix(name, "model.vision_tower.")
		case strings.HasPrefix(name, "model.multi_modal_projector."):
			return "multi_modal_projector." + strings.TrimPrefix(name, "model.multi_modal_projector.")
		case strings.HasPrefix(name, "lm_head."):
			return "language_model." + name
		}
		return name
	})
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// New builds a model from a configuration and weights named as in
// transformers' LlavaForConditionalGeneration checkpoints:
// vision_tower.vision_model.* (CLIP's vision tower), multi_modal_projector.
// linear_1 and linear_2, and language_model.* (the Llama decoder with its
// lm_head). Every missing or mis-shaped tensor is named in one error
// wrapping checkpoint.ErrMissingWeights. New does not take ownership of the store
// (Close does not close it). The model has no image processor or
// tokenizer: give them with WithProcessor and WithTokenizer, or use the
// pixel- and id-level calls. It is built on the store's Device (nil: the
// host); its weights become resident when the store's Prepare runs (Load
// calls it; otherwise at their first use).
func New(cfg Config, w checkpoint.Weights) (*Model, error) {
	if err := w.CheckStore("llava"); err != nil {
		return nil, err
	}
	store := w.Store()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	layer, _ := cfg.featureLayer()
	v := cfg.Vision
	root := w
	// hidden_states[layer] is the output of the first layer layers (0:
	// the embeddings after pre_layrnorm): the layers after it are neither
	// built nor made resident, since they never run.
	ec := v.EncoderConfig()
	ec.NumLayers = max(layer, 1)
	tower, err := vit.NewCLIPEncoder(root.Sub("vision_tower.vision_model"), ec)
	if err != nil {
		return nil, fmt.Errorf("llava: vision_config: %w", err)
	}
	tower.Layers = tower.Layers[:layer]
	act, _ := tensor.Activation(cfg.ProjectorHiddenAct)
	pw := root.Sub("multi_modal_projector")
	d := cfg.Text.EmbedDim()
	proj := &nn.MLP{
		FC1: nn.NewLinear(pw.Sub("linear_1"), v.HiddenSize, d, true),
		FC2: nn.NewLinear(pw.Sub("linear_2"), d, d, true),
		Act: act,
	}
	// llm.New reports every weight problem recorded so far, the vision
	// tower's and projector's included.
	lm, err := llm.New(cfg.Text, root.Sub("language_model"))
	if err != nil {
		return nil, fmt.Errorf("llava: %w", err)
	}
	return &Model{
		cfg: cfg, tower: tower, proj: proj, lm: lm, dev: store.Device,
		tmpl:     Template{ImageToken: "<image>", EOS: "</s>"},
		defaults: llm.DefaultOptions(cfg.Text),
	}, nil
}

// Close releases the memory-mapped weights of a model made by Load (and of
// its copies). It is idempotent; a model built with New does not own its
// store, and Close does nothing. The model must not be used afterwards.
func (m *Model) Close() error {
	if m == nil {
		return nil
	}
	return m.res.close()
}

// Config returns the model's configuration.
func (m *Model) Config() Config { return m.cfg }

// LanguageModel returns the Llama decoder (for scoring and decoding on
// embeddings of one's own).
func (m *Model) LanguageModel() *llm.Model { return m.lm }

// Processor returns the image processor (nil when the model has none).
func (m *Model) Processor() *imageproc.Processor { return m.proc }

// Tokenizer returns the tokenizer (nil when the model has none).
func (m *Model) Tokenizer() *tokenizer.SentencePiece { return m.tok }

// Template returns how the model writes conversations as prompts.
func (m *Model) Template() Template { return m.tmpl }

// DefaultOptions returns the model's generation defaults: transformers'
// (greedy, at most 20 new tokens) with the end tokens of the config,
// updated by generation_config.json when Load found one.
func (m *Model) DefaultOptions() llm.GenerateOptions { return m.defaults.Clone() }

// WithProcessor returns a copy of the model that preprocesses images with
// p (nil: none; the image-level calls then fail). The copy shares the
// weights: Close on either releases them for both.
func (m *Model) WithProcessor(p *imageproc.Processor) *Model {
	c := *m
	c.proc = p
	return &c
}

// WithTokenizer returns a copy of the model that writes and reads text
// with tok (nil: none; the text-level calls then fail). The image token is
// tok's token at the config's image_token_index, and the end of an
// assistant turn tok's end token; an image_token_index that is not one of
// tok's added tokens is an error. The copy shares the weights.
func (m *Model) WithTokenizer(tok *tokenizer.SentencePiece) (*Model, error) {
	c := *m
	c.tok = tok
	if tok == nil {
		return &c, nil
	}
	img := tok.Token(m.cfg.ImageTokenIndex)
	if img == "" || !tok.IsSpecial(m.cfg.ImageTokenIndex) {
		return nil, fmt.Errorf("llava: %w: image_token_index %d is not a special token of the tokenizer (%q)", nn.ErrConfig, m.cfg.ImageTokenIndex, img)
	}
	if tok.VocabSize() > m.cfg.Text.VocabSize {
		return nil, fmt.Errorf("llava: %w: the tokenizer has %d tokens, the language model %d", nn.ErrConfig, tok.VocabSize(), m.cfg.Text.VocabSize)
	}
	c.tmpl.ImageToken = img
	if e := tok.EOS(); e >= 0 {
		c.tmpl.EOS = tok.Token(e)
	}
	return &c, nil
}

// PixelValues preprocesses images into the [N, 3, H, W] pixel values the
// vision tower takes (CLIPImageProcessor: RGB, bicubic resize of the
// shortest edge, center crop, rescale, normalize).
func (m *Model) PixelValues(imgs []image.Image) (*tensor.Tensor, error) {
	if m.proc == nil {
		return nil, errors.New("llava: no image processor: the model was not loaded from a directory with preprocessor_config.json (see WithProcessor)")
	}
	return vit.PixelValues(m.proc, imgs, ErrInput, "llava: ")
}

// SelectedFeatures runs the vision tower on pixel values [N, C, H, W] (on
// the host or the model's device) and returns the image features LLaVA
// selects, [N, rows, vision hidden size] on the model's device:
// the hidden state vision_feature_layer (before the layers after it),
// without the class token's row under the "default" strategy
// (transformers' selected_image_feature).
func (m *Model) SelectedFeatures(ctx context.Context, pixels *tensor.Tensor) (*tensor.Tensor, error) {
	h, err := m.tower.Forward(ctx, pixels, false)
	if err != nil {
		if errors.Is(err, task.ErrInput) {
			return nil, fmt.Errorf("llava: %w", err)
		}
		return nil, err
	}
	if m.cfg.VisionFeatureSelectStrategy == "full" {
		return h, nil
	}
	// A copy: for one image the slice is a view of h's storage.
	v := h.Slice(1, 1, h.Dim(1))
	sel := v.Clone()
	tensor.Release(v)
	tensor.Release(h)
	return sel, nil
}

// Project maps selected features [N, rows, vision hidden size] (on the
// host or the model's device) into the language model's embedding space
// with the projector (linear_1, the activation, linear_2): [N, rows,
// EmbedDim] on the model's device.
func (m *Model) Project(selected *tensor.Tensor) (*tensor.Tensor, error) {
	if selected == nil || selected.Rank() != 3 || selected.Dim(2) != m.cfg.Vision.HiddenSize {
		var shape []int
		if selected != nil {
			shape = selected.Shape()
		}
		return nil, fmt.Errorf("%w: features of shape %v, want [images, rows, %d]", ErrInput, shape, m.cfg.Vision.HiddenSize)
	}
	x, err := m.dev.Upload(selected)
	if err != nil {
		return nil, fmt.Errorf("llava: features to %s: %w", m.dev, err)
	}
	out := m.proj.Forward(x.Contiguous())
	if x != selected {
		tensor.Release(x)
	}
	return out, nil
}

// ImageFeatures runs the vision tower and the projector on pixel values:
// the [N, rows, EmbedDim] features that replace the <image> tokens
// (transformers' image_features), on the model's device.
func (m *Model) ImageFeatures(ctx context.Context, pixels *tensor.Tensor) (*tensor.Tensor, error) {
	sel, err := m.SelectedFeatures(ctx, pixels)
	if err != nil {
		return nil, err
	}
	defer tensor.Release(sel)
	return m.Project(sel)
}

// imagePositions returns the positions of the image token in ids.
func (m *Model) imagePositions(ids []int) []int {
	var at []int
	for i, id := range ids {
		if id == m.cfg.ImageTokenIndex {
			at = append(at, i)
		}
	}
	return at
}

// InputEmbeds returns the language model's input for ids and the image
// features of its <image> tokens (in order; nil when ids have none): the
// token embeddings with each <image> token's row replaced by its image's
// feature rows, [len(ids) - N + N·rows, EmbedDim] on the model's device,
// as transformers 4.40's _merge_input_ids_with_image_features builds
// inputs_embeds. Features on the host are uploaded; each part is copied
// into its place.
func (m *Model) InputEmbeds(ids []int, features *tensor.Tensor) (*tensor.Tensor, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: no token ids", ErrInput)
	}
	at := m.imagePositions(ids)
	e := m.lm.EmbedDim()
	n, rows := 0, 0
	if features != nil {
		if features.Rank() != 3 || features.Dim(2) != e {
			return nil, fmt.Errorf("%w: image features of shape %v, want [images, rows, %d]", ErrInput, features.Shape(), e)
		}
		n, rows = features.Dim(0), features.Dim(1)
	}
	if len(at) != n {
		return nil, fmt.Errorf("%w: the prompt has %d image tokens for %d images", ErrInput, len(at), n)
	}
	total := len(ids) - n + n*rows
	if total > m.cfg.Text.MaxPositions {
		return nil, fmt.Errorf("%w: the prompt takes %d positions, the language model has %d", ErrInput, total, m.cfg.Text.MaxPositions)
	}
	out := m.dev.New(total, e)
	var fd *tensor.Tensor
	if features != nil {
		var err error
		if fd, err = m.dev.Upload(features); err != nil {
			tensor.Release(out)
			return nil, fmt.Errorf("llava: image features to %s: %w", m.dev, err)
		}
		if fd != features {
			defer tensor.Release(fd)
		}
	}
	pos := 0
	// place copies src [n, e] into the next n rows of out.
	place := func(src *tensor.Tensor) error {
		n := src.Dim(0)
		dst := out.Slice(0, pos, pos+n)
		err := tensor.Copy(dst, src)
		tensor.Release(dst)
		pos += n
		return err
	}
	text := func(part []int) error {
		if len(part) == 0 {
			return nil
		}
		x, err := m.lm.Embed(part)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInput, err)
		}
		err = place(x)
		tensor.Release(x)
		return err
	}
	prev := 0
	for k, p := range at {
		err := text(ids[prev:p])
		if err == nil {
			f := fd.Index(k)
			err = place(f)
			tensor.Release(f)
		}
		if err != nil {
			tensor.Release(out)
			return nil, err
		}
		prev = p + 1
	}
	if err := text(ids[prev:]); err != nil {
		tensor.Release(out)
		return nil, err
	}
	return out, nil
}

// embeds builds the language model's input for ids and pixel values (nil
// when ids have no image token).
func (m *Model) embeds(ctx context.Context, ids []int, pixels *tensor.Tensor) (*tensor.Tensor, error) {
	n := len(m.imagePositions(ids))
	if pixels == nil {
		if n > 0 {
			return nil, fmt.Errorf("%w: the prompt has %d image tokens and no pixel values were given", ErrInput, n)
		}
		return m.InputEmbeds(ids, nil)
	}
	if pixels.Rank() != 4 || pixels.Dim(0) != n {
		return nil, fmt.Errorf("%w: pixel values of shape %v for %d image tokens, want [%d, %d, %d, %d]", ErrInput, pixels.Shape(), n, n,
			m.cfg.Vision.NumChannels, m.cfg.Vision.ImageSize, m.cfg.Vision.ImageSize)
	}
	// Refuse an over-long prompt before the vision tower runs.
	if total := len(ids) - n + n*m.cfg.FeatureRows(); total > m.cfg.Text.MaxPositions {
		return nil, fmt.Errorf("%w: the prompt takes %d positions, the language model has %d", ErrInput, total, m.cfg.Text.MaxPositions)
	}
	feats, err := m.ImageFeatures(ctx, pixels)
	if err != nil {
		return nil, err
	}
	defer tensor.Release(feats)
	return m.InputEmbeds(ids, feats)
}

// Logits returns the language model's logits for every position of the
// merged input (teacher forcing), [1, positions, VocabSize] on the model's
// device (tensor.ToHost brings them to the host): the prompt
// ids with their <image> tokens replaced by the images of pixels ([N, C,
// H, W], one per <image> token in order; nil when ids have none), as
// transformers returns them: each image takes rows positions where its
// token stood, so the token ids[i] after the last of N image tokens is at
// position i - N + N·rows.
func (m *Model) Logits(ctx context.Context, ids []int, pixels *tensor.Tensor) (*tensor.Tensor, error) {
	x, err := m.embeds(ctx, ids, pixels)
	if err != nil {
		return nil, err
	}
	defer tensor.Release(x)
	st, err := m.lm.NewState(1)
	if err != nil {
		return nil, err
	}
	defer st.Release()
	lg, err := st.Logits(ctx, x, nil)
	return lg, m.wrap(err)
}

// Generate continues the prompt ids (with one <image> token per image of
// pixels, nil when there are none) and returns the whole sequence as
// transformers 4.40's generate returns it for LLaVA: the prompt ids (with
// their <image> tokens) followed by the new tokens. opt is used as given:
// start from DefaultOptions. opt.OnToken streams the new tokens.
func (m *Model) Generate(ctx context.Context, ids []int, pixels *tensor.Tensor, opt llm.GenerateOptions) ([]int, error) {
	if opt.MaxNewTokens < 0 || opt.MaxNewTokens > m.cfg.Text.MaxPositions {
		return nil, fmt.Errorf("%w: max new tokens %d (want 0 to %d)", ErrInput, opt.MaxNewTokens, m.cfg.Text.MaxPositions)
	}
	if opt.NumBeams > MaxBeams {
		return nil, fmt.Errorf("%w: %d beams, over the limit of %d", ErrInput, opt.NumBeams, MaxBeams)
	}
	x, err := m.embeds(ctx, ids, pixels)
	if err != nil {
		return nil, err
	}
	defer tensor.Release(x)
	out, err := m.lm.Generate(ctx, llm.Prompt{IDs: ids, Embeds: x}, opt)
	return out, m.wrap(err)
}

// MaxBeams bounds beam search: every beam keeps its own key/value cache
// over the image features (hundreds of positions).
const MaxBeams = 16

// wrap makes the language model's input errors match ErrInput.
func (m *Model) wrap(err error) error {
	if err != nil && errors.Is(err, llm.ErrInput) && !errors.Is(err, task.ErrInput) {
		return fmt.Errorf("%w: %w", ErrInput, err)
	}
	return err
}
