package blip2

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"

	"github.com/goformer/goformer/llm"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
	"github.com/goformer/goformer/vit"
)

// Config is a BLIP-2 checkpoint's config.json (transformers' Blip2Config,
// v4.30). Fields a file leaves out take the defaults of transformers'
// Blip2VisionConfig, Blip2QFormerConfig and OPTConfig. Parse it with
// ParseConfig or LoadConfig.
type Config struct {
	// Architectures names the transformers class
	// ("Blip2ForConditionalGeneration").
	Architectures []string `json:"architectures"`
	// ModelType is "blip-2".
	ModelType string `json:"model_type"`
	// NumQueryTokens is the number of learned query tokens (num_query_tokens):
	// the number of rows the image becomes in the language model's input.
	NumQueryTokens int           `json:"num_query_tokens"`
	Vision         VisionConfig  `json:"vision_config"`
	QFormer        QFormerConfig `json:"qformer_config"`
	// Text is the language model's configuration (text_config), read by
	// llm.ParseConfig; an absent text_config is OPTConfig's defaults, as in
	// transformers.
	Text llm.Config `json:"-"`
	// Generation holds the generation settings transformers 4.30 uses for
	// BLIP-2: its generate hands the work to the language model, whose
	// generation config is made from text_config (max_length, min_length,
	// num_beams, length_penalty, early_stopping, repetition_penalty,
	// no_repeat_ngram_size, eos_token_id, ...). max_length counts the
	// placeholder id of the result (see Model.Generate), so the default 20
	// allows 19 new tokens. A generation_config.json next to config.json is
	// not read: transformers 4.30's BLIP-2 does not use it either.
	Generation llm.GenerateOptions `json:"-"`
}

// VisionConfig is the vision tower's configuration (vision_config); fields
// are named after its keys in their json tags.
type VisionConfig struct {
	HiddenSize        int     `json:"hidden_size"`
	IntermediateSize  int     `json:"intermediate_size"`
	NumHiddenLayers   int     `json:"num_hidden_layers"`
	NumAttentionHeads int     `json:"num_attention_heads"`
	ImageSize         int     `json:"image_size"`
	PatchSize         int     `json:"patch_size"`
	HiddenAct         string  `json:"hidden_act"`
	LayerNormEps      float64 `json:"layer_norm_eps"`
	// QKVBias gives the fused qkv projection a bias (query and value; the
	// key's is zero).
	QKVBias bool `json:"qkv_bias"`
}

// encoderConfig returns the vision tower's configuration as the ViT
// encoder takes it (RGB input: Blip2VisionEmbeddings takes 3 channels).
func (v VisionConfig) encoderConfig() vit.EncoderConfig {
	return vit.EncoderConfig{
		HiddenSize: v.HiddenSize, NumLayers: v.NumHiddenLayers, NumHeads: v.NumAttentionHeads,
		IntermediateSize: v.IntermediateSize, HiddenAct: v.HiddenAct, LayerNormEps: v.LayerNormEps,
		ImageSize: v.ImageSize, PatchSize: v.PatchSize, NumChannels: numChannels, QKVBias: v.QKVBias,
	}
}

// QFormerConfig is the Querying Transformer's configuration
// (qformer_config); fields are named after its keys in their json tags.
type QFormerConfig struct {
	HiddenSize        int     `json:"hidden_size"`
	NumHiddenLayers   int     `json:"num_hidden_layers"`
	NumAttentionHeads int     `json:"num_attention_heads"`
	IntermediateSize  int     `json:"intermediate_size"`
	HiddenAct         string  `json:"hidden_act"`
	LayerNormEps      float64 `json:"layer_norm_eps"`
	// CrossAttentionFrequency puts cross-attention to the image in layers
	// 0, f, 2f, ...
	CrossAttentionFrequency int `json:"cross_attention_frequency"`
	// EncoderHiddenSize is the width of the image features cross-attention
	// reads; as in transformers, it is the vision tower's hidden size,
	// whatever qformer_config says.
	EncoderHiddenSize int `json:"encoder_hidden_size"`
	// PositionEmbeddingType must be "absolute" (the query tokens have no
	// positions; relative types are refused).
	PositionEmbeddingType string `json:"position_embedding_type"`
}

