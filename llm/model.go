package llm

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// ErrInput marks invalid arguments to a model call: token ids outside the
// vocabulary, embeddings of the wrong width, sequences longer than the
// model's positions, batch sizes that do not match the state, bad
// generation options.
var ErrInput = errors.New("llm: invalid input")

// Model is a decoder-only causal language model (OPT or Llama). It is
// immutable after New or Load and safe for concurrent use: the per-call
// decoding state (KV caches, positions, padding) lives in a State.
type Model struct {
	cfg Config
	// embed is the token embedding [V, E], its rows gathered per token
	// (a 16-bit table stays 16-bit); it is also the LM head when tied.
	embed *nn.Linear
	head  *nn.Linear // [V, E]
	// dev is the device the weights live and the model computes on (nil:
	// the host); src the store they came from (Pack prepares it).
	dev *tensor.Device
	src *checkpoint.Store

	// OPT
	pos             *tensor.Tensor // learned positions [MaxPositions+2, D]
	projIn, projOut *nn.Linear     // nil unless word_embed_proj_dim ≠ hidden_size
	blocks          []*nn.DecoderBlock
	finalLN         *nn.LayerNorm // nil when the config removes it

	// Llama
	layers  []*llamaLayer
	norm    *tensor.Tensor // final RMSNorm weight [D]
	invFreq []float32      // rotary inverse frequencies [HeadDim/2] (host values, an operation's parameter)
	act     func(float32) float32

	defaults GenerateOptions
	store    *checkpoint.Store // owned when loaded by Load
}

// Config returns the model's configuration.
func (m *Model) Config() Config { return m.cfg }

// EmbedDim returns the width of the token embeddings, which is the width
// of the input embeddings Prefill and Logits take (Config.EmbedDim).
func (m *Model) EmbedDim() int { return m.cfg.EmbedDim() }

// Close releases the memory mappings behind the weights of a model read by
// Load; a model built with New does not own its store, and Close does
// nothing. Calling it twice is harmless. The model must not be used
// afterwards.
func (m *Model) Close() error {
	if m == nil || m.store == nil {
		return nil
	}
	s := m.store
	m.store = nil
	return s.Close()
}

// LoadConfig reads a config.json with ParseConfig: a causal LM's, or the
// text_config of a multimodal checkpoint's.
func LoadConfig(path string) (Config, error) { return nn.ReadConfig("llm", path, ParseConfig) }

// configFile is a config.json as Load reads it: the decoder's
// configuration and the prefix of its weight names ("language_model" for
// the text_config of a multimodal checkpoint).
type configFile struct {
	cfg    Config
	prefix string
}

