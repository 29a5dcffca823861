package blip

import (
	"fmt"
	"path/filepath"

	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/vit"
)

// Config is a BLIP checkpoint's config.json (transformers' BlipConfig).
// Fields a file leaves out take the defaults of transformers'
// BlipTextConfig and BlipVisionConfig.
type Config struct {
	// Architectures names the transformers class, e.g.
	// "BlipForConditionalGeneration" or "BlipForQuestionAnswering".
	Architectures []string `json:"architectures"`
	// ModelType is "blip".
	ModelType string       `json:"model_type"`
	Text      TextConfig   `json:"text_config"`
	Vision    VisionConfig `json:"vision_config"`
}

// TextConfig is the BERT-style text model's configuration, shared by the
// caption/answer decoder and the question encoder; fields are named after
// the text_config keys in their json tags. Its generation fields
// (MaxLength, MinLength, NumBeams, ...) are the defaults transformers'
// text_decoder.generate uses, which Options override.
type TextConfig struct {
	VocabSize  int `json:"vocab_size"`
	HiddenSize int `json:"hidden_size"`
	// EncoderHiddenSize is the width of what cross-attention attends to;
	// as in transformers, it is set to the vision encoder's hidden size.
	EncoderHiddenSize     int     `json:"encoder_hidden_size"`
	IntermediateSize      int     `json:"intermediate_size"`
	NumHiddenLayers       int     `json:"num_hidden_layers"`
	NumAttentionHeads     int     `json:"num_attention_heads"`
	MaxPositionEmbeddings int     `json:"max_position_embeddings"`
	HiddenAct             string  `json:"hidden_act"`
	LayerNormEps          float64 `json:"layer_norm_eps"`

	// BosTokenID is [DEC] (30522), the first token of every decoded text.
	BosTokenID int `json:"bos_token_id"`
	// SepTokenID is [SEP] (102): generation stops there.
	SepTokenID int `json:"sep_token_id"`
	// PadTokenID is [PAD] (0).
	PadTokenID int `json:"pad_token_id"`

	MaxLength         int     `json:"max_length"`
	MinLength         int     `json:"min_length"`
	NumBeams          int     `json:"num_beams"`
	LengthPenalty     float64 `json:"length_penalty"`
	RepetitionPenalty float64 `json:"repetition_penalty"`
	// EarlyStopping is the beam-search stopping rule (JSON true, false or
	// "never").
	EarlyStopping generate.EarlyStopping `json:"early_stopping"`
}

// VisionConfig is the ViT image encoder's configuration (vision_config):
// the vision_config fields of the ViT-tower families.
type VisionConfig = vit.VisionConfig

// DefaultConfig returns transformers' BlipConfig defaults (the base-size
// model), which LoadConfig starts from.
func DefaultConfig() Config {
	return Config{
		ModelType: "blip",
		Text: TextConfig{
			VocabSize: 30524, HiddenSize: 768, EncoderHiddenSize: 768, IntermediateSize: 3072,
			NumHiddenLayers: 12, NumAttentionHeads: 8, MaxPositionEmbeddings: 512,
			HiddenAct: "gelu", LayerNormEps: 1e-12,
			BosTokenID: 30522, SepTokenID: 102, PadTokenID: 0,
			MaxLength: 20, MinLength: 0, NumBeams: 1, LengthPenalty: 1, RepetitionPenalty: 1,
			EarlyStopping: generate.EarlyStoppingHeuristic,
		},
		Vision: VisionConfig{
			HiddenSize: 768, IntermediateSize: 3072, NumHiddenLayers: 12, NumAttentionHeads: 12,
			NumChannels: 3, ImageSize: 384, PatchSize: 16, HiddenAct: "gelu", LayerNormEps: 1e-5,
		},
	}
}

// LoadConfig reads a BLIP config.json, filling absent fields with
// DefaultConfig's values, and validates it.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	if err := nn.ReadJSON(path, &cfg); err != nil {
		return Config{}, fmt.Errorf("blip: %w", err)
	}
	cfg = cfg.normalized()
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("blip: %s: %w", path, err)
	}
	return cfg, nil
}

// normalized applies what transformers' BlipConfig does on construction:
// the text side's cross-attention width is the vision encoder's width,
// whatever text_config.encoder_hidden_size says.
func (c Config) normalized() Config {
	c.Text.EncoderHiddenSize = c.Vision.HiddenSize
	return c
}

// Validate checks that the dimensions are usable; the error wraps
// nn.ErrConfig and names the field (nn.ErrUnsupportedArchitecture for a
// model_type other than "blip").
func (c Config) Validate() error {
	if c.ModelType != "" && c.ModelType != "blip" {
		return fmt.Errorf("%w: model_type %q (the blip package runs \"blip\")", nn.ErrUnsupportedArchitecture, c.ModelType)
	}
	t, v := c.Text, c.Vision
	pos := []struct {
		name string
		val  int
	}{
		{"text_config.vocab_size", t.VocabSize},
		{"text_config.hidden_size", t.HiddenSize},
		{"text_config.encoder_hidden_size", t.EncoderHiddenSize},
		{"text_config.intermediate_size", t.IntermediateSize},
		{"text_config.num_hidden_layers", t.NumHiddenLayers},
		{"text_config.num_attention_heads", t.NumAttentionHeads},
		{"text_config.max_position_embeddings", t.MaxPositionEmbeddings},
		{"vision_config.hidden_size", v.HiddenSize},
		{"vision_config.intermediate_size", v.IntermediateSize},
		{"vision_config.num_hidden_layers", v.NumHiddenLayers},
		{"vision_config.num_attention_heads", v.NumAttentionHeads},
		{"vision_config.num_channels", v.NumChannels},
		{"vision_config.image_size", v.ImageSize},
		{"vision_config.patch_size", v.PatchSize},
	}
	for _, p := range pos {
		if p.val <= 0 {
			return fmt.Errorf("%w: %s must be positive, got %d", nn.ErrConfig, p.name, p.val)
		}
	}
	if t.HiddenSize%t.NumAttentionHeads != 0 {
		return fmt.Errorf("%w: text_config.hidden_size %d is not divisible by num_attention_heads %d", nn.ErrConfig, t.HiddenSize, t.NumAttentionHeads)
	}
	if v.HiddenSize%v.NumAttentionHeads != 0 {
		return fmt.Errorf("%w: vision_config.hidden_size %d is not divisible by num_attention_heads %d", nn.ErrConfig, v.HiddenSize, v.NumAttentionHeads)
	}
	if v.ImageSize%v.PatchSize != 0 {
		return fmt.Errorf("%w: vision_config.image_size %d is not a multiple of patch_size %d", nn.ErrConfig, v.ImageSize, v.PatchSize)
	}
	for _, id := range []struct {
		name string
		val  int
	}{{"bos_token_id", t.BosTokenID}, {"sep_token_id", t.SepTokenID}, {"pad_token_id", t.PadTokenID}} {
		if id.val < 0 || id.val >= t.VocabSize {
			return fmt.Errorf("%w: text_config.%s %d is outside the vocabulary (%d)", nn.ErrConfig, id.name, id.val, t.VocabSize)
		}
	}
	if t.NumBeams < 1 {
		return fmt.Errorf("%w: text_config.num_beams must be at least 1, got %d", nn.ErrConfig, t.NumBeams)
	}
	return nil
}

func configPath(dir string) string { return filepath.Join(dir, "config.json") }
