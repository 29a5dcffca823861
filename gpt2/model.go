package gpt2

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/goformer/goformer/task"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// ErrInput marks invalid arguments to a model call: token ids out of range,
// sequences longer than the model's positions, mismatched batch sizes or
// encoder outputs of the wrong shape.
var ErrInput = task.NewInputError("gpt2: invalid input")

// Model is a GPT-2 language model (transformers' GPT2LMHeadModel): token and
// learned position embeddings, pre-LN blocks with causal self-attention
// (and, when the config asks for it, cross-attention to an encoder output),
// a final layer norm and an LM head tied to the token embeddings unless the
// checkpoint has its own lm_head.weight.
//
// A Model is immutable after loading and safe for concurrent use; the
// per-call decoding state lives in a State. It computes on the device its
// weights were loaded on (WithDevice); its results (Logits, NextLogits)
// are tensors on that device.
type Model struct {
	cfg    Config
	dev    *tensor.Device // where the weights live and forward passes run (nil: the host)
	wte    *tensor.Tensor // [V, D] when the LM head has its own weight; nil when tied (head.Gather)
	wpe    *tensor.Tensor // [P, D]
	blocks []*nn.DecoderBlock
	// selfOnly are the blocks without their cross-attention, for running a
	// cross-attention model without an encoder output (as transformers does
	// when encoder_hidden_states is None).
	selfOnly []*nn.DecoderBlock
	lnF      *nn.LayerNorm
	head     *nn.Linear        // [V, D], packed at load for the per-token projection
	store    *checkpoint.Store // set by Load, released by Close
}

// Close releases the memory mappings, packed weights and device memory
// behind a model read by Load (a model built with New does not own its
// store: Close does nothing). The model must not be used afterwards.
func (m *Model) Close() error {
	if m.store == nil {
		return nil
	}
	return m.store.Close()
}

// Option configures Load and LoadCaptioner.
type Option = nn.LoadOption

// WithWeightType keeps the float32 weights of the linear layers (the
// vocabulary projection among them) packed as t (tensor.WeightF16 or
// WeightBF16): half the memory and half the bytes each generated token
// reads, at the cost of rounding each weight to 11 (F16) or 8 (BF16)
// significant bits. Weights an F16 or BF16 checkpoint stores are kept in
// their own type regardless, which is exact.
// t = tensor.WeightQ8 instead quantizes the weights of every linear layer
// (16-bit checkpoints included) to int8 with a scale per 256 values, and
// their inputs on the fly: a quarter of float32's memory and reads (the
// accuracy measured on the fixtures is in tensor/PERFORMANCE.md).
func WithWeightType(t tensor.WeightType) Option { return nn.WithWeightType(t) }

// WithKVType keeps the cross-attention keys and values over the image
// tokens (LoadCaptioner) packed as t (tensor.WeightF16 or WeightBF16): half
// their memory and of the bytes each generated token reads from them, at
// the cost of rounding them.
func WithKVType(t tensor.WeightType) Option { return nn.WithKVType(t) }

// WithDevice loads the model on device d (nn.WithDevice): its weights are
// uploaded and packed there at load, forward passes and generation run
// there with only token ids and pixels uploaded and logits downloaded, and
// Close frees the device memory. nil means the host.
func WithDevice(d *tensor.Device) Option { return nn.WithDevice(d) }

// readConfigFile applies the load options and reads dir's config.json,
// returning its path and bytes: the first steps of LoadCaptioner.
func readConfigFile(dir string, opts []Option) (o nn.LoadOptions, path string, raw []byte, err error) {
	if o, err = nn.ApplyLoadOptions(opts); err != nil {
		return o, "", nil, fmt.Errorf("gpt2: %w", err)
	}
	path = filepath.Join(dir, "config.json")
	if raw, err = os.ReadFile(path); err != nil {
		return o, "", nil, fmt.Errorf("gpt2: %w", err)
	}
	return o, path, raw, nil
}

// LoadConfig reads the config.json of a GPT-2 checkpoint (model_type
// "gpt2"; see ParseConfig). A vision-encoder-decoder config is refused
// with nn.ErrUnsupportedArchitecture: LoadCaptioner reads those.
func LoadConfig(path string) (Config, error) {
	return nn.ReadConfig("gpt2", path, func(raw []byte) (Config, error) {
		var kind struct {
			ModelType string `json:"model_type"`
		}
		if err := nn.DecodeJSON(path, raw, &kind); err != nil {
			return Config{}, err
		}
		if kind.ModelType != "gpt2" {
			return Config{}, fmt.Errorf("%s: %w: model_type %q (gpt2.Load reads GPT-2 checkpoints; use LoadCaptioner for vision-encoder-decoder ones)", path, nn.ErrUnsupportedArchitecture, kind.ModelType)
		}
		return ParseConfig(path, raw)
	})
}

