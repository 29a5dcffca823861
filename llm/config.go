package llm

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// Architectures ParseConfig knows, by config.json model_type.
const (
	// OPT is Meta's OPT (transformers' OPTForCausalLM): learned positions
	// with offset 2, LayerNorm, ReLU feed-forward, biases, optional
	// project_in/project_out, lm_head tied to the token embeddings.
	OPT = "opt"
	// Llama is Llama / Llama 2 / Vicuna (transformers' LlamaForCausalLM):
	// RMSNorm, rotary position embeddings, SwiGLU feed-forward,
	// grouped-query attention, no biases, an untied lm_head.
	Llama = "llama"
)

// Config holds what the decoder reads from a config.json (or from the
// text_config object of a multimodal one), with transformers' defaults
// (OPTConfig v4.30, LlamaConfig v4.40) for absent fields. Parse it with
// ParseConfig.
type Config struct {
	// ModelType is OPT or Llama.
	ModelType string
	// VocabSize is the number of rows of the token embedding and of the
	// logits.
	VocabSize int
	// HiddenSize is the width of the residual stream (hidden_size).
	HiddenSize int
	// NumLayers is num_hidden_layers.
	NumLayers int
	// NumHeads is num_attention_heads.
	NumHeads int
	// NumKVHeads is num_key_value_heads (grouped-query attention; Llama),
	// NumHeads when absent and for OPT.
	NumKVHeads int
	// HeadDim is the width of one head: head_dim when the config sets it
	// (Llama), else HiddenSize / NumHeads.
	HeadDim int
	// IntermediateSize is the feed-forward width (OPT ffn_dim, Llama
	// intermediate_size).
	IntermediateSize int
	// MaxPositions is max_position_embeddings: the most positions a
	// sequence may have (OPT's learned table has that many rows, plus 2).
	MaxPositions int
	// Activation is the feed-forward activation (OPT activation_function,
	// Llama hidden_act), a name tensor.Activation knows.
	Activation string

	// WordEmbedProjDim is OPT's word_embed_proj_dim: the width of the
	// token embeddings and of what the LM head reads. When it differs from
	// HiddenSize, project_in and project_out map between the two. Llama:
	// HiddenSize.
	WordEmbedProjDim int
	// DoLayerNormBefore is OPT's do_layer_norm_before: pre-norm blocks
	// (true) or post-norm (false, as opt-350m).
	DoLayerNormBefore bool
	// RemoveFinalLayerNorm is OPT's _remove_final_layer_norm.
	RemoveFinalLayerNorm bool
	// EnableBias is OPT's enable_bias (the projections' biases).
	EnableBias bool
	// LayerNormElementwiseAffine is OPT's layer_norm_elementwise_affine:
	// without it the layer norms have no weight and bias.
	LayerNormElementwiseAffine bool

	// RMSNormEps is Llama's rms_norm_eps.
	RMSNormEps float64
	// RopeTheta is Llama's rope_theta, the base of the rotary frequencies.
	RopeTheta float64
	// RopeScalingFactor divides the positions before rotation (rope_scaling
	// of type "linear"); 0 or 1: none. Other scaling types are refused by
	// ParseConfig.
	RopeScalingFactor float64
	// AttentionBias is Llama's attention_bias (biases on q, k, v and o).
	AttentionBias bool
	// MLPBias is Llama's mlp_bias (biases on gate, up and down).
	MLPBias bool

	// TieWordEmbeddings makes the LM head the token embedding
	// (tie_word_embeddings; transformers' default is true for OPT, false
	// for Llama).
	TieWordEmbeddings bool
	// BOSTokenID, EOSTokenIDs and PadTokenID are the special tokens of the
	// config (eos_token_id may be a list); -1 when absent.
	BOSTokenID  int
	EOSTokenIDs []int
	PadTokenID  int
}

