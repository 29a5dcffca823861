package clip

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/goformer/goformer/task"
	"github.com/goformer/goformer/vit"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
	"github.com/goformer/goformer/tokenizer"
)

// Sentinel errors a caller can test with errors.Is.
var (
	// ErrInput marks unusable input: empty batches, token sequences longer
	// than the context, ids outside the vocabulary, pixel tensors of the wrong
	// shape, empty labels or a template without a placeholder.
	ErrInput = task.NewInputError("clip: invalid input")
	// ErrNoTokenizer is returned by the text methods of a model loaded
	// without tokenizer files (an OpenAI checkpoint without them beside it; see WithTokenizer).
	ErrNoTokenizer = task.NewInputError("clip: no tokenizer")
)

// Option configures Load and LoadOpenAI: the shared load options of every
// family (nn.WithWeightType).
type Option = nn.LoadOption

// WithWeightType keeps the float32 weights of the linear layers packed as t
// (tensor.WeightF16 or WeightBF16): half their memory, at the cost of
// rounding each weight to 11 (F16) or 8 (BF16) significant bits. Weights an
// F16 or BF16 checkpoint stores are kept in their own type regardless.
// tensor.WeightQ8 quantizes the weights of every linear layer to int8 (see
// tensor.WeightQ8).
func WithWeightType(t tensor.WeightType) Option { return nn.WithWeightType(t) }

// WithDevice builds the model on device d (nn.WithDevice): Load and
// LoadOpenAI upload and pack its weights there, both towers run there
// with only the inputs going up and the features coming down, and Close
// frees the device memory. nil is the host.
func WithDevice(d *tensor.Device) Option { return nn.WithDevice(d) }

// loadOptions are what Load and LoadOpenAI work from.
type loadOptions struct {
	nn.LoadOptions
	// TextHeads and VisionHeads set the attention head counts of an
	// OpenAI-layout checkpoint (see OpenAIOptions).
	TextHeads, VisionHeads int
}

func newLoadOptions(opts []Option, oa OpenAIOptions) (loadOptions, error) {
	o, err := nn.ApplyLoadOptions(opts)
	if err != nil {
		return loadOptions{}, fmt.Errorf("clip: %w", err)
	}
	return loadOptions{LoadOptions: o, TextHeads: oa.TextHeads, VisionHeads: oa.VisionHeads}, nil
}

// Model is a loaded CLIP model: text tower, vision tower, projections and
// logit scale, with its image processor and tokenizer. It is immutable and
// safe for concurrent use.
type Model struct {
	cfg        Config
	text       *textTower
	vision     *visionTower
	textProj   *nn.Linear
	visProj    *nn.Linear
	logitScale float32 // exp(logit_scale)
	proc       *imageproc.Processor
	tok        textTokenizer
	store      *checkpoint.Store
	// owned is the store Load opened (nil for New: the caller's store).
	owned  *checkpoint.Store
	id     [32]byte
	source string
}

// Load loads a model from path: a directory in the Hub layout (config.json
// with model_type "clip", weights as model.safetensors, sharded
// safetensors or pytorch_model.bin, the processor and tokenizer files), or
// a checkpoint file in OpenAI's layout (see LoadOpenAI), whose tokenizer
// files are looked for beside it. A model without tokenizer files loads;
// its text methods taking strings return ErrNoTokenizer (give one with
// WithTokenizer). The weights are made resident (packed, and uploaded to
// the device of WithDevice) before Load returns.
func Load(path string, opts ...Option) (*Model, error) {
	return LoadOpenAI(path, OpenAIOptions{}, opts...)
}

// LoadOpenAI is Load with the attention head counts of a checkpoint in
// OpenAI's layout (a TorchScript archive such as ViT-B-32.pt, a torch.save'd
// state dict, or a safetensors file with OpenAI names), whose state dict
// does not record them; they are ignored for Hub directories, whose
// config.json is authoritative.
func LoadOpenAI(path string, oa OpenAIOptions, opts ...Option) (*Model, error) {
	opt, err := newLoadOptions(opts, oa)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	if st.IsDir() {
		return loadHub(path, opt)
	}
	return loadOpenAI(path, opt)
}