// Load reads a GPT-2 checkpoint directory (config.json and weights; the
// tokenizer is not loaded). The weights are packed (and uploaded to the
// device of WithDevice) before it returns.
func Load(dir string, opts ...Option) (*Model, error) {
	o, cfg, err := nn.StartLoad("gpt2", dir, opts, LoadConfig)
	if err != nil {
		return nil, err
	}
	m, store, err := nn.LoadStore("gpt2", dir, o, func(store *checkpoint.Store) (*Model, error) {
		return New(cfg, store.Root())
	})
	if err != nil {
		return nil, err
	}
	m.store = store
	return m, nil
}

// New builds a model from weights named as transformers names them:
// either GPT2LMHeadModel's "transformer.*" (plus an optional
// "lm_head.weight") or GPT2Model's unprefixed names ("wte.weight",
// "h.0.attn.c_attn.weight", …). Every missing or mis-shaped tensor is listed
// in one error wrapping checkpoint.ErrMissingWeights. The model computes on
// w's device (checkpoint.Weights.Device); its layers are packed by the
// store's Prepare (or at first use).
func New(cfg Config, w checkpoint.Weights) (*Model, error) {
	if err := w.CheckStore("gpt2"); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("gpt2: %w", err)
	}
	act, err := tensor.Activation(cfg.ActivationFunction)
	if err != nil {
		return nil, fmt.Errorf("gpt2: %w: activation_function: %v", nn.ErrConfig, err)
	}
	tw := w
	if w.Has("transformer.wte.weight") {
		tw = w.Sub("transformer")
	}
	d := cfg.NEmbd
	eps := float32(cfg.LayerNormEpsilon)
	m := &Model{cfg: cfg, dev: w.Device()}
	if w.Has("lm_head.weight") {
		m.head = nn.NewLinear(w.Sub("lm_head"), d, cfg.VocabSize, false)
		m.wte = tw.Upload("wte.weight", cfg.VocabSize, d)
	} else {
		// Tied: the head's weight is the token embedding table, looked up
		// with head.Gather.
		m.head = nn.NewLinear(tw.Sub("wte"), d, cfg.VocabSize, false)
		m.head.Lookup = nn.LookupTied
	}
	m.wpe = tw.Upload("wpe.weight", cfg.NPositions, d)
	m.lnF = nn.NewLayerNorm(tw.Sub("ln_f"), d, eps)
	dh := d / cfg.NHead
	for i := 0; i < cfg.NLayer; i++ {
		lw := tw.Subf("h.%d", i)
		scale := float32(1)
		if cfg.ScaleAttnWeights {
			scale = float32(1 / math.Sqrt(float64(dh)))
		}
		if cfg.ScaleAttnByInverseLayerIdx {
			scale /= float32(i + 1)
		}
		qkv := splitConv1D(lw.Sub("attn.c_attn"), d, d, d, d)
		blk := &nn.DecoderBlock{
			PreNorm: true,
			SelfAttn: (&nn.Attention{
				Q: qkv[0], K: qkv[1], V: qkv[2],
				O:     nn.NewLinearTransposed(lw.Sub("attn.c_proj"), d, d, true),
				Heads: cfg.NHead, Scale: scale,
			}).FuseQKV(),
			LN1: nn.NewLayerNorm(lw.Sub("ln_1"), d, eps),
			LN2: nn.NewLayerNorm(lw.Sub("ln_2"), d, eps),
			MLP: &nn.MLP{
				FC1: nn.NewLinearTransposed(lw.Sub("mlp.c_fc"), d, cfg.NInner, true),
				FC2: nn.NewLinearTransposed(lw.Sub("mlp.c_proj"), cfg.NInner, d, true),
				Act: act,
			},
		}
		self := *blk
		if cfg.AddCrossAttention {
			kv := splitConv1D(lw.Sub("crossattention.c_attn"), d, d, d)
			blk.CrossAttn = &nn.Attention{
				Q: nn.NewLinearTransposed(lw.Sub("crossattention.q_attn"), d, d, true),
				K: kv[0], V: kv[1],
				O:     nn.NewLinearTransposed(lw.Sub("crossattention.c_proj"), d, d, true),
				Heads: cfg.NHead, Scale: scale,
			}
			blk.LNCross = nn.NewLayerNorm(lw.Sub("ln_cross_attn"), d, eps)
		}
		m.blocks = append(m.blocks, blk)
		m.selfOnly = append(m.selfOnly, &self)
	}
	if err := w.Store().Err(false); err != nil {
		return nil, fmt.Errorf("gpt2: %w", err)
	}
	return m, nil
}