func loadConfigFile(path string) (configFile, error) {
	return nn.ReadConfig("llm", path, func(raw []byte) (configFile, error) {
		cfg, err := ParseConfig(raw)
		if err != nil {
			return configFile{}, err
		}
		var top struct {
			ModelType  string `json:"model_type"`
			TextConfig any    `json:"text_config"`
		}
		if err := json.Unmarshal(raw, &top); err != nil {
			return configFile{}, fmt.Errorf("%w: %v", nn.ErrConfig, err)
		}
		fc := configFile{cfg: cfg}
		if top.ModelType != OPT && top.ModelType != Llama && top.TextConfig != nil {
			fc.prefix = "language_model"
		}
		return fc, nil
	})
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

// Load reads a plain causal-LM checkpoint directory (OPTForCausalLM or
// LlamaForCausalLM: config.json, safetensors or PyTorch weights, sharded
// or not, and generation_config.json when present, which sets
// DefaultOptions). The weights stay memory-mapped; F16 and BF16 weights
// stay 16-bit. opts may ask for float32 weights to be packed as 16-bit
// (nn.WithWeightType) or for the model to live and compute on a device
// (nn.WithDevice). Every weight is made resident (packed, uploaded) before
// Load returns, so the first call runs as fast as later ones. A multimodal directory whose config.json has a
// text_config (BLIP-2, LLaVA) loads its language model alone, from the
// weights under "language_model.".
func Load(dir string, opts ...Option) (*Model, error) {
	o, fc, err := nn.StartLoad("llm", dir, opts, loadConfigFile)
	if err != nil {
		return nil, err
	}
	cfg, prefix := fc.cfg, fc.prefix
	defaults, err := LoadGenerationConfig(dir, DefaultOptions(cfg))
	if err != nil {
		return nil, err
	}
	m, store, err := nn.LoadStore("llm", dir, o, func(store *checkpoint.Store) (*Model, error) {
		m, err := New(cfg, store.Root().Sub(prefix))
		if err != nil {
			return nil, err
		}
		return m, m.Pack()
	})
	if err != nil {
		return nil, err
	}
	m.defaults = defaults
	m.store = store
	return m, nil
}

// New builds a model from weights named as transformers names them (a
// store's Root for a plain checkpoint, Root().Sub("language_model") inside
// BLIP-2 and LLaVA checkpoints):
//
//   - OPT: "model.decoder.*" (OPTForCausalLM) or "decoder.*" (OPTModel),
//     the LM head tied to embed_tokens (lm_head.weight, absent from Hub
//     saves, is read only when tie_word_embeddings is false);
//   - Llama: "model.*" (LlamaForCausalLM) or unprefixed (LlamaModel), and
//     "lm_head.weight" unless tie_word_embeddings.
//
// Every missing or mis-shaped tensor is listed in one error wrapping
// checkpoint.ErrMissingWeights. New does not take ownership of the store (Close
// does nothing); set the store's WeightType before calling it to pack
// float32 weights as 16-bit, its Device to build the model on a device
// (nn.LoadOptions.Apply does both). The weights become resident when the
// store's Prepare runs (Pack), which the owner of the store calls once the
// models it builds are built.
func New(cfg Config, w checkpoint.Weights) (*Model, error) {
	if err := w.CheckStore("llm"); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	act, err := tensor.Activation(cfg.Activation)
	if err != nil {
		return nil, fmt.Errorf("llm: %w: activation %q: %v", nn.ErrConfig, cfg.Activation, err)
	}
	root := w
	m := &Model{cfg: cfg, act: act, dev: w.Device(), src: w.Store()}
	switch cfg.ModelType {
	case OPT:
		m.buildOPT(root)
	case Llama:
		m.buildLlama(root)
	}
	if err := w.Store().Err(false); err != nil {
		return nil, fmt.Errorf("llm: %w", err)
	}
	m.defaults = DefaultOptions(cfg)
	return m, nil
}

// layerNorm reads an OPT layer norm (eps 1e-5, PyTorch's default), or
// builds the identity-affine one of layer_norm_elementwise_affine=false.
func (m *Model) layerNorm(w checkpoint.Weights, d int) *nn.LayerNorm {
	if m.cfg.LayerNormElementwiseAffine {
		return nn.NewLayerNorm(w, d, 1e-5)
	}
	one := make([]float32, d)
	for i := range one {
		one[i] = 1
	}
	return &nn.LayerNorm{W: w.UploadTensor(tensor.MustFromData(one, d)), B: w.UploadTensor(tensor.New(d)), Eps: 1e-5}
}

// buildOPT reads OPTForCausalLM weights (transformers v4.30 modeling_opt).
func (m *Model) buildOPT(root checkpoint.Weights) {
	c := m.cfg
	d, e, f := c.HiddenSize, c.WordEmbedProjDim, c.IntermediateSize
	dec := root.Sub("model").Sub("decoder")
	if !dec.Has("embed_tokens.weight") && root.Has("decoder.embed_tokens.weight") {
		dec = root.Sub("decoder")
	}
	m.embed = nn.NewLinear(dec.Sub("embed_tokens"), e, c.VocabSize, false)
	m.pos = dec.Upload("embed_positions.weight", c.MaxPositions+2, d)
	if e != d {
		m.projIn = nn.NewLinear(dec.Sub("project_in"), e, d, false)
		m.projOut = nn.NewLinear(dec.Sub("project_out"), d, e, false)
	}
	if c.DoLayerNormBefore && !c.RemoveFinalLayerNorm {
		m.finalLN = m.layerNorm(dec.Sub("final_layer_norm"), d)
	}
	bias := c.EnableBias
	for i := 0; i < c.NumLayers; i++ {
		l := dec.Subf("layers.%d", i)
		m.blocks = append(m.blocks, &nn.DecoderBlock{
			PreNorm:  c.DoLayerNormBefore,
			SelfAttn: nn.NewAttention(l.Sub("self_attn"), d, c.NumHeads, bias).FuseQKV(),
			LN1:      m.layerNorm(l.Sub("self_attn_layer_norm"), d),
			LN2:      m.layerNorm(l.Sub("final_layer_norm"), d),
			MLP:      nn.NewMLP(l.Sub("fc1"), l.Sub("fc2"), d, f, bias, m.act),
		})
	}
	m.tieHead(root, e)
}

// tieHead sets the output projection: the token embedding itself (its rows
// then also looked up), or lm_head with the embedding only looked up.
func (m *Model) tieHead(root checkpoint.Weights, in int) {
	if m.cfg.TieWordEmbeddings {
		m.head = m.embed
		m.embed.Lookup = nn.LookupTied
		return
	}
	m.embed.Lookup = nn.LookupOnly
	m.head = nn.NewLinear(root.Sub("lm_head"), in, m.cfg.VocabSize, false)
}

// buildLlama reads LlamaForCausalLM weights (transformers v4.40
// modeling_llama).
func (m *Model) buildLlama(root checkpoint.Weights) {
	c := m.cfg
	d, f := c.HiddenSize, c.IntermediateSize
	qd, kvd := c.NumHeads*c.HeadDim, c.NumKVHeads*c.HeadDim
	base := root.Sub("model")
	if !base.Has("embed_tokens.weight") && root.Has("embed_tokens.weight") {
		base = root
	}
	m.embed = nn.NewLinear(base.Sub("embed_tokens"), d, c.VocabSize, false)
	ab, mb := c.AttentionBias, c.MLPBias
	for i := 0; i < c.NumLayers; i++ {
		l := base.Subf("layers.%d", i)
		m.layers = append(m.layers, &llamaLayer{
			q:        nn.NewLinear(l.Sub("self_attn.q_proj"), d, qd, ab),
			k:        nn.NewLinear(l.Sub("self_attn.k_proj"), d, kvd, ab),
			v:        nn.NewLinear(l.Sub("self_attn.v_proj"), d, kvd, ab),
			o:        nn.NewLinear(l.Sub("self_attn.o_proj"), qd, d, ab),
			gate:     nn.NewLinear(l.Sub("mlp.gate_proj"), d, f, mb),
			up:       nn.NewLinear(l.Sub("mlp.up_proj"), d, f, mb),
			down:     nn.NewLinear(l.Sub("mlp.down_proj"), f, d, mb),
			inNorm:   l.Upload("input_layernorm.weight", d),
			postNorm: l.Upload("post_attention_layernorm.weight", d),
		})
	}
	m.norm = base.Upload("norm.weight", d)
	m.tieHead(root, d)
	m.invFreq = ropeInvFreq(c.HeadDim, c.RopeTheta)
}

// Pack makes every weight resident now — packed in the kernels' layout,
// on the model's device — rather than at its first use: it runs the
// Prepare of the store the model was built from (checkpoint.Store.Prepare,
// which also prepares whatever else was built from that store, such as a
// multimodal model's vision tower), the model's own linear layers packed
// in parallel first. Load calls it; the owner of a store that New built
// the model from calls it (or the store's Prepare) once its models are
// built. The checkpoint's pages are let go as weights get packed. It is
// safe to call concurrently and more than once, and returns the first
// packing error.
func (m *Model) Pack() error {
	var ls []*nn.Linear
	for _, b := range m.blocks {
		// Q, K and V are packed side by side by the store's Prepare
		// (FuseQKV).
		ls = append(ls, b.SelfAttn.O, b.MLP.FC1, b.MLP.FC2)
	}
	for _, l := range m.layers {
		ls = append(ls, l.q, l.k, l.v, l.o, l.gate, l.up, l.down)
	}
	ls = append(ls, m.head) // an untied embedding is only looked up (LookupOnly)
	if m.projIn != nil {
		ls = append(ls, m.projIn, m.projOut)
	}
	// Linears pack independently: one worker per thread.
	work := make(chan *nn.Linear)
	var wg sync.WaitGroup
	for range max(1, min(tensor.Threads(), len(ls))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l := range work {
				l.Pack()
			}
		}()
	}
	for _, l := range ls {
		work <- l
	}
	close(work)
	wg.Wait()
	// Prepare reports what failed (and packs the rest).
	if err := m.src.Prepare(); err != nil {
		return fmt.Errorf("llm: %w", err)
	}
	return nil
}

