package llava

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/goformer/goformer/llm"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
	"github.com/goformer/goformer/vit"
)

// Config is a LlavaForConditionalGeneration config.json (transformers
// 4.40's LlavaConfig): the CLIP vision tower, the projector and the
// language model. Fields a file leaves out take LlavaConfig's defaults,
// which are llava-1.5-7b's.
type Config struct {
	// ImageTokenIndex is the id of the <image> token the image features
	// replace (image_token_index, 32000).
	ImageTokenIndex int
	// ProjectorHiddenAct is the activation between the projector's two
	// linear layers (projector_hidden_act, "gelu").
	ProjectorHiddenAct string
	// VisionFeatureLayer is the hidden state of the vision tower the
	// features are taken from (vision_feature_layer, -2: the input of its
	// last layer); negative values count from the end of the
	// 1+NumHiddenLayers hidden states.
	VisionFeatureLayer int
	// VisionFeatureSelectStrategy is "default" (the class token's row is
	// dropped) or "full" (kept).
	VisionFeatureSelectStrategy string
	// PadTokenID is the top-level pad_token_id (-1 when absent).
	PadTokenID int
	// Vision configures the CLIP vision tower.
	Vision VisionConfig
	// Text configures the language model (text_config; model_type "llama"
	// when it does not say).
	Text llm.Config
}

// VisionConfig is the vision tower's configuration (transformers'
// CLIPVisionConfig), the vision_config the ViT-tower families share.
type VisionConfig = vit.VisionConfig

// clipVisionDefaults are CLIPVisionConfig's defaults (a vision_config
// object fills in from them).
func clipVisionDefaults() VisionConfig {
	return VisionConfig{
		HiddenSize: 768, IntermediateSize: 3072, NumHiddenLayers: 12, NumAttentionHeads: 12,
		NumChannels: 3, ImageSize: 224, PatchSize: 32, HiddenAct: "quick_gelu", LayerNormEps: 1e-5,
	}
}

// llavaVisionDefaults is the tower LlavaConfig builds when config.json has
// no vision_config: CLIP ViT-L/14 at 336 px.
func llavaVisionDefaults() VisionConfig {
	v := clipVisionDefaults()
	v.HiddenSize, v.IntermediateSize, v.NumHiddenLayers, v.NumAttentionHeads = 1024, 4096, 24, 16
	v.ImageSize, v.PatchSize = 336, 14
	return v
}