// rawConfig mirrors the JSON, pointers telling absent fields from zeros.
type rawConfig struct {
	ModelType         *string          `json:"model_type"`
	VocabSize         *int             `json:"vocab_size"`
	HiddenSize        *int             `json:"hidden_size"`
	NumLayers         *int             `json:"num_hidden_layers"`
	NumHeads          *int             `json:"num_attention_heads"`
	NumKVHeads        *int             `json:"num_key_value_heads"`
	HeadDim           *int             `json:"head_dim"`
	FFNDim            *int             `json:"ffn_dim"`
	IntermediateSize  *int             `json:"intermediate_size"`
	MaxPositions      *int             `json:"max_position_embeddings"`
	ActivationFn      *string          `json:"activation_function"`
	HiddenAct         *string          `json:"hidden_act"`
	WordEmbedProjDim  *int             `json:"word_embed_proj_dim"`
	DoLayerNormBefore *bool            `json:"do_layer_norm_before"`
	RemoveFinalLN     *bool            `json:"_remove_final_layer_norm"`
	EnableBias        *bool            `json:"enable_bias"`
	LNAffine          *bool            `json:"layer_norm_elementwise_affine"`
	RMSNormEps        *float64         `json:"rms_norm_eps"`
	RopeTheta         *float64         `json:"rope_theta"`
	RopeScaling       json.RawMessage  `json:"rope_scaling"`
	AttentionBias     *bool            `json:"attention_bias"`
	MLPBias           *bool            `json:"mlp_bias"`
	TieWordEmbeddings *bool            `json:"tie_word_embeddings"`
	BOSTokenID        *int             `json:"bos_token_id"`
	EOSTokenID        json.RawMessage  `json:"eos_token_id"`
	PadTokenID        *int             `json:"pad_token_id"`
	TextConfig        *json.RawMessage `json:"text_config"`
}

// DefaultConfig returns transformers' defaults for a model type: OPTConfig
// (v4.30, the 125M model's sizes) or LlamaConfig (v4.40, Llama-7B's
// sizes).
func DefaultConfig(modelType string) (Config, error) {
	switch modelType {
	case OPT:
		return Config{
			ModelType: OPT, VocabSize: 50272, HiddenSize: 768, NumLayers: 12, NumHeads: 12,
			IntermediateSize: 3072, MaxPositions: 2048, Activation: "relu",
			DoLayerNormBefore: true, EnableBias: true, LayerNormElementwiseAffine: true,
			TieWordEmbeddings: true, BOSTokenID: 2, EOSTokenIDs: []int{2}, PadTokenID: 1,
		}, nil
	case Llama:
		return Config{
			ModelType: Llama, VocabSize: 32000, HiddenSize: 4096, NumLayers: 32, NumHeads: 32,
			IntermediateSize: 11008, MaxPositions: 2048, Activation: "silu",
			RMSNormEps: 1e-6, RopeTheta: 10000,
			BOSTokenID: 1, EOSTokenIDs: []int{2}, PadTokenID: -1,
		}, nil
	}
	return Config{}, fmt.Errorf("%w: model_type %q (llm runs %q and %q)", nn.ErrUnsupportedArchitecture, modelType, OPT, Llama)
}