// splitConv1D reads a GPT-2 Conv1D ([in, Σouts] weight and [Σouts] bias)
// and splits it along the output dimension into one Linear per part, as
// transformers' .split(split_size, dim=2) does for c_attn. The parts are
// derived weights, held in a store of their own on w's device whose Prepare
// and Close run with w's store's. They are packed as float32 whatever the
// store's WeightType, as they always were.
func splitConv1D(w checkpoint.Weights, in int, outs ...int) []*nn.Linear {
	total := 0
	for _, o := range outs {
		total += o
	}
	wt := w.Tensor("weight", in, total)
	bt := w.Tensor("bias", total)
	parts := make(map[string]*tensor.Tensor, 2*len(outs))
	off := 0
	for i, o := range outs {
		parts[fmt.Sprintf("%d.weight", i)] = wt.Slice(1, off, off+o).Transpose(0, 1).Clone()
		parts[fmt.Sprintf("%d.bias", i)] = bt.Slice(0, off, off+o).Clone()
		off += o
	}
	parent := w.Store()
	split := checkpoint.NewStore(parent.Source+": "+w.Prefix()+"weight split", parts)
	split.Device = parent.Device
	parent.OnPrepare(split.Prepare)
	parent.OnClose(func() { split.Close() })
	res := make([]*nn.Linear, len(outs))
	for i, o := range outs {
		res[i] = nn.NewLinear(split.Root().Subf("%d", i), in, o, true)
	}
	return res
}

// Config returns the model's configuration.
func (m *Model) Config() Config { return m.cfg }

// Device returns the device the model computes on (nil: the host).
func (m *Model) Device() *tensor.Device { return m.dev }

// State is the per-call decoding state of a Model: the self-attention
// key/value cache of every layer, the cross-attention keys/values of the
// encoder output, and the number of positions consumed. It belongs to one
// decoding call and is not safe for concurrent use.
type State struct {
	layers []nn.DecoderState
	batch  int
	past   int
	cross  bool
}

// NewState starts a decoding call for batch sequences. enc is the encoder
// output [batch, T, n_embd] that cross-attention attends to; nil runs a
// cross-attention model without it, as transformers does when
// encoder_hidden_states is None. A model without cross-attention layers
// rejects a non-nil enc. An enc on another device than the model's is
// copied to the model's.
func (m *Model) NewState(batch int, enc *tensor.Tensor) (*State, error) {
	if batch < 1 {
		return nil, fmt.Errorf("%w: batch %d", ErrInput, batch)
	}
	st := &State{layers: make([]nn.DecoderState, len(m.blocks)), batch: batch}
	if enc == nil {
		return st, nil
	}
	if !m.cfg.AddCrossAttention {
		return nil, fmt.Errorf("%w: the model has no cross-attention layers but an encoder output was given", ErrInput)
	}
	if enc.Rank() != 3 || enc.Dim(0) != batch || enc.Dim(2) != m.cfg.NEmbd || enc.Dim(1) < 1 {
		return nil, fmt.Errorf("%w: encoder output %v, want [%d, T, %d]", ErrInput, enc.Shape(), batch, m.cfg.NEmbd)
	}
	enc, err := m.dev.Upload(enc)
	if err != nil {
		return nil, fmt.Errorf("gpt2: encoder output: %w", err)
	}
	enc = enc.Contiguous()
	for i, b := range m.blocks {
		st.layers[i].Cross = b.CrossAttn.ProjectKV(enc)
	}
	st.cross = true
	return st, nil
}

// Release hands the state's cached keys and values back for reuse by later
// states (tensor.Release). The state must not be used afterwards. Calling
// it is optional.
func (s *State) Release() {
	for i := range s.layers {
		s.layers[i].Release()
	}
	s.layers = nil
}

// Len returns the number of positions the state has consumed.
func (s *State) Len() int { return s.past }

// Batch returns the number of sequences the state decodes.
func (s *State) Batch() int { return s.batch }