func loadHub(dir string, opt loadOptions) (*Model, error) {
	cfg, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	store, err := checkpoint.LoadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	return own(store, cfg, dir, opt)
}

// own builds the model of cfg over a store Load opened, applying the load
// options, and attaches the image processor and tokenizer found in dir.
// The model owns the store (Close closes it); on failure own closes it.
func own(store *checkpoint.Store, cfg Config, dir string, opt loadOptions) (*Model, error) {
	opt.Apply(store)
	m, err := New(cfg, store.Root())
	if err == nil {
		err = m.attach(dir)
	}
	if err != nil {
		store.Close()
		return nil, err
	}
	m.owned = store
	return m, nil
}

// attach loads the image processor and tokenizer for a model whose files
// are in dir.
func (m *Model) attach(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "preprocessor_config.json")); err == nil {
		p, err := imageproc.LoadProcessor(dir)
		if err != nil {
			return fmt.Errorf("clip: %w", err)
		}
		m.proc = p
	} else {
		c := imageproc.DefaultProcessorConfig(imageproc.CLIPImageProcessorType)
		n := m.cfg.Vision.ImageSize
		c.Size = imageproc.Size{ShortestEdge: n}
		c.CropSize = imageproc.Size{Height: n, Width: n}
		p, err := imageproc.NewProcessor(c)
		if err != nil {
			return fmt.Errorf("clip: %w", err)
		}
		m.proc = p
	}
	tok, err := loadTokenizer(dir, m.cfg.Text.MaxPositionEmbeddings)
	switch {
	case err == nil:
		m.tok = tok
	case errors.Is(err, ErrNoTokenizer):
		// Image-only use remains possible.
	default:
		return err
	}
	return nil
}

// New builds a model from a configuration and weights (a
// checkpoint.Store's Root) in the Hub layout (text_model.*, vision_model.*, text_projection.weight,
// visual_projection.weight, logit_scale). The store must stay open while
// the model is used. The model has no image processor or tokenizer until
// they are given with WithProcessor and WithTokenizer. New prepares the
// store (checkpoint.Store.Prepare): the model computes on the store's
// Device with its weights resident there, freed when the store is closed.
func New(cfg Config, w checkpoint.Weights) (*Model, error) {
	if err := w.CheckStore("clip"); err != nil {
		return nil, err
	}
	store := w.Store()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	m := &Model{cfg: cfg, store: store, source: store.Source}
	var err error
	if m.text, err = newTextTower(w.Sub("text_model"), cfg.Text); err != nil {
		return nil, err
	}
	if m.vision, err = newVisionTower(w.Sub("vision_model"), cfg.Vision); err != nil {
		return nil, err
	}
	m.textProj = nn.NewLinear(w.Sub("text_projection"), cfg.Text.HiddenSize, cfg.ProjectionDim, false)
	m.visProj = nn.NewLinear(w.Sub("visual_projection"), cfg.Vision.HiddenSize, cfg.ProjectionDim, false)
	ls := w.Tensor("logit_scale")
	if err := store.Err(false); err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	if ls.Len() != 1 {
		return nil, fmt.Errorf("clip: %s: %w: logit_scale has shape %v, want a scalar", store.Source, checkpoint.ErrMissingWeights, ls.Shape())
	}
	raw := scalar(ls)
	m.logitScale = float32(math.Exp(float64(raw)))
	m.id = fingerprint(cfg, m.textProj.Weight(), m.visProj.Weight(), raw)
	if err := store.Prepare(); err != nil {
		return nil, fmt.Errorf("clip: %s: %w", store.Source, err)
	}
	return m, nil
}

// scalar returns the value of a one-element host weight.
//
//goformer:host reads the logit scale of the checkpoint at load
func scalar(t *tensor.Tensor) float32 { return t.Contiguous().Data()[0] }