// rawConfig mirrors config.json; pointers tell absent fields.
type rawConfig struct {
	ModelType                   string          `json:"model_type"`
	ImageTokenIndex             *int            `json:"image_token_index"`
	ProjectorHiddenAct          *string         `json:"projector_hidden_act"`
	VisionFeatureLayer          json.RawMessage `json:"vision_feature_layer"`
	VisionFeatureSelectStrategy *string         `json:"vision_feature_select_strategy"`
	PadTokenID                  *int            `json:"pad_token_id"`
	VisionConfig                json.RawMessage `json:"vision_config"`
	TextConfig                  json.RawMessage `json:"text_config"`
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// ParseConfig reads a LLaVA config.json held in memory (name is used in
// errors). Errors wrap nn.ErrConfig (malformed or inconsistent values) or
// nn.ErrUnsupportedArchitecture (a model_type other than "llava", a vision
// tower other than CLIP's, a language model llm does not run).
func ParseConfig(name string, raw []byte) (Config, error) {
	var r rawConfig
	if err := nn.DecodeJSON(name, raw, &r); err != nil {
		return Config{}, fmt.Errorf("llava: %w", err)
	}
	if r.ModelType != "" && r.ModelType != "llava" {
		return Config{}, fmt.Errorf("llava: %s: %w: model_type %q is not \"llava\"", name, nn.ErrUnsupportedArchitecture, r.ModelType)
	}
	c := Config{
		ImageTokenIndex: 32000, ProjectorHiddenAct: "gelu", VisionFeatureLayer: -2,
		VisionFeatureSelectStrategy: "default", PadTokenID: -1,
	}
	nn.SetIf(&c.ImageTokenIndex, r.ImageTokenIndex)
	nn.SetIf(&c.ProjectorHiddenAct, r.ProjectorHiddenAct)
	if !isNull(r.VisionFeatureLayer) {
		if err := json.Unmarshal(r.VisionFeatureLayer, &c.VisionFeatureLayer); err != nil {
			// Later transformers take a list of layers (concatenated
			// features); 4.40 takes one.
			return Config{}, fmt.Errorf("llava: %s: %w: vision_feature_layer %s: want one layer index", name, nn.ErrConfig, r.VisionFeatureLayer)
		}
	}
	nn.SetIf(&c.VisionFeatureSelectStrategy, r.VisionFeatureSelectStrategy)
	nn.SetIf(&c.PadTokenID, r.PadTokenID)
	c.Vision = llavaVisionDefaults()
	if !isNull(r.VisionConfig) {
		c.Vision = clipVisionDefaults()
		var vt struct {
			ModelType string `json:"model_type"`
		}
		if err := json.Unmarshal(r.VisionConfig, &vt); err != nil {
			return Config{}, fmt.Errorf("llava: %s: %w: vision_config: %v", name, nn.ErrConfig, err)
		}
		if vt.ModelType != "" && vt.ModelType != "clip_vision_model" {
			return Config{}, fmt.Errorf("llava: %s: %w: vision_config model_type %q (llava runs CLIP's vision tower, clip_vision_model)", name, nn.ErrUnsupportedArchitecture, vt.ModelType)
		}
		if err := json.Unmarshal(r.VisionConfig, &c.Vision); err != nil {
			return Config{}, fmt.Errorf("llava: %s: %w: vision_config: %v", name, nn.ErrConfig, err)
		}
	}
	text, err := textConfig(r.TextConfig)
	if err != nil {
		return Config{}, fmt.Errorf("llava: %s: text_config: %w", name, err)
	}
	if c.Text, err = llm.ParseConfig(text); err != nil {
		return Config{}, fmt.Errorf("llava: %s: text_config: %w", name, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// textConfig returns the text_config object with model_type "llama"
// filled in when absent, as LlavaConfig does (and LlamaConfig's defaults
// when there is no text_config at all).
func textConfig(raw json.RawMessage) ([]byte, error) {
	if isNull(raw) {
		return []byte(`{"model_type": "llama"}`), nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", nn.ErrConfig, err)
	}
	if mt, ok := m["model_type"]; !ok || isNull(mt) {
		m["model_type"] = json.RawMessage(`"llama"`)
	}
	return json.Marshal(m)
}

// LoadConfig reads a LLaVA config.json file.
func LoadConfig(path string) (Config, error) {
	return nn.ReadConfig("llava", path, func(raw []byte) (Config, error) { return ParseConfig(path, raw) })
}

// Validate checks that the configuration is usable; errors wrap
// nn.ErrConfig.
func (c Config) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("llava: %w: %s", nn.ErrConfig, fmt.Sprintf(format, a...))
	}
	if err := c.Vision.Validate(); err != nil {
		return fmt.Errorf("llava: vision_config: %w", err)
	}
	if c.Vision.LayerNormEps > 1 {
		return bad("vision_config.layer_norm_eps %g", c.Vision.LayerNormEps)
	}
	if _, err := tensor.Activation(c.ProjectorHiddenAct); err != nil {
		return bad("projector_hidden_act: %v", err)
	}
	if _, err := c.featureLayer(); err != nil {
		return err
	}
	switch c.VisionFeatureSelectStrategy {
	case "default", "full":
	default:
		return bad("vision_feature_select_strategy %q (want default or full)", c.VisionFeatureSelectStrategy)
	}
	if err := c.Text.Validate(); err != nil {
		return fmt.Errorf("llava: text_config: %w", err)
	}
	// The <image> token is never embedded (its features take its place),
	// so it need not lie within the language model's vocabulary.
	if c.ImageTokenIndex < 0 || c.ImageTokenIndex > 1<<24 {
		return bad("image_token_index %d", c.ImageTokenIndex)
	}
	return nil
}

// featureLayer returns the index into the vision tower's hidden states
// (embeddings, then the output of each layer) the features come from: the
// number of layers to run.
func (c Config) featureLayer() (int, error) {
	n := c.Vision.NumHiddenLayers + 1
	i := c.VisionFeatureLayer
	if i < 0 {
		i += n
	}
	if i < 0 || i >= n {
		return 0, fmt.Errorf("llava: %w: vision_feature_layer %d outside the %d hidden states of the vision tower", nn.ErrConfig, c.VisionFeatureLayer, n)
	}
	return i, nil
}

// FeatureRows returns the number of feature rows one image puts into the
// language model's input: the patches, plus the class token under the
// "full" strategy.
func (c Config) FeatureRows() int {
	n := c.Vision.NumPatches()
	if c.VisionFeatureSelectStrategy == "full" {
		n++
	}
	return n
}
