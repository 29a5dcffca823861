package clip

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
	"github.com/goformer/goformer/vit"
)

// Config is a CLIPModel configuration (config.json). Fields a file leaves
// out take transformers' CLIPConfig defaults, which are those of
// openai/clip-vit-base-patch32.
type Config struct {
	// ModelType is "clip" for a CLIPModel.
	ModelType string `json:"model_type"`
	// ProjectionDim is the width of the joint embedding space.
	ProjectionDim int `json:"projection_dim"`
	// LogitScaleInit is the initial value of logit_scale (the checkpoint's
	// value is what is used).
	LogitScaleInit float64 `json:"logit_scale_init_value"`
	// Text configures the text tower.
	Text TextConfig `json:"text_config"`
	// Vision configures the vision tower.
	Vision VisionConfig `json:"vision_config"`
}

// TextConfig configures the text transformer (CLIPTextConfig).
type TextConfig struct {
	// VocabSize is the number of token ids (49408 for OpenAI's BPE).
	VocabSize int `json:"vocab_size"`
	// HiddenSize is the transformer width.
	HiddenSize int `json:"hidden_size"`
	// IntermediateSize is the width of the MLP's hidden layer.
	IntermediateSize int `json:"intermediate_size"`
	// NumHiddenLayers is the number of transformer blocks.
	NumHiddenLayers int `json:"num_hidden_layers"`
	// NumAttentionHeads splits HiddenSize into heads.
	NumAttentionHeads int `json:"num_attention_heads"`
	// MaxPositionEmbeddings is the context length (77): the most tokens a
	// text may have, start and end tokens included.
	MaxPositionEmbeddings int `json:"max_position_embeddings"`
	// HiddenAct is the MLP activation ("quick_gelu" for OpenAI's models).
	HiddenAct string `json:"hidden_act"`
	// LayerNormEps is the layer norms' epsilon.
	LayerNormEps float64 `json:"layer_norm_eps"`
	// BosTokenID is the id of <|startoftext|> in current configs.
	BosTokenID int `json:"bos_token_id"`
	// EosTokenID selects the pooled position as transformers does: 2 (the
	// value of older configs) pools at the highest token id, any other value
	// at the first occurrence of that id (falling back to the highest id when
	// it is absent).
	EosTokenID int `json:"eos_token_id"`
	// PadTokenID is the id used for padding beyond a sequence's end (never
	// attended to by the pooled position).
	PadTokenID int `json:"pad_token_id"`
}

// VisionConfig configures the vision transformer (CLIPVisionConfig): the
// vision_config fields of the ViT-tower families.
type VisionConfig = vit.VisionConfig

// DefaultConfig returns transformers' CLIPConfig defaults.
func DefaultConfig() Config {
	return Config{
		ModelType:      "clip",
		ProjectionDim:  512,
		LogitScaleInit: 2.6592,
		Text: TextConfig{
			VocabSize: 49408, HiddenSize: 512, IntermediateSize: 2048,
			NumHiddenLayers: 12, NumAttentionHeads: 8, MaxPositionEmbeddings: 77,
			HiddenAct: "quick_gelu", LayerNormEps: 1e-5,
			BosTokenID: 49406, EosTokenID: 49407, PadTokenID: 1,
		},
		Vision: VisionConfig{
			HiddenSize: 768, IntermediateSize: 3072, NumHiddenLayers: 12,
			NumAttentionHeads: 12, NumChannels: 3, ImageSize: 224, PatchSize: 32,
			HiddenAct: "quick_gelu", LayerNormEps: 1e-5,
		},
	}
}