// Embed returns the token embeddings of ids, [len(ids), EmbedDim], on the
// model's device (for OPT, before project_in and without positions, as
// transformers' get_input_embeddings()(ids) returns them): what a
// multimodal model splices its image features into before Prefill.
func (m *Model) Embed(ids []int) (*tensor.Tensor, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: no token ids to embed", ErrInput)
	}
	return m.gather(ids)
}

// EmbedBatch returns the token embeddings of rows of ids, all of one
// length, as [len(ids), T, EmbedDim] on the model's device.
func (m *Model) EmbedBatch(ids [][]int) (*tensor.Tensor, error) {
	if len(ids) == 0 || len(ids[0]) == 0 {
		return nil, fmt.Errorf("%w: no token ids to embed", ErrInput)
	}
	t := len(ids[0])
	flat := make([]int, 0, len(ids)*t)
	for _, row := range ids {
		if len(row) != t {
			return nil, fmt.Errorf("%w: token rows of different lengths (%d and %d)", ErrInput, t, len(row))
		}
		flat = append(flat, row...)
	}
	x, err := m.gather(flat)
	if err != nil {
		return nil, err
	}
	return x.MustReshape(len(ids), t, m.EmbedDim()), nil
}

// gather returns the embeddings of ids, [len(ids), EmbedDim], on the
// model's device: rows of the embedding table, 16-bit ones widened.
func (m *Model) gather(ids []int) (*tensor.Tensor, error) {
	for _, id := range ids {
		if id < 0 || id >= m.cfg.VocabSize {
			return nil, fmt.Errorf("%w: token id %d outside the vocabulary of %d", ErrInput, id, m.cfg.VocabSize)
		}
	}
	x, err := m.embed.Gather(ids)
	if err != nil {
		return nil, fmt.Errorf("llm: token embeddings: %w", err)
	}
	return x, nil
}
