package blip2

import (
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/llm"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/task"
	"github.com/goformer/goformer/tensor"
	"github.com/goformer/goformer/tokenizer"
	"github.com/goformer/goformer/vit"
)

// ErrInput marks input a model call cannot take: pixel values of the wrong
// shape, undecodable or empty images, token ids outside the vocabulary,
// prompts longer than the language model's positions, negative or
// over-the-limit generation options. It matches task.ErrInput.
var ErrInput = task.NewInputError("blip2: invalid input")

// numChannels is the vision tower's input channels (Blip2VisionEmbeddings
// takes RGB).
const numChannels = 3

// Model is a loaded BLIP-2 checkpoint. It is immutable after Load or New
// and safe for concurrent use.
type Model struct {
	cfg     Config
	vision  *vit.Encoder
	qformer *qformer
	proj    *nn.Linear // language_projection
	lm      *llm.Model
	proc    *imageproc.Processor
	tok     *tokenizer.BPE
	store   *checkpoint.Store // owned when made by Load
	dev     *tensor.Device    // where the weights live and forward passes run (nil: the host)
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

// Load reads a BLIP-2 model directory: config.json, the weights
// (model.safetensors, sharded safetensors or pytorch_model.bin; the OPT
// lm_head is tied to the token embeddings and absent, as in Hub saves),
// preprocessor_config.json (for the image-level calls) and OPT's tokenizer
// files vocab.json and merges.txt (for the text-level calls). Each of the
// last two is optional: without it, the calls that need it fail and the
// pixel- and id-level ones work.
//
// opts may ask for float32 weights to be packed as 16-bit
// (nn.WithWeightType): half the memory and of the bytes each generated
// token reads, at the cost of rounding. nn.WithKVType has no effect: the
// Q-Former's cross-attention keys and values are used once per image, and
// the language model's cache is float32. nn.WithDevice puts the model on a
// device: Load uploads and packs the weights there, forward passes run
// there, and the tensors of Encode and Logits are on it (tensor.ToHost
// reads them); generation downloads only what the search reads.
//
// Load makes every weight resident (packed, on the device) before it
// returns (checkpoint.Store.Prepare): the first call is as fast as the
// next ones.
func Load(dir string, opts ...Option) (*Model, error) {
	o, cfg, err := nn.StartLoad("blip2", dir, opts, LoadConfig)
	if err != nil {
		return nil, err
	}
	proc, err := imageproc.LoadProcessorIfPresent(dir)
	if err != nil {
		return nil, fmt.Errorf("blip2: %w", err)
	}
	tok, err := loadTokenizer(dir)
	if err != nil {
		return nil, err
	}
	m, store, err := nn.LoadStore("blip2", dir, o, func(store *checkpoint.Store) (*Model, error) {
		return New(cfg, store.Root())
	})
	if err != nil {
		return nil, err
	}
	m.proc, m.tok, m.store = proc, tok, store
	return m, nil
}

// loadTokenizer reads OPT's tokenizer from dir (nil when dir has none).
func loadTokenizer(dir string) (*tokenizer.BPE, error) {
	has := func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return err == nil
	}
	var tok *tokenizer.BPE
	var err error
	switch {
	case has("vocab.json") && has("merges.txt"):
		tok, err = tokenizer.LoadOPT(dir)
	case has("tokenizer.json"):
		tok, err = tokenizer.LoadBPE(dir)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("blip2: %w", err)
	}
	return tok, nil
}