// Reorder keeps the sequences in the order given (beam search): sequence i
// afterwards is old sequence idx[i]; len(idx) becomes the batch size.
func (s *State) Reorder(idx []int) error {
	for _, j := range idx {
		if j < 0 || j >= s.batch {
			return fmt.Errorf("%w: reorder index %d outside batch %d", ErrInput, j, s.batch)
		}
	}
	for i := range s.layers {
		s.layers[i].Self.Reorder(idx)
		if s.layers[i].Cross != nil {
			s.layers[i].Cross.Reorder(idx)
		}
	}
	s.batch = len(idx)
	return nil
}

// hidden runs the transformer on new tokens ids ([batch][T], all of one
// length) and returns the final hidden states [batch, T, n_embd] before
// ln_f. It advances the state.
func (m *Model) hidden(ctx context.Context, st *State, ids [][]int) (*tensor.Tensor, error) {
	if st == nil {
		return nil, fmt.Errorf("%w: nil state", ErrInput)
	}
	if len(ids) != st.batch {
		return nil, fmt.Errorf("%w: %d sequences for a state of batch %d", ErrInput, len(ids), st.batch)
	}
	t := len(ids[0])
	if t == 0 {
		return nil, fmt.Errorf("%w: empty token sequence", ErrInput)
	}
	if st.past+t > m.cfg.NPositions {
		return nil, fmt.Errorf("%w: %d positions exceed n_positions %d", ErrInput, st.past+t, m.cfg.NPositions)
	}
	x, emb, err := m.embed(ids, st.past)
	if err != nil {
		return nil, err
	}
	blocks := m.blocks
	if !st.cross {
		blocks = m.selfOnly
	}
	for i, blk := range blocks {
		if err := ctx.Err(); err != nil {
			tensor.Release(x)
			tensor.Release(emb)
			return nil, err
		}
		y := blk.Forward(x, &st.layers[i], nn.AttnOptions{Causal: true}, nil)
		tensor.Release(x) // x is ours: the embeddings or a block's output
		tensor.Release(emb)
		emb = nil
		x = y
	}
	st.past += t
	return x, nil
}

// embed returns the token plus position embeddings of ids ([batch][T],
// one length for all) at positions past… as x [batch, T, n_embd] on the
// model's device, a view of emb, which owns the storage (release both).
func (m *Model) embed(ids [][]int, past int) (x, emb *tensor.Tensor, err error) {
	t := len(ids[0])
	flat := make([]int, 0, len(ids)*t)
	for _, seq := range ids {
		if len(seq) != t {
			return nil, nil, fmt.Errorf("%w: sequences of different lengths (%d and %d)", ErrInput, t, len(seq))
		}
		for _, id := range seq {
			if id < 0 || id >= m.cfg.VocabSize {
				return nil, nil, fmt.Errorf("%w: token id %d outside vocabulary of %d", ErrInput, id, m.cfg.VocabSize)
			}
		}
		flat = append(flat, seq...)
	}
	if m.wte != nil {
		emb, err = tensor.Gather(m.wte, flat)
	} else {
		emb, err = m.head.Gather(flat)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("gpt2: token embeddings: %w", err)
	}
	x = emb.MustReshape(len(ids), t, m.cfg.NEmbd)
	pos := m.wpe.Slice(0, past, past+t)
	err = tensor.AddInPlace(x, pos)
	tensor.Release(pos)
	if err != nil {
		tensor.Release(x)
		tensor.Release(emb)
		return nil, nil, fmt.Errorf("gpt2: position embeddings: %w", err)
	}
	return x, emb, nil
}

// Logits feeds new tokens ids ([batch][T], one length for all) and returns
// the logits of every new position, [batch, T, vocab], on the model's
// device. The state remembers the tokens, so the next call continues after
// them.
func (m *Model) Logits(ctx context.Context, st *State, ids [][]int) (*tensor.Tensor, error) {
	h, err := m.hidden(ctx, st, ids)
	if err != nil {
		return nil, err
	}
	defer tensor.Release(h)
	n := m.lnF.Forward(h)
	defer tensor.Release(n)
	return m.head.Forward(n), nil
}

// NextLogits is Logits restricted to the last position: it returns
// [batch, vocab], the scores of the token that follows each sequence, on
// the model's device.
func (m *Model) NextLogits(ctx context.Context, st *State, ids [][]int) (*tensor.Tensor, error) {
	h, err := m.hidden(ctx, st, ids)
	if err != nil {
		return nil, err
	}
	last, err := tensor.LastPosition(h)
	if err != nil {
		return nil, err
	}
	n := m.lnF.Forward(last)
	tensor.Release(last)
	defer tensor.Release(n)
	return m.head.Forward(n), nil
}