// DefaultConfig returns transformers' Blip2Config defaults (the
// Salesforce/blip2-opt-2.7b vision tower and Q-Former with OPTConfig's
// language model), which ParseConfig starts from.
func DefaultConfig() Config {
	// OPTConfig's defaults, as llm completes them (head size, embedding
	// width).
	text, err := llm.ParseConfig([]byte(`{"model_type": "opt"}`))
	if err != nil {
		panic("blip2: OPT's default config: " + err.Error())
	}
	c := Config{
		ModelType:      "blip-2",
		NumQueryTokens: 32,
		Vision: VisionConfig{
			HiddenSize: 1408, IntermediateSize: 6144, NumHiddenLayers: 39, NumAttentionHeads: 16,
			ImageSize: 224, PatchSize: 14, HiddenAct: "gelu", LayerNormEps: 1e-6, QKVBias: true,
		},
		QFormer: QFormerConfig{
			HiddenSize: 768, NumHiddenLayers: 12, NumAttentionHeads: 12, IntermediateSize: 3072,
			HiddenAct: "gelu", LayerNormEps: 1e-12, CrossAttentionFrequency: 2, EncoderHiddenSize: 1408,
			PositionEmbeddingType: "absolute",
		},
		Text: text,
	}
	c.Generation = generationDefaults(text)
	return c
}

// generationDefaults are transformers' GenerationConfig defaults for the
// language model: max_length 20 (counting the placeholder), greedy.
func generationDefaults(text llm.Config) llm.GenerateOptions {
	o := llm.DefaultOptions(text)
	o.MaxNewTokens, o.MaxLength = 0, 20
	return o
}