// New builds a model from a config and weights named as transformers names
// them (vision_model.*, query_tokens, qformer.*, language_projection.*,
// language_model.*), without an image processor (see WithProcessor) or a
// tokenizer (see WithTokenizer). Every missing or mis-shaped tensor is
// named in one error wrapping checkpoint.ErrMissingWeights. New does not take
// ownership of the weights' store: Close does nothing, and the caller
// closes the store when done with the model. Set the store's WeightType
// before calling it to pack float32 weights as 16-bit, and its Device to
// build the model on a device; call the store's Prepare afterwards to make
// the weights resident before the first call (Load does both).
func New(cfg Config, w checkpoint.Weights) (*Model, error) {
	if err := w.CheckStore("blip2"); err != nil {
		return nil, err
	}
	cfg = cfg.normalized()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	enc, err := vit.NewBLIP2Encoder(w.Sub("vision_model"), cfg.Vision.encoderConfig())
	if err != nil {
		return nil, fmt.Errorf("blip2: vision_config: %w", err)
	}
	m := &Model{cfg: cfg, vision: enc, dev: w.Device()}
	if m.qformer, err = newQFormer(w, cfg); err != nil {
		return nil, err
	}
	m.proj = nn.NewLinear(w.Sub("language_projection"), cfg.QFormer.HiddenSize, cfg.Text.HiddenSize, true)
	// llm.New reports every weight problem of the store, the vision tower's
	// and the Q-Former's included.
	if m.lm, err = llm.New(cfg.Text, w.Sub("language_model")); err != nil {
		return nil, fmt.Errorf("blip2: %s: %w", w.Store().Source, err)
	}
	if err := w.Err(); err != nil {
		return nil, fmt.Errorf("blip2: %s: %w", w.Store().Source, err)
	}
	return m, nil
}

// Close releases the memory-mapped weights of a model made by Load, and
// the packed weights and device memory its Load made resident (a model
// made by New does not own its weights: Close does nothing). Calling it
// again is harmless. The model, and copies made by its With methods, must
// not be used afterwards.
func (m *Model) Close() error {
	if m == nil || m.store == nil {
		return nil
	}
	return m.store.Close()
}

// Config returns the model's configuration.
func (m *Model) Config() Config { return m.cfg }

// VisionEncoder returns the vision tower.
func (m *Model) VisionEncoder() *vit.Encoder { return m.vision }

// LanguageModel returns the language model (OPT), which the model owns:
// closing it is the model's business.
func (m *Model) LanguageModel() *llm.Model { return m.lm }

// Processor returns the image processor (nil for a model built with New,
// or loaded from a directory without preprocessor_config.json).
func (m *Model) Processor() *imageproc.Processor { return m.proc }

// WithProcessor returns a copy of the model that preprocesses images with p
// (nil leaves the copy without one: the image-level calls then fail and the
// pixel-level ones work). The copy shares the weights: Close on either
// releases them for both.
func (m *Model) WithProcessor(p *imageproc.Processor) *Model {
	c := *m
	c.proc = p
	return &c
}

// Tokenizer returns OPT's tokenizer (nil for a model built with New, or
// loaded from a directory without tokenizer files).
func (m *Model) Tokenizer() *tokenizer.BPE { return m.tok }

// WithTokenizer returns a copy of the model that tokenizes prompts and
// decodes generations with t (tokenizer.LoadOPT's, which puts "</s>" in
// front of every prompt as OPT's tokenizer does). The copy shares the
// weights: Close on either releases them for both.
func (m *Model) WithTokenizer(t *tokenizer.BPE) *Model {
	c := *m
	c.tok = t
	return &c
}

// PixelValues preprocesses images into the [N, 3, H, W] pixel values the
// vision tower takes (BlipImageProcessor: RGB, bicubic resize to the
// configured size, rescale, normalize with preprocessor_config.json's mean
// and std).
func (m *Model) PixelValues(images []image.Image) (*tensor.Tensor, error) {
	if m.proc == nil {
		return nil, fmt.Errorf("blip2: no image processor: the model was not loaded from a directory with preprocessor_config.json (see WithProcessor)")
	}
	px, err := vit.PixelValues(m.proc, images, ErrInput, "")
	if err != nil {
		return nil, inputErr(err)
	}
	return px, nil
}

// inputErr makes an error that matches task.ErrInput (an image the
// processor refuses, a bad argument to the language model) match ErrInput
// too.
func inputErr(err error) error {
	if err == nil || errors.Is(err, ErrInput) {
		return err
	}
	if errors.Is(err, task.ErrInput) || errors.Is(err, llm.ErrInput) {
		return fmt.Errorf("%w: %w", ErrInput, err)
	}
	return err
}