// ParseConfig reads a CLIPModel config.json held in memory (name is used in
// errors). Older Hub configs keep the tower settings under text_config_dict
// and vision_config_dict; those override text_config and vision_config as in
// transformers.
func ParseConfig(name string, raw []byte) (Config, error) {
	cfg := DefaultConfig()
	if err := nn.DecodeJSON(name, raw, &cfg); err != nil {
		return Config{}, err
	}
	var legacy struct {
		Text   json.RawMessage `json:"text_config_dict"`
		Vision json.RawMessage `json:"vision_config_dict"`
	}
	if err := json.Unmarshal(raw, &legacy); err != nil {
		return Config{}, fmt.Errorf("%s: %w: %v", name, nn.ErrConfig, err)
	}
	if len(legacy.Text) > 0 && string(legacy.Text) != "null" {
		if err := json.Unmarshal(legacy.Text, &cfg.Text); err != nil {
			return Config{}, fmt.Errorf("%s: %w: text_config_dict: %v", name, nn.ErrConfig, err)
		}
	}
	if len(legacy.Vision) > 0 && string(legacy.Vision) != "null" {
		if err := json.Unmarshal(legacy.Vision, &cfg.Vision); err != nil {
			return Config{}, fmt.Errorf("%s: %w: vision_config_dict: %v", name, nn.ErrConfig, err)
		}
	}
	if cfg.ModelType != "" && cfg.ModelType != "clip" {
		return Config{}, fmt.Errorf("%s: %w: model_type %q is not \"clip\"", name, nn.ErrUnsupportedArchitecture, cfg.ModelType)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return cfg, nil
}

// LoadConfig reads a CLIPModel config.json file.
func LoadConfig(path string) (Config, error) {
	return nn.ReadConfig("clip", path, func(raw []byte) (Config, error) { return ParseConfig(path, raw) })
}

// Validate checks that the dimensions are usable: positive sizes, widths
// divisible by the head counts, an image size divisible by the patch size,
// known activations. Errors wrap nn.ErrConfig.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", nn.ErrConfig, fmt.Sprintf(format, args...))
	}
	t, v := c.Text, c.Vision
	pos := map[string]int{
		"projection_dim":                      c.ProjectionDim,
		"text_config.vocab_size":              t.VocabSize,
		"text_config.hidden_size":             t.HiddenSize,
		"text_config.intermediate_size":       t.IntermediateSize,
		"text_config.num_hidden_layers":       t.NumHiddenLayers,
		"text_config.num_attention_heads":     t.NumAttentionHeads,
		"text_config.max_position_embeddings": t.MaxPositionEmbeddings,
		"vision_config.hidden_size":           v.HiddenSize,
		"vision_config.intermediate_size":     v.IntermediateSize,
		"vision_config.num_hidden_layers":     v.NumHiddenLayers,
		"vision_config.num_attention_heads":   v.NumAttentionHeads,
		"vision_config.num_channels":          v.NumChannels,
		"vision_config.image_size":            v.ImageSize,
		"vision_config.patch_size":            v.PatchSize,
	}
	for _, k := range sortedKeys(pos) {
		if pos[k] <= 0 {
			return bad("%s must be positive, got %d", k, pos[k])
		}
	}
	if t.HiddenSize%t.NumAttentionHeads != 0 {
		return bad("text_config.hidden_size %d is not divisible by num_attention_heads %d", t.HiddenSize, t.NumAttentionHeads)
	}
	if v.HiddenSize%v.NumAttentionHeads != 0 {
		return bad("vision_config.hidden_size %d is not divisible by num_attention_heads %d", v.HiddenSize, v.NumAttentionHeads)
	}
	if v.ImageSize%v.PatchSize != 0 {
		return bad("vision_config.image_size %d is not divisible by patch_size %d", v.ImageSize, v.PatchSize)
	}
	if _, err := tensor.Activation(t.HiddenAct); err != nil {
		return bad("text_config.hidden_act: %v", err)
	}
	if _, err := tensor.Activation(v.HiddenAct); err != nil {
		return bad("vision_config.hidden_act: %v", err)
	}
	if !(t.LayerNormEps > 0) || !(v.LayerNormEps > 0) {
		return bad("layer_norm_eps must be positive")
	}
	return nil
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