// ParseConfig reads a BLIP-2 config.json, filling absent fields with
// DefaultConfig's values, and validates it. Errors wrap nn.ErrConfig (or
// nn.ErrUnsupportedArchitecture for a language model other than OPT or
// Llama, such as the T5 of blip2-flan-t5 checkpoints).
func ParseConfig(raw []byte) (Config, error) {
	c := DefaultConfig()
	if err := nn.DecodeJSON("config.json", raw, &c); err != nil {
		return Config{}, fmt.Errorf("blip2: %w", err)
	}
	var top struct {
		TextConfig json.RawMessage `json:"text_config"`
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		return Config{}, fmt.Errorf("blip2: config.json: %w: %v", nn.ErrConfig, err)
	}
	if t := bytes.TrimSpace(top.TextConfig); len(t) > 0 && string(t) != "null" {
		text, err := llm.ParseConfig(t)
		if err != nil {
			return Config{}, fmt.Errorf("blip2: config.json: text_config: %w", err)
		}
		c.Text = text
		if c.Generation, err = parseGeneration(t, text); err != nil {
			return Config{}, err
		}
	}
	c = c.normalized()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// parseGeneration reads text_config's generation fields.
func parseGeneration(raw []byte, text llm.Config) (llm.GenerateOptions, error) {
	o, err := llm.ParseGenerationConfig(raw, generationDefaults(text))
	if err != nil {
		return o, fmt.Errorf("blip2: config.json: text_config: %w", err)
	}
	var lim struct {
		MaxNewTokens *int `json:"max_new_tokens"`
		MaxLength    *int `json:"max_length"`
	}
	_ = json.Unmarshal(raw, &lim) // malformed values were refused above
	// llm reads an explicit max_length of 20 as "no bound given"; here it
	// is what transformers runs with, as is an absent one.
	switch {
	case lim.MaxNewTokens != nil:
		o.MaxNewTokens, o.MaxLength = *lim.MaxNewTokens, 0
	case lim.MaxLength != nil:
		o.MaxNewTokens, o.MaxLength = 0, *lim.MaxLength
	default:
		o.MaxNewTokens, o.MaxLength = 0, 20
	}
	if o.MaxNewTokens < 0 || o.MaxLength < 0 {
		return o, fmt.Errorf("blip2: config.json: text_config: %w: negative max_length or max_new_tokens", nn.ErrConfig)
	}
	return o, nil
}

// LoadConfig reads and parses the config.json at path.
func LoadConfig(path string) (Config, error) { return nn.ReadConfig("blip2", path, ParseConfig) }

// normalized applies what transformers' Blip2Config does on construction:
// the Q-Former cross-attends with the vision tower's width.
func (c Config) normalized() Config {
	c.QFormer.EncoderHiddenSize = c.Vision.HiddenSize
	return c
}

// maxDim bounds every size, so that a malformed config cannot ask for
// unbounded memory before the weights are even read.
const maxDim = 1 << 16

// Validate checks that the dimensions are usable; errors wrap nn.ErrConfig
// and name the field.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("blip2: config: %w: "+format, append([]any{nn.ErrConfig}, args...)...)
	}
	if c.ModelType != "" && c.ModelType != "blip-2" {
		return fmt.Errorf("blip2: config: %w: model_type %q (the blip2 package runs \"blip-2\")", nn.ErrUnsupportedArchitecture, c.ModelType)
	}
	v, q := c.Vision, c.QFormer
	for _, f := range []struct {
		name string
		val  int
	}{
		{"num_query_tokens", c.NumQueryTokens},
		{"vision_config.hidden_size", v.HiddenSize},
		{"vision_config.intermediate_size", v.IntermediateSize},
		{"vision_config.num_hidden_layers", v.NumHiddenLayers},
		{"vision_config.num_attention_heads", v.NumAttentionHeads},
		{"vision_config.image_size", v.ImageSize},
		{"vision_config.patch_size", v.PatchSize},
		{"qformer_config.hidden_size", q.HiddenSize},
		{"qformer_config.num_hidden_layers", q.NumHiddenLayers},
		{"qformer_config.num_attention_heads", q.NumAttentionHeads},
		{"qformer_config.intermediate_size", q.IntermediateSize},
		{"qformer_config.cross_attention_frequency", q.CrossAttentionFrequency},
	} {
		if f.val <= 0 || f.val > maxDim {
			return bad("%s %d (want 1…%d)", f.name, f.val, maxDim)
		}
	}
	if err := v.encoderConfig().Validate(); err != nil {
		return fmt.Errorf("blip2: config: vision_config: %w", err)
	}
	if q.HiddenSize%q.NumAttentionHeads != 0 {
		return bad("qformer_config.hidden_size %d is not a multiple of num_attention_heads %d", q.HiddenSize, q.NumAttentionHeads)
	}
	if g := v.ImageSize / v.PatchSize; g*g > maxDim {
		return bad("vision_config: %d×%d patches of %d pixels (at most %d patches)", g, g, v.PatchSize, maxDim)
	}
	if q.PositionEmbeddingType != "" && q.PositionEmbeddingType != "absolute" {
		return bad("qformer_config.position_embedding_type %q (only \"absolute\" is supported)", q.PositionEmbeddingType)
	}
	if _, err := tensor.Activation(q.HiddenAct); err != nil {
		return bad("qformer_config.hidden_act: %v", err)
	}
	if !(q.LayerNormEps >= 0) || math.IsInf(q.LayerNormEps, 0) {
		return bad("qformer_config.layer_norm_eps %v", q.LayerNormEps)
	}
	if err := c.Text.Validate(); err != nil {
		return fmt.Errorf("blip2: text_config: %w", err)
	}
	if c.Text.HiddenSize != c.Text.EmbedDim() {
		return bad("text_config.hidden_size %d differs from the token embedding width %d (word_embed_proj_dim): language_projection's output could not be fed with the token embeddings", c.Text.HiddenSize, c.Text.EmbedDim())
	}
	if b := c.Text.BOSTokenID; b < 0 || b >= c.Text.VocabSize {
		return bad("text_config.bos_token_id %d is outside the vocabulary of %d (generation starts from it)", b, c.Text.VocabSize)
	}
	if c.NumQueryTokens >= c.Text.MaxPositions {
		return bad("num_query_tokens %d leaves no room in the language model's %d positions", c.NumQueryTokens, c.Text.MaxPositions)
	}
	return nil
}