// checkPixels validates pixel values [B, 3, H, W] against the config.
func (m *Model) checkPixels(px *tensor.Tensor) error {
	if px == nil {
		return fmt.Errorf("%w: pixel values are nil", ErrInput)
	}
	s, size := px.Shape(), m.cfg.Vision.ImageSize
	if len(s) != 4 || s[0] < 1 || s[1] != numChannels || s[2] != size || s[3] != size {
		return fmt.Errorf("%w: pixel values have shape %v, want [B≥1, %d, %d, %d]", ErrInput, s, numChannels, size, size)
	}
	return nil
}

// Features are the intermediate results of the image side for a batch of
// images, as transformers' Blip2ForConditionalGeneration computes them.
type Features struct {
	// Vision is the vision tower's last hidden state [B, 1+patches,
	// vision hidden size], after post_layernorm (vision_outputs[0]).
	Vision *tensor.Tensor
	// QFormer is the Q-Former's last hidden state [B, num_query_tokens,
	// qformer hidden size].
	QFormer *tensor.Tensor
	// LanguageInputs is language_projection of QFormer [B,
	// num_query_tokens, text hidden size]: the rows put in front of the
	// prompt's token embeddings (language_model_inputs).
	LanguageInputs *tensor.Tensor
}

// Release hands the tensors back for reuse (tensor.Release); f must not be
// used afterwards.
func (f *Features) Release() {
	if f == nil {
		return
	}
	tensor.Release(f.Vision)
	tensor.Release(f.QFormer)
	tensor.Release(f.LanguageInputs)
	*f = Features{}
}

// Encode runs the vision tower, the Q-Former and the language projection
// on pixel values [B, 3, H, W] (H = W = vision_config.image_size). Host
// pixel values are uploaded to the model's device; the features are on it.
func (m *Model) Encode(ctx context.Context, pixels *tensor.Tensor) (*Features, error) {
	return m.encode(ctx, pixels, true)
}

// encode is Encode; without keep, only LanguageInputs is returned (the
// other tensors are released).
func (m *Model) encode(ctx context.Context, pixels *tensor.Tensor, keep bool) (*Features, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := m.checkPixels(pixels); err != nil {
		return nil, err
	}
	pixels, done, err := m.dev.UploadInput(pixels)
	if err != nil {
		return nil, err
	}
	img, err := m.vision.Forward(ctx, pixels, false)
	done()
	if err != nil {
		return nil, inputErr(err)
	}
	q, err := m.qformer.forward(ctx, img)
	if err != nil {
		tensor.Release(img)
		return nil, err
	}
	f := &Features{Vision: img, QFormer: q, LanguageInputs: m.proj.Forward(q)}
	if !keep {
		tensor.Release(img)
		tensor.Release(q)
		f.Vision, f.QFormer = nil, nil
	}
	return f, nil
}

// checkInputs validates language-model inputs [B, num_query_tokens, E].
func (m *Model) checkInputs(inputs *tensor.Tensor) error {
	if inputs == nil {
		return fmt.Errorf("%w: language model inputs are nil", ErrInput)
	}
	s := inputs.Shape()
	if len(s) != 3 || s[0] < 1 || s[1] < 1 || s[2] != m.lm.EmbedDim() {
		return fmt.Errorf("%w: language model inputs have shape %v, want [B≥1, T≥1, %d]", ErrInput, s, m.lm.EmbedDim())
	}
	return nil
}

// checkPrompt checks that a prompt of n tokens fits after q query rows.
func (m *Model) checkPrompt(q, n int) error {
	if n == 0 {
		return fmt.Errorf("%w: empty prompt (an unconditional prompt is [bos_token_id])", ErrInput)
	}
	if q+n > m.cfg.Text.MaxPositions {
		return fmt.Errorf("%w: %d query rows and %d prompt tokens exceed the language model's %d positions", ErrInput, q, n, m.cfg.Text.MaxPositions)
	}
	return nil
}

// embeds returns the language model's input embeddings for one image,
// [Q+len(ids), E]: its rows of inputs [B, Q, E] (on the model's device)
// followed by the embeddings of ids.
func (m *Model) embeds(inputs *tensor.Tensor, i int, ids []int) (*tensor.Tensor, error) {
	if err := m.checkPrompt(inputs.Dim(1), len(ids)); err != nil {
		return nil, err
	}
	emb, err := m.lm.Embed(ids)
	if err != nil {
		return nil, inputErr(err)
	}
	defer tensor.Release(emb)
	row := inputs.Index(i)
	defer tensor.Release(row)
	return tensor.Concat(0, row, emb)
}

