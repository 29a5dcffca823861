// Package whisper implements OpenAI's Whisper speech recognition and
// translation model: the audio encoder and text decoder (with KV cache and
// once-per-window cross-attention keys/values), OpenAI's decoding rules
// (timestamps, suppression, temperature fallback, beam search with
// patience), language detection, the long-form sequential transcription
// algorithm of OpenAI's transcribe(), word-level timestamps from
// cross-attention alignment heads (package transcript writes the results
// as text, SRT, WebVTT, TSV or JSON).
//
// Checkpoints load from a Hub model directory (config.json,
// model.safetensors or pytorch_model.bin, generation_config.json, tokenizer
// files) or from an OpenAI .pt file (dims + model_state_dict).
package whisper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// layerNormEps is the epsilon of every Whisper LayerNorm (PyTorch default).
const layerNormEps = 1e-5

// Model is a loaded Whisper checkpoint. It is immutable after loading and
// safe for concurrent use; per-call state (KV caches) lives in Decoder
// values and in the calls that create them.
type Model struct {
	// Config holds the model dimensions.
	Config Config
	// Generation holds generation_config.json (zero when absent).
	Generation GenerationConfig
	// HasGenerationConfig reports whether generation_config.json was read.
	HasGenerationConfig bool

	conv1, conv2 *nn.Conv1d
	encPos       *tensor.Tensor // [n_audio_ctx, D], on dev
	encBlocks    []*nn.EncoderBlock
	encLN        *nn.LayerNorm

	proj      *nn.Linear     // the output projection [V, D], tied to the token embedding (read with Gather)
	decPos    *tensor.Tensor // [n_text_ctx, D], on dev
	decBlocks []*nn.DecoderBlock
	decLN     *nn.LayerNorm

	act func(float32) float32

	// dev is where the weights live and forward passes run (nil: the
	// host; see nn.WithDevice).
	dev *tensor.Device

	// tok is the tokenizer with Whisper's special tokens; nil when the
	// model directory has none (raw-id APIs still work).
	tok *Tokenizer

	store *checkpoint.Store
}

// Option configures Load and LoadOpenAI.
type Option = nn.LoadOption

// WithWeightType keeps the float32 weights of the linear layers, the output
// projection above all, packed as t (tensor.WeightF16 or WeightBF16): half
// the memory and half the bytes each decoded token reads, at the cost of
// rounding each weight to 11 (F16) or 8 (BF16) significant bits (measured:
// ~7e-4 (F16) and ~5e-3 (BF16) of the largest logit). Weights an F16 or
// BF16 checkpoint stores are kept in their own type regardless, which is
// exact.
// t = tensor.WeightQ8 instead quantizes the weights of every linear layer
// (16-bit checkpoints included) to int8 with a scale per 256 values, and
// their inputs on the fly: a quarter of float32's memory and reads (the
// accuracy measured on the fixtures is in tensor/PERFORMANCE.md).
func WithWeightType(t tensor.WeightType) Option { return nn.WithWeightType(t) }

// WithKVType keeps the cross-attention keys and values of each 30 s window
// (37 MB per window in float32 at whisper-base size, read whole for every
// decoded token) packed as t (tensor.WeightF16 or WeightBF16), as
// whisper.cpp keeps them in F16: half the memory and of those reads, at the
// cost of rounding them (measured: see TestWithKVType). The decoder's
// self-attention caches take nn.WithSelfKVType (an Option too), which
// costs more accuracy (TestWithSelfKVType_whisper).
func WithKVType(t tensor.WeightType) Option { return nn.WithKVType(t) }

// WithDevice keeps the weights on device d and runs the encoder and
// decoder there (nn.WithDevice): only log-mel windows go up, and only
// what the host-side decoding rules read comes down (the next-token
// logits of each step, the cross-attention probabilities word timing
// aligns). nil is the host.
func WithDevice(d *tensor.Device) Option { return nn.WithDevice(d) }

func loadOpts(opts []Option) (nn.LoadOptions, error) {
	o, err := nn.ApplyLoadOptions(opts)
	if err != nil {
		return o, fmt.Errorf("whisper: %w", err)
	}
	return o, nil
}