// fingerprint identifies a model by its dimensions and the weights of its
// projections (which any retraining changes), cheaply and independently of
// the checkpoint format it was loaded from.
//
//goformer:host hashes the checkpoint's projection weights at load
func fingerprint(cfg Config, tp, vp *tensor.Tensor, logitScale float32) [32]byte {
	h := sha256.New()
	h.Write([]byte("goformer/clip model v1\x00"))
	var b [4]byte
	for _, v := range []int{
		cfg.ProjectionDim, cfg.Text.VocabSize, cfg.Text.HiddenSize, cfg.Text.NumHiddenLayers,
		cfg.Text.MaxPositionEmbeddings, cfg.Vision.HiddenSize, cfg.Vision.NumHiddenLayers,
		cfg.Vision.ImageSize, cfg.Vision.PatchSize,
	} {
		binary.LittleEndian.PutUint32(b[:], uint32(v))
		h.Write(b[:])
	}
	for _, t := range []*tensor.Tensor{tp, vp} {
		for _, v := range t.Contiguous().Data() {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
			h.Write(b[:])
		}
	}
	binary.LittleEndian.PutUint32(b[:], math.Float32bits(logitScale))
	h.Write(b[:])
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// WithProcessor returns a copy of the model that preprocesses images with p.
func (m *Model) WithProcessor(p *imageproc.Processor) *Model {
	c := *m
	c.proc = p
	return &c
}

// WithTokenizer returns a copy of the model that tokenizes text with tok,
// truncating to the model's context.
func (m *Model) WithTokenizer(tok *tokenizer.CLIP) *Model {
	c := *m
	n := tok.MaxLen()
	if n <= 0 || n > m.cfg.Text.MaxPositionEmbeddings {
		n = m.cfg.Text.MaxPositionEmbeddings
	}
	c.tok = &clipTokenizer{tok: tok, maxLen: n}
	return &c
}

// Config returns the model's configuration.
func (m *Model) Config() Config { return m.cfg }

// Device returns the device the model computes on (nil: the host).
func (m *Model) Device() *tensor.Device { return m.text.tok.Device() }

// Dim returns the width of the joint embedding space.
func (m *Model) Dim() int { return m.cfg.ProjectionDim }

// LogitScale returns exp(logit_scale), the factor applied to cosine
// similarities to make logits.
func (m *Model) LogitScale() float32 { return m.logitScale }

// Fingerprint returns a hex SHA-256 identifying the model (its dimensions,
// projection weights and logit scale). Indexes record it so that embeddings
// of one model are never compared with another's.
func (m *Model) Fingerprint() string { return hex.EncodeToString(m.id[:]) }

// Processor returns the image processor (nil for a model built with
// New and no WithProcessor).
func (m *Model) Processor() *imageproc.Processor { return m.proc }

// HasTokenizer reports whether the model can tokenize text.
func (m *Model) HasTokenizer() bool { return m.tok != nil }

// Close releases the memory mappings behind the weights and what Load made
// resident (packed weights, device memory). The model, and the copies
// WithProcessor and WithTokenizer made of it, must not be used afterwards.
func (m *Model) Close() error {
	if m.owned == nil {
		return nil
	}
	return m.owned.Close()
}

// ---------------------------------------------------------------- towers

type textTower struct {
	cfg    TextConfig
	tok    *tensor.Tensor // [V, D], on the model's device
	pos    *tensor.Tensor // [maxPos, D], on the model's device
	layers []*nn.EncoderBlock
	final  *nn.LayerNorm
}

func newEncoderLayers(w checkpoint.Weights, n, d, inter, heads int, act string, eps float64) ([]*nn.EncoderBlock, error) {
	f, err := tensor.Activation(act)
	if err != nil {
		return nil, fmt.Errorf("clip: %w: %v", nn.ErrConfig, err)
	}
	out := make([]*nn.EncoderBlock, n)
	for i := range out {
		lw := w.Subf("layers.%d", i)
		aw := lw.Sub("self_attn")
		out[i] = &nn.EncoderBlock{
			PreNorm: true,
			Attn: (&nn.Attention{
				Q:     nn.NewLinear(aw.Sub("q_proj"), d, d, true),
				K:     nn.NewLinear(aw.Sub("k_proj"), d, d, true),
				V:     nn.NewLinear(aw.Sub("v_proj"), d, d, true),
				O:     nn.NewLinear(aw.Sub("out_proj"), d, d, true),
				Heads: heads,
			}).FuseQKV(),
			LN1: nn.NewLayerNorm(lw.Sub("layer_norm1"), d, float32(eps)),
			LN2: nn.NewLayerNorm(lw.Sub("layer_norm2"), d, float32(eps)),
			MLP: nn.NewMLP(lw.Sub("mlp.fc1"), lw.Sub("mlp.fc2"), d, inter, true, f),
		}
	}
	return out, nil
}

func newTextTower(w checkpoint.Weights, c TextConfig) (*textTower, error) {
	d := c.HiddenSize
	t := &textTower{cfg: c}
	t.tok = w.Upload("embeddings.token_embedding.weight", c.VocabSize, d)
	t.pos = w.Upload("embeddings.position_embedding.weight", c.MaxPositionEmbeddings, d)
	var err error
	t.layers, err = newEncoderLayers(w.Sub("encoder"), c.NumHiddenLayers, d, c.IntermediateSize, c.NumAttentionHeads, c.HiddenAct, c.LayerNormEps)
	if err != nil {
		return nil, err
	}
	t.final = nn.NewLayerNorm(w.Sub("final_layer_norm"), d, float32(c.LayerNormEps))
	return t, nil
}

// poolIndex is the position whose hidden state represents a sequence: the
// end-of-text token, found as transformers finds it (see TextConfig).
func (t *textTower) poolIndex(ids []int) int {
	if eos := t.cfg.EosTokenID; eos != 2 {
		for i, id := range ids {
			if id == eos {
				return i
			}
		}
	}
	best := 0
	for i, id := range ids {
		if id > ids[best] {
			best = i
		}
	}
	return best
}

// forward returns the pooled output [B, D] (final layer norm applied, on
// the model's device) of token sequences, which may differ in length. mask
// (optional) holds 1 for tokens to attend to and 0 for padding, per
// sequence.
//
// Attention is causal, so the pooled position depends only on the tokens up
// to it: the batch runs on the shortest prefix holding every pooled position.
func (t *textTower) forward(ctx context.Context, ids, mask [][]int) (*tensor.Tensor, error) {
	b := len(ids)
	if b == 0 {
		return nil, fmt.Errorf("%w: no token sequences", ErrInput)
	}
	if mask != nil && len(mask) != b {
		return nil, fmt.Errorf("%w: %d attention masks for %d sequences", ErrInput, len(mask), b)
	}
	d := t.cfg.HiddenSize
	pool := make([]int, b)
	tmax := 0
	for i, row := range ids {
		if len(row) == 0 {
			return nil, fmt.Errorf("%w: token sequence %d is empty", ErrInput, i)
		}
		if len(row) > t.cfg.MaxPositionEmbeddings {
			return nil, fmt.Errorf("%w: token sequence %d has %d tokens, the model takes at most %d", ErrInput, i, len(row), t.cfg.MaxPositionEmbeddings)
		}
		if mask != nil && len(mask[i]) != len(row) {
			return nil, fmt.Errorf("%w: attention mask %d has %d entries for %d tokens", ErrInput, i, len(mask[i]), len(row))
		}
		for j, id := range row {
			if id < 0 || id >= t.cfg.VocabSize {
				return nil, fmt.Errorf("%w: token id %d at sequence %d position %d is outside the vocabulary of %d", ErrInput, id, i, j, t.cfg.VocabSize)
			}
		}
		pool[i] = t.poolIndex(row)
		tmax = max(tmax, pool[i]+1)
	}
	// The token and position embeddings: the table rows gathered on the
	// device, the positions added to every sequence. The attention mask
	// (made on the host) goes up with the ids.
	flat := make([]int, b*tmax)
	var maskD []float32
	for i, row := range ids {
		for j := 0; j < tmax; j++ {
			id := t.cfg.PadTokenID
			if j < len(row) {
				id = row[j]
			}
			if id < 0 || id >= t.cfg.VocabSize {
				id = 0 // padding beyond the sequence, never attended to
			}
			flat[i*tmax+j] = id
			if mask != nil && j <= pool[i] && mask[i][j] == 0 {
				if maskD == nil {
					maskD = make([]float32, b*tmax)
				}
				// transformers adds the dtype's minimum, not −Inf.
				maskD[i*tmax+j] = -math.MaxFloat32
			}
		}
	}
	emb, err := tensor.Gather(t.tok, flat)
	if err != nil {
		return nil, fmt.Errorf("clip: text embeddings: %w", err)
	}
	x := emb.MustReshape(b, tmax, d)
	pos := t.pos.Slice(0, 0, tmax)
	err = tensor.AddInPlace(x, pos)
	tensor.Release(pos)
	if err != nil {
		tensor.Release(x)
		tensor.Release(emb)
		return nil, fmt.Errorf("clip: text embeddings: %w", err)
	}
	var maskT *tensor.Tensor
	if maskD != nil {
		if maskT, err = t.tok.Device().FromHost(maskD, b, 1, tmax); err != nil {
			tensor.Release(x)
			tensor.Release(emb)
			return nil, fmt.Errorf("clip: attention mask: %w", err)
		}
		defer tensor.Release(maskT)
	}
	opt := nn.AttnOptions{Causal: true, Mask: maskT}
	for i, l := range t.layers {
		if err := ctx.Err(); err != nil {
			tensor.Release(x)
			tensor.Release(emb)
			return nil, err
		}
		y := l.Forward(x, opt)
		tensor.Release(x) // recycled by the next layer or call
		if i == 0 {
			tensor.Release(emb) // x was a view of it
		}
		x = y
	}
	// The pooled rows, one per sequence.
	rowsAt := make([]int, b)
	for i := range b {
		rowsAt[i] = i*tmax + pool[i]
	}
	xf := x.MustReshape(b*tmax, d)
	pooled, err := tensor.Gather(xf, rowsAt)
	tensor.Release(xf)
	tensor.Release(x)
	if len(t.layers) == 0 {
		tensor.Release(emb)
	}
	if err != nil {
		return nil, fmt.Errorf("clip: pooling: %w", err)
	}
	y := t.final.Forward(pooled)
	tensor.Release(pooled)
	return y, nil
}

// visionTower is CLIP's vision transformer: the shared ViT encoder filled
// from CLIP's weight names.
type visionTower struct {
	cfg VisionConfig
	enc *vit.Encoder
}

func newVisionTower(w checkpoint.Weights, c VisionConfig) (*visionTower, error) {
	enc, err := vit.NewCLIPEncoder(w, c.EncoderConfig())
	if err != nil {
		return nil, fmt.Errorf("clip: vision_config: %w", err)
	}
	return &visionTower{cfg: c, enc: enc}, nil
}

// forward returns the pooled output [B, D] on the model's device: the class
// token after the encoder and post_layernorm.
func (v *visionTower) forward(ctx context.Context, pix *tensor.Tensor) (*tensor.Tensor, error) {
	c := v.cfg
	if pix == nil || pix.Rank() != 4 || pix.Dim(0) < 1 || pix.Dim(1) != c.NumChannels || pix.Dim(2) != c.ImageSize || pix.Dim(3) != c.ImageSize {
		var shape []int
		if pix != nil {
			shape = pix.Shape()
		}
		return nil, fmt.Errorf("%w: pixel values have shape %v, want [B, %d, %d, %d]", ErrInput, shape, c.NumChannels, c.ImageSize, c.ImageSize)
	}
	last, err := v.enc.Forward(ctx, pix.Contiguous(), false)
	if err != nil {
		return nil, fmt.Errorf("clip: vision tower: %w", err)
	}
	y, err := v.enc.Pooled(last)
	tensor.Release(last)
	return y, err
}