// Logits runs the model teacher-forced, as Blip2ForConditionalGeneration's
// forward pass does: for pixel values [B, 3, H, W] and token rows ids
// [B][T] (all of length T, as the tokenizer gives them, "</s>" first), it
// returns the language model's logits [B, T, vocab] at the text
// positions (the query positions before them are left out): row t scores
// the token after ids[t].
func (m *Model) Logits(ctx context.Context, pixels *tensor.Tensor, ids [][]int) (*tensor.Tensor, error) {
	if err := m.checkPixels(pixels); err != nil {
		return nil, err
	}
	if len(ids) != pixels.Dim(0) {
		return nil, fmt.Errorf("%w: %d token rows for %d images", ErrInput, len(ids), pixels.Dim(0))
	}
	for _, row := range ids {
		if len(row) != len(ids[0]) {
			return nil, fmt.Errorf("%w: token rows of different lengths (%d and %d)", ErrInput, len(ids[0]), len(row))
		}
	}
	f, err := m.encode(ctx, pixels, false)
	if err != nil {
		return nil, err
	}
	defer f.Release()
	return m.LogitsFromInputs(ctx, f.LanguageInputs, ids)
}

// LogitsFromInputs is Logits on language-model inputs [B, Q, E] computed
// before (Features.LanguageInputs). Host inputs are uploaded to the model's
// device; the logits are on it.
func (m *Model) LogitsFromInputs(ctx context.Context, inputs *tensor.Tensor, ids [][]int) (*tensor.Tensor, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := m.checkInputs(inputs); err != nil {
		return nil, err
	}
	b, q := inputs.Dim(0), inputs.Dim(1)
	if len(ids) != b {
		return nil, fmt.Errorf("%w: %d token rows for %d images", ErrInput, len(ids), b)
	}
	t := len(ids[0])
	flat := make([]int, 0, b*t)
	for _, row := range ids {
		if len(row) != t {
			return nil, fmt.Errorf("%w: token rows of different lengths (%d and %d)", ErrInput, t, len(row))
		}
		flat = append(flat, row...)
	}
	if err := m.checkPrompt(q, t); err != nil {
		return nil, err
	}
	inputs, done, err := m.dev.UploadInput(inputs)
	if err != nil {
		return nil, err
	}
	defer done()
	x, err := m.inputEmbeds(inputs, flat, t)
	if err != nil {
		return nil, err
	}
	defer tensor.Release(x)
	st, err := m.lm.NewState(b)
	if err != nil {
		return nil, inputErr(err)
	}
	defer st.Release()
	lg, err := st.Logits(ctx, x, nil)
	if err != nil {
		return nil, inputErr(err)
	}
	v := lg.Slice(1, q, lg.Dim(1))
	out := v.Clone()
	tensor.Release(v)
	tensor.Release(lg)
	return out, nil
}

// inputEmbeds returns the language model's input embeddings [B, Q+T, E]
// for inputs [B, Q, E] and B rows of T token ids (flat, row after row):
// each image's query rows followed by its tokens' embeddings.
func (m *Model) inputEmbeds(inputs *tensor.Tensor, flat []int, t int) (*tensor.Tensor, error) {
	b, q, e := inputs.Dim(0), inputs.Dim(1), inputs.Dim(2)
	emb, err := m.lm.Embed(flat)
	if err != nil {
		return nil, inputErr(err)
	}
	defer tensor.Release(emb)
	x := m.dev.New(b, q+t, e)
	head, tail := x.Slice(1, 0, q), x.Slice(1, q, q+t)
	defer tensor.Release(head)
	defer tensor.Release(tail)
	emb3 := emb.MustReshape(b, t, e)
	defer tensor.Release(emb3)
	if err := tensor.Copy(head, inputs); err != nil {
		tensor.Release(x)
		return nil, err
	}
	if err := tensor.Copy(tail, emb3); err != nil {
		tensor.Release(x)
		return nil, err
	}
	return x, nil
}