// Load reads a Whisper model. path is either a Hub-layout directory
// (config.json, weights, generation_config.json and tokenizer files) or an
// OpenAI checkpoint file (*.pt with "dims" and "model_state_dict"). A
// directory without config.json but holding exactly one .pt file is loaded
// as an OpenAI checkpoint; tokenizer files in the same directory are used
// when present.
func Load(path string, opts ...Option) (*Model, error) {
	o, err := loadOpts(opts)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("whisper: %w", err)
	}
	if !st.IsDir() {
		switch strings.ToLower(filepath.Ext(path)) {
		case ".pt", ".pth", ".bin":
			return LoadOpenAI(path, opts...)
		}
		return nil, fmt.Errorf("whisper: %s: pass a model directory or an OpenAI .pt checkpoint", path)
	}
	cfgPath := filepath.Join(path, "config.json")
	if _, err := os.Stat(cfgPath); err != nil {
		pts, _ := filepath.Glob(filepath.Join(path, "*.pt"))
		if len(pts) == 1 {
			return LoadOpenAI(pts[0], opts...)
		}
		return nil, fmt.Errorf("whisper: %s: %w (no config.json)", path, checkpoint.ErrNotFound)
	}
	// Another family's checkpoint is refused by its model_type before its
	// config is read as a Whisper config (which it would fail).
	if _, mt, err := nn.Architecture(cfgPath); err == nil && mt != "" && mt != "whisper" {
		return nil, fmt.Errorf("whisper: %s: %w: model_type %q", cfgPath, nn.ErrUnsupportedArchitecture, mt)
	}
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("whisper: %w", err)
	}
	gen, hasGen, err := loadGenerationConfig(path)
	if err != nil {
		return nil, fmt.Errorf("whisper: %w", err)
	}
	store, err := checkpoint.LoadDir(path)
	if err != nil {
		return nil, fmt.Errorf("whisper: %w", err)
	}
	o.Apply(store)
	if isOpenAILayout(store) {
		store.Rename(openAIToHub)
	} else if !store.Root().Has("model.encoder.conv1.weight") && store.Root().Has("encoder.conv1.weight") {
		// WhisperModel saved without the "model." prefix.
		store.Rename(func(n string) string { return "model." + n })
	}
	return finish(cfg, store, o, gen, hasGen, path)
}

// finish completes Load and LoadOpenAI over the store they opened (the
// load options o applied, the weights under their Hub names): it builds
// the model of cfg, sets the cross-attention key-value type of o, the
// generation config gen when hasGen, and the tokenizer from the files in
// dir. On failure it closes the store.
func finish(cfg Config, store *checkpoint.Store, o nn.LoadOptions, gen GenerationConfig, hasGen bool, dir string) (*Model, error) {
	m, err := build(cfg, store.Root())
	if err != nil {
		store.Close()
		return nil, err
	}
	m.store = store // Load's store is the model's; New's stays the caller's
	o.ApplyKV(m.decBlocks)
	if hasGen {
		m.Generation, m.HasGenerationConfig = gen, true
	}
	if m.tok, err = loadTokenizer(dir, cfg.VocabSize); err != nil {
		store.Close()
		return nil, fmt.Errorf("whisper: %w", err)
	}
	return m, nil
}

// LoadOpenAI reads an OpenAI Whisper checkpoint (the .pt files that
// whisper.load_model downloads: {"dims": {...}, "model_state_dict": {...}}).
// Tokenizer files (vocab.json, merges.txt, added_tokens.json or
// tokenizer.json) in the same directory are used when present; the
// generation config, when a generation_config.json is beside it, too.
func LoadOpenAI(path string, opts ...Option) (*Model, error) {
	o, err := loadOpts(opts)
	if err != nil {
		return nil, err
	}
	store, extra, err := checkpoint.OpenPyTorch(path)
	if err != nil {
		return nil, fmt.Errorf("whisper: %w", err)
	}
	cfg, err := openAIDims(path, extra)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("whisper: %w", err)
	}
	o.Apply(store)
	store.Rename(func(n string) string {
		n, ok := strings.CutPrefix(n, "model_state_dict.")
		if !ok {
			return ""
		}
		return openAIToHub(n)
	})
	dir := filepath.Dir(path)
	// A generation_config.json beside the checkpoint is optional: one that
	// does not read (ok false) is passed over.
	gen, ok, _ := loadGenerationConfig(dir)
	return finish(cfg, store, o, gen, ok, dir)
}