// ParseConfig reads a decoder config: a standalone config.json of an
// OPTForCausalLM or LlamaForCausalLM checkpoint, or the text_config object
// of a multimodal one (BLIP-2, LLaVA). A whole multimodal config.json is
// accepted too: when its model_type is neither "opt" nor "llama" and it
// has a text_config, that is read. Absent fields take transformers'
// defaults for the model type; errors wrap nn.ErrConfig (malformed or
// inconsistent values, rope_scaling other than linear) or
// nn.ErrUnsupportedArchitecture (another model_type).
func ParseConfig(raw []byte) (Config, error) {
	var r rawConfig
	if err := nn.DecodeJSON("config", raw, &r); err != nil {
		return Config{}, fmt.Errorf("llm: %w", err)
	}
	mt := ""
	if r.ModelType != nil {
		mt = *r.ModelType
	}
	if mt != OPT && mt != Llama && r.TextConfig != nil {
		return ParseConfig(*r.TextConfig)
	}
	c, err := DefaultConfig(mt)
	if err != nil {
		return Config{}, fmt.Errorf("llm: config: %w", err)
	}
	nn.SetIf(&c.VocabSize, r.VocabSize)
	nn.SetIf(&c.HiddenSize, r.HiddenSize)
	nn.SetIf(&c.NumLayers, r.NumLayers)
	nn.SetIf(&c.NumHeads, r.NumHeads)
	nn.SetIf(&c.MaxPositions, r.MaxPositions)
	nn.SetIf(&c.TieWordEmbeddings, r.TieWordEmbeddings)
	if r.BOSTokenID != nil {
		c.BOSTokenID = *r.BOSTokenID
	} else if hasNull(raw, "bos_token_id") {
		c.BOSTokenID = -1
	}
	if r.PadTokenID != nil {
		c.PadTokenID = *r.PadTokenID
	} else if hasNull(raw, "pad_token_id") {
		c.PadTokenID = -1
	}
	if len(r.EOSTokenID) > 0 {
		ids, err := nn.IntOrList(r.EOSTokenID)
		if err != nil {
			return Config{}, fmt.Errorf("llm: config: %w: eos_token_id: %v", nn.ErrConfig, err)
		}
		c.EOSTokenIDs = ids
	}
	switch mt {
	case OPT:
		nn.SetIf(&c.IntermediateSize, r.FFNDim)
		nn.SetIf(&c.Activation, r.ActivationFn)
		c.WordEmbedProjDim = c.HiddenSize
		nn.SetIf(&c.WordEmbedProjDim, r.WordEmbedProjDim)
		nn.SetIf(&c.DoLayerNormBefore, r.DoLayerNormBefore)
		nn.SetIf(&c.RemoveFinalLayerNorm, r.RemoveFinalLN)
		nn.SetIf(&c.EnableBias, r.EnableBias)
		nn.SetIf(&c.LayerNormElementwiseAffine, r.LNAffine)
		c.NumKVHeads = c.NumHeads
		if c.NumHeads > 0 {
			c.HeadDim = c.HiddenSize / c.NumHeads
		}
	case Llama:
		nn.SetIf(&c.IntermediateSize, r.IntermediateSize)
		nn.SetIf(&c.Activation, r.HiddenAct)
		c.WordEmbedProjDim = c.HiddenSize
		c.NumKVHeads = c.NumHeads
		nn.SetIf(&c.NumKVHeads, r.NumKVHeads)
		if c.NumHeads > 0 {
			c.HeadDim = c.HiddenSize / c.NumHeads
		}
		nn.SetIf(&c.HeadDim, r.HeadDim)
		nn.SetIf(&c.RMSNormEps, r.RMSNormEps)
		nn.SetIf(&c.RopeTheta, r.RopeTheta)
		nn.SetIf(&c.AttentionBias, r.AttentionBias)
		nn.SetIf(&c.MLPBias, r.MLPBias)
		f, err := ropeScaling(r.RopeScaling)
		if err != nil {
			return Config{}, fmt.Errorf("llm: config: %w", err)
		}
		c.RopeScalingFactor = f
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// hasNull reports whether the top-level key is present with value null.
func hasNull(raw []byte, key string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	v, ok := m[key]
	return ok && strings.TrimSpace(string(v)) == "null"
}

// ropeScaling reads Llama's rope_scaling: null, or {"type" (or
// "rope_type"): "linear", "factor": f}. Other types change the
// frequencies in ways this package does not implement, so they are
// refused rather than silently ignored.
func ropeScaling(raw json.RawMessage) (float64, error) {
	if len(raw) == 0 || strings.TrimSpace(string(raw)) == "null" {
		return 0, nil
	}
	var rs struct {
		Type     string   `json:"type"`
		RopeType string   `json:"rope_type"`
		Factor   *float64 `json:"factor"`
	}
	if err := json.Unmarshal(raw, &rs); err != nil {
		return 0, fmt.Errorf("%w: rope_scaling: %v", nn.ErrConfig, err)
	}
	typ := rs.Type
	if typ == "" {
		typ = rs.RopeType
	}
	switch typ {
	case "default":
		return 0, nil
	case "linear":
		if rs.Factor == nil || !(*rs.Factor >= 1) || math.IsInf(*rs.Factor, 0) {
			return 0, fmt.Errorf("%w: rope_scaling: linear scaling wants a factor ≥ 1, got %s", nn.ErrConfig, raw)
		}
		return *rs.Factor, nil
	}
	return 0, fmt.Errorf("%w: rope_scaling of type %q is not supported (only \"linear\"): %s", nn.ErrConfig, typ, raw)
}

// maxDim bounds every size, so that a malformed config cannot ask for
// unbounded memory before the weights are even read.
const maxDim = 1 << 24

// Validate checks sizes and settings; errors wrap nn.ErrConfig.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("llm: config: %w: "+format, append([]any{nn.ErrConfig}, args...)...)
	}
	if c.ModelType != OPT && c.ModelType != Llama {
		return fmt.Errorf("llm: config: %w: model_type %q (llm runs %q and %q)", nn.ErrUnsupportedArchitecture, c.ModelType, OPT, Llama)
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"vocab_size", c.VocabSize}, {"hidden_size", c.HiddenSize}, {"num_hidden_layers", c.NumLayers},
		{"num_attention_heads", c.NumHeads}, {"num_key_value_heads", c.NumKVHeads}, {"head_dim", c.HeadDim},
		{"intermediate size", c.IntermediateSize}, {"max_position_embeddings", c.MaxPositions},
		{"word_embed_proj_dim", c.WordEmbedProjDim},
	} {
		if f.v <= 0 || f.v > maxDim {
			return bad("%s %d (want 1…%d)", f.name, f.v, maxDim)
		}
	}
	if c.NumLayers > 4096 || c.NumHeads > 4096 {
		return bad("%d layers of %d heads", c.NumLayers, c.NumHeads)
	}
	if c.NumHeads%c.NumKVHeads != 0 {
		return bad("num_attention_heads %d is not a multiple of num_key_value_heads %d", c.NumHeads, c.NumKVHeads)
	}
	if c.ModelType == OPT && c.HiddenSize%c.NumHeads != 0 {
		return bad("hidden_size %d is not a multiple of num_attention_heads %d", c.HiddenSize, c.NumHeads)
	}
	if c.ModelType == Llama {
		if c.HeadDim%2 != 0 {
			return bad("head dimension %d is odd (rotary embeddings rotate pairs)", c.HeadDim)
		}
		if !(c.RMSNormEps > 0) || !(c.RopeTheta > 0) || math.IsInf(c.RopeTheta, 0) {
			return bad("rms_norm_eps %g and rope_theta %g must be positive", c.RMSNormEps, c.RopeTheta)
		}
		if c.RopeScalingFactor != 0 && !(c.RopeScalingFactor >= 1) {
			return bad("rope scaling factor %g", c.RopeScalingFactor)
		}
	}
	if _, err := tensor.Activation(c.Activation); err != nil {
		return bad("activation %q: %v", c.Activation, err)
	}
	for _, id := range c.EOSTokenIDs {
		if id < 0 || id >= c.VocabSize {
			return bad("eos_token_id %d outside the vocabulary of %d", id, c.VocabSize)
		}
	}
	return nil
}

// EmbedDim returns the width of token embeddings and of the input
// embeddings Prefill takes: WordEmbedProjDim (OPT) or HiddenSize (Llama).
func (c Config) EmbedDim() int {
	if c.ModelType == OPT {
		return c.WordEmbedProjDim
	}
	return c.HiddenSize
}