// openAIDims converts OpenAI's ModelDimensions into a Config.
func openAIDims(path string, extra map[string]any) (Config, error) {
	get := func(name string) (int, bool) {
		v, ok := extra["dims."+name]
		if !ok {
			return 0, false
		}
		switch x := v.(type) {
		case int:
			return x, true
		case int64:
			return int(x), true
		case float64:
			return int(x), true
		}
		return 0, false
	}
	names := []string{"n_mels", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
		"n_vocab", "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer"}
	vals := map[string]int{}
	var missing []string
	for _, n := range names {
		v, ok := get(n)
		if !ok {
			missing = append(missing, "dims."+n)
		}
		vals[n] = v
	}
	if len(missing) > 0 {
		return Config{}, fmt.Errorf("%s: %w: missing or non-integer %s", path, nn.ErrConfig, strings.Join(missing, ", "))
	}
	if vals["n_audio_state"] != vals["n_text_state"] {
		return Config{}, fmt.Errorf("%s: %w: n_audio_state %d != n_text_state %d is not supported", path, nn.ErrConfig, vals["n_audio_state"], vals["n_text_state"])
	}
	d := vals["n_audio_state"]
	cfg := Config{
		NumMelBins:         vals["n_mels"],
		DModel:             d,
		EncoderLayers:      vals["n_audio_layer"],
		EncoderHeads:       vals["n_audio_head"],
		EncoderFFN:         4 * d,
		DecoderLayers:      vals["n_text_layer"],
		DecoderHeads:       vals["n_text_head"],
		DecoderFFN:         4 * d,
		MaxSourcePositions: vals["n_audio_ctx"],
		MaxTargetPositions: vals["n_text_ctx"],
		VocabSize:          vals["n_vocab"],
		ActivationFunction: "gelu",
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// isOpenAILayout reports whether a store uses OpenAI's tensor names.
func isOpenAILayout(s *checkpoint.Store) bool {
	_, ok := s.Get("encoder.blocks.0.attn.query.weight")
	if ok {
		return true
	}
	_, ok = s.Get("decoder.token_embedding.weight")
	return ok
}

// openAIToHub maps an OpenAI state-dict name to the Hub name.
func openAIToHub(n string) string {
	switch n {
	case "encoder.positional_embedding":
		return "model.encoder.embed_positions.weight"
	case "decoder.positional_embedding":
		return "model.decoder.embed_positions.weight"
	case "decoder.token_embedding.weight":
		return "model.decoder.embed_tokens.weight"
	case "alignment_heads":
		return ""
	}
	parts := strings.Split(n, ".")
	out := make([]string, 0, len(parts))
	for i := 0; i < len(parts); i++ {
		p := parts[i]
		switch {
		case i == 1 && p == "ln_post", i == 1 && p == "ln":
			p = "layer_norm"
		case p == "blocks":
			p = "layers"
		case p == "attn":
			p = "self_attn"
		case p == "cross_attn":
			p = "encoder_attn"
		case p == "attn_ln":
			p = "self_attn_layer_norm"
		case p == "cross_attn_ln":
			p = "encoder_attn_layer_norm"
		case p == "mlp_ln":
			p = "final_layer_norm"
		case p == "mlp" && i+1 < len(parts) && parts[i+1] == "0":
			p, i = "fc1", i+1
		case p == "mlp" && i+1 < len(parts) && parts[i+1] == "2":
			p, i = "fc2", i+1
		case p == "query":
			p = "q_proj"
		case p == "key":
			p = "k_proj"
		case p == "value":
			p = "v_proj"
		case p == "out":
			p = "out_proj"
		}
		out = append(out, p)
	}
	return "model." + strings.Join(out, ".")
}

// New builds a model from a configuration and weights (a
// checkpoint.Store's Root) under transformers' names
// (model.encoder.*, model.decoder.*; the output projection is tied to the
// token embedding). Every missing or mis-shaped tensor is named in one
// error wrapping checkpoint.ErrMissingWeights. The store stays the
// caller's: Close does not close it, and it must stay open while the model
// is used. The model has no tokenizer (give one with WithTokenizer; the
// token-level calls work without) and no generation config (transformers'
// defaults for the model's size apply). New prepares the store
// (checkpoint.Store.Prepare): the model computes on the store's Device
// with its weights resident there, freed when the store is closed.
func New(cfg Config, w checkpoint.Weights) (*Model, error) {
	if err := w.CheckStore("whisper"); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("whisper: %w", err)
	}
	return build(cfg, w)
}

// build constructs the layers from Hub-named weights and makes them
// resident (packed, and uploaded to the store's device) with the store's
// Prepare, so that the first call runs as fast as the next ones.
func build(cfg Config, w checkpoint.Weights) (*Model, error) {
	act, err := tensor.Activation(cfg.ActivationFunction)
	if err != nil {
		return nil, fmt.Errorf("whisper: %w: activation_function: %w", nn.ErrConfig, err)
	}
	d := cfg.DModel
	store := w.Store()
	root := w.Sub("model")
	enc := root.Sub("encoder")
	m := &Model{Config: cfg, act: act, dev: store.Device}
	m.conv1 = nn.NewConv1d(enc.Sub("conv1"), cfg.NumMelBins, d, 3, 1, 1, 1, true)
	m.conv2 = nn.NewConv1d(enc.Sub("conv2"), d, d, 3, 2, 1, 1, true)
	m.encPos = enc.Upload("embed_positions.weight", cfg.MaxSourcePositions, d)
	attn := func(w checkpoint.Weights, heads int) *nn.Attention {
		return &nn.Attention{
			Q:     nn.NewLinear(w.Sub("q_proj"), d, d, true),
			K:     nn.NewLinear(w.Sub("k_proj"), d, d, false),
			V:     nn.NewLinear(w.Sub("v_proj"), d, d, true),
			O:     nn.NewLinear(w.Sub("out_proj"), d, d, true),
			Heads: heads,
		}
	}
	// Self-attention projects Q, K and V in one product, packed so by
	// Prepare; cross-attention projects its keys and values once per
	// window (ProjectKV) and its queries per token, unfused.
	selfAttn := func(w checkpoint.Weights, heads int) *nn.Attention {
		return attn(w, heads).FuseQKV()
	}
	for i := 0; i < cfg.EncoderLayers; i++ {
		l := enc.Subf("layers.%d", i)
		m.encBlocks = append(m.encBlocks, &nn.EncoderBlock{
			PreNorm: true,
			Attn:    selfAttn(l.Sub("self_attn"), cfg.EncoderHeads),
			LN1:     nn.NewLayerNorm(l.Sub("self_attn_layer_norm"), d, layerNormEps),
			LN2:     nn.NewLayerNorm(l.Sub("final_layer_norm"), d, layerNormEps),
			MLP:     nn.NewMLP(l.Sub("fc1"), l.Sub("fc2"), d, cfg.EncoderFFN, true, act),
		})
	}
	m.encLN = nn.NewLayerNorm(enc.Sub("layer_norm"), d, layerNormEps)

	dec := root.Sub("decoder")
	// The token embedding is also the output projection: one Linear holds
	// it (16-bit when the checkpoint is) and serves lookups with Gather.
	m.proj = nn.NewLinear(dec.Sub("embed_tokens"), d, cfg.VocabSize, false)
	m.proj.Lookup = nn.LookupTied
	m.decPos = dec.Upload("embed_positions.weight", cfg.MaxTargetPositions, d)
	for i := 0; i < cfg.DecoderLayers; i++ {
		l := dec.Subf("layers.%d", i)
		m.decBlocks = append(m.decBlocks, &nn.DecoderBlock{
			PreNorm:   true,
			SelfAttn:  selfAttn(l.Sub("self_attn"), cfg.DecoderHeads),
			CrossAttn: attn(l.Sub("encoder_attn"), cfg.DecoderHeads),
			LN1:       nn.NewLayerNorm(l.Sub("self_attn_layer_norm"), d, layerNormEps),
			LNCross:   nn.NewLayerNorm(l.Sub("encoder_attn_layer_norm"), d, layerNormEps),
			LN2:       nn.NewLayerNorm(l.Sub("final_layer_norm"), d, layerNormEps),
			MLP:       nn.NewMLP(l.Sub("fc1"), l.Sub("fc2"), d, cfg.DecoderFFN, true, act),
		})
	}
	m.decLN = nn.NewLayerNorm(dec.Sub("layer_norm"), d, layerNormEps)
	// proj_out is tied to the token embedding; the encoder's sinusoidal
	// table may be absent from some exports, which is reported as missing.
	if err := store.Err(false); err != nil {
		return nil, fmt.Errorf("whisper: %w", err)
	}
	if err := store.Prepare(); err != nil {
		return nil, fmt.Errorf("whisper: %s: %w", store.Source, err)
	}
	return m, nil
}

// embedTokens returns the token embeddings plus positional embeddings of
// rows [B][T] (the first token of every row at position pos) as x
// [B, T, D] on the model's device, and the tensor owning x's storage;
// release both after use. ids is scratch for the flattened ids (grown
// when short).
func (m *Model) embedTokens(rows [][]int, pos int, ids *[]int) (x, owner *tensor.Tensor, err error) {
	b, t := len(rows), len(rows[0])
	flat := (*ids)[:0]
	for _, row := range rows {
		flat = append(flat, row...)
	}
	*ids = flat
	owner, err = m.proj.Gather(flat) // [B·T, D]
	if err != nil {
		return nil, nil, fmt.Errorf("whisper: token embedding: %w", err)
	}
	x = owner.MustReshape(b, t, m.Config.DModel)
	p := m.decPos.Slice(0, pos, pos+t)
	err = tensor.AddInPlace(x, p)
	tensor.Release(p)
	if err != nil {
		tensor.Release(x)
		tensor.Release(owner)
		return nil, nil, fmt.Errorf("whisper: position embedding: %w", err)
	}
	return x, owner, nil
}

// Close frees the packed weights (and their device memory) and releases
// the memory mappings behind the weights. The model must not be used
// afterwards; closing again does nothing.
func (m *Model) Close() error {
	if m.store == nil {
		return nil
	}
	return m.store.Close()
}

// checkMel validates a log-mel input and returns it as [B, nMels, frames].
func (m *Model) checkMel(mel *tensor.Tensor) (*tensor.Tensor, error) {
	if mel == nil {
		return nil, errors.New("whisper: nil mel spectrogram")
	}
	switch mel.Rank() {
	case 2:
		mel = mel.MustReshape(1, mel.Dim(0), mel.Dim(1))
	case 3:
	default:
		return nil, fmt.Errorf("whisper: %w: mel spectrogram %v, want [n_mels, frames] or [batch, n_mels, frames]", tensor.ErrShape, mel.Shape())
	}
	if mel.Dim(1) != m.Config.NumMelBins || mel.Dim(2) != m.Config.NumFrames() || mel.Dim(0) < 1 {
		return nil, fmt.Errorf("whisper: %w: mel spectrogram %v, want [batch, %d, %d]", tensor.ErrShape, mel.Shape(), m.Config.NumMelBins, m.Config.NumFrames())
	}
	return mel.Contiguous(), nil
}

// Encode runs the audio encoder on log-mel features [n_mels, frames] or
// [batch, n_mels, frames] (frames = 2·max_source_positions = 3000) and
// returns the audio features [batch, max_source_positions, d_model], on
// the model's device (see nn.WithDevice; the tensor package's ToHost
// downloads them).
// A host mel is uploaded to the device first.
func (m *Model) Encode(ctx context.Context, mel *tensor.Tensor) (*tensor.Tensor, error) {
	in, err := m.checkMel(mel)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dx, err := m.dev.Upload(in)
	if err != nil {
		return nil, fmt.Errorf("whisper: mel spectrogram to %s: %w", m.dev, err)
	}
	x, err := m.conv1.Forward(dx)
	if dx != in {
		tensor.Release(dx)
	}
	if in != mel {
		tensor.Release(in) // a view or a copy of the caller's mel
	}
	if err != nil {
		return nil, fmt.Errorf("whisper: conv1: %w", err)
	}
	tensor.MapInPlace(x, m.act)
	x1 := x
	x, err = m.conv2.Forward(x1)
	tensor.Release(x1)
	if err != nil {
		return nil, fmt.Errorf("whisper: conv2: %w", err)
	}
	tensor.MapInPlace(x, m.act)
	// Intermediates are released as soon as they are used, so that
	// encoding again reuses their storage (tensor.Release).
	x2, xt := x, x.Permute(0, 2, 1)
	x = xt.Clone() // [B, T, D]
	tensor.Release(xt)
	tensor.Release(x2)
	if err := tensor.AddInPlace(x, m.encPos); err != nil { // every batch row
		tensor.Release(x)
		return nil, fmt.Errorf("whisper: position embedding: %w", err)
	}
	for _, blk := range m.encBlocks {
		if err := ctx.Err(); err != nil {
			tensor.Release(x)
			return nil, err
		}
		y := blk.Forward(x, nn.AttnOptions{})
		tensor.Release(x)
		x = y
	}
	y := m.encLN.Forward(x)
	tensor.Release(x)
	return y, nil
}

// Device returns the device the model keeps its weights on and computes
// on (nil: the host; see nn.WithDevice).
func (m *Model) Device() *tensor.Device { return m.dev }

// Tokenizer returns the model's tokenizer, or nil when the checkpoint came
// without tokenizer files.
func (m *Model) Tokenizer() *Tokenizer { return m.tok }

// WithTokenizer returns a copy of m that uses t (for OpenAI checkpoints
// loaded without tokenizer files); m is unchanged. The copy shares m's
// weights: Close one of them, once, when neither is used any more.
func (m *Model) WithTokenizer(t *Tokenizer) *Model {
	c := *m
	c.tok = t
	return &c
}
