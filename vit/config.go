package vit

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"github.com/goformer/goformer/nn"
)

// Config is a ViT model's config.json (transformers' ViTConfig). Unknown
// fields are ignored.
type Config struct {
	Architectures     []string          `json:"architectures"`
	ModelType         string            `json:"model_type"`
	HiddenSize        int               `json:"hidden_size"`
	NumHiddenLayers   int               `json:"num_hidden_layers"`
	NumAttentionHeads int               `json:"num_attention_heads"`
	IntermediateSize  int               `json:"intermediate_size"`
	HiddenAct         string            `json:"hidden_act"`
	LayerNormEps      float64           `json:"layer_norm_eps"`
	ImageSize         int               `json:"image_size"`
	PatchSize         int               `json:"patch_size"`
	NumChannels       int               `json:"num_channels"`
	QKVBias           bool              `json:"qkv_bias"`
	ID2Label          map[string]string `json:"id2label"`
}

// requiredConfigFields are the config.json keys Load insists on: the
// dimensions of the network. The others default as in ViTConfig.
var requiredConfigFields = []string{
	"hidden_size", "num_hidden_layers", "num_attention_heads",
	"intermediate_size", "image_size", "patch_size",
}

// supportedArchitectures are the transformers classes whose checkpoints Load
// reads.
var supportedArchitectures = map[string]bool{
	"ViTForImageClassification": true,
	"ViTModel":                  true,
}

// ParseConfig decodes a config.json, applying ViTConfig's defaults for
// optional fields, and validates it: required fields missing (all named in
// one error wrapping nn.ErrConfig), a model_type other than "vit" or an
// architecture other than ViTForImageClassification or ViTModel
// (nn.ErrUnsupportedArchitecture), or inconsistent dimensions (nn.ErrConfig).
func ParseConfig(data []byte) (Config, error) {
	c := Config{HiddenAct: "gelu", LayerNormEps: 1e-12, NumChannels: 3, QKVBias: true, ModelType: "vit"}
	// Another family's config lacks ViT's fields: report its architecture
	// (nn.ErrUnsupportedArchitecture) rather than the missing fields.
	probe := c
	if json.Unmarshal(data, &probe) == nil {
		if err := probe.checkArchitecture(); err != nil {
			return Config{}, err
		}
	}
	if err := nn.DecodeJSON("config.json", data, &c, requiredConfigFields...); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// LoadConfig reads and validates a config.json file (see ParseConfig).
func LoadConfig(path string) (Config, error) { return nn.ReadConfig("vit", path, ParseConfig) }

// Validate checks the architecture and the consistency of the dimensions.
func (c *Config) Validate() error {
	if err := c.checkArchitecture(); err != nil {
		return err
	}
	ec := c.EncoderConfig()
	if err := ec.Validate(); err != nil {
		return err
	}
	if _, err := c.Labels(); err != nil {
		return err
	}
	return nil
}

// checkArchitecture checks model_type and architectures.
func (c *Config) checkArchitecture() error {
	if c.ModelType != "vit" {
		return fmt.Errorf("%w: model_type %q (the vit package runs \"vit\")", nn.ErrUnsupportedArchitecture, c.ModelType)
	}
	for _, a := range c.Architectures {
		if !supportedArchitectures[a] {
			return fmt.Errorf("%w: architecture %q (the vit package runs ViTForImageClassification and ViTModel)", nn.ErrUnsupportedArchitecture, a)
		}
	}
	return nil
}

// EncoderConfig returns the encoder dimensions of the model.
func (c *Config) EncoderConfig() EncoderConfig {
	return EncoderConfig{
		HiddenSize:       c.HiddenSize,
		NumLayers:        c.NumHiddenLayers,
		NumHeads:         c.NumAttentionHeads,
		IntermediateSize: c.IntermediateSize,
		HiddenAct:        c.HiddenAct,
		LayerNormEps:     c.LayerNormEps,
		ImageSize:        c.ImageSize,
		PatchSize:        c.PatchSize,
		NumChannels:      c.NumChannels,
		QKVBias:          c.QKVBias,
		PatchBias:        true,
	}
}

// Labels returns id2label as a slice indexed by class id. Ids must be
// 0..n-1 with none missing. A config without id2label gives nil.
func (c *Config) Labels() ([]string, error) {
	if len(c.ID2Label) == 0 {
		return nil, nil
	}
	labels := make([]string, len(c.ID2Label))
	seen := make([]bool, len(c.ID2Label))
	keys := make([]string, 0, len(c.ID2Label))
	for k := range c.ID2Label {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		id, err := strconv.Atoi(k)
		if err != nil || id < 0 || id >= len(labels) || seen[id] {
			return nil, fmt.Errorf("%w: id2label key %q is not a class id in 0..%d", nn.ErrConfig, k, len(labels)-1)
		}
		labels[id] = c.ID2Label[k]
		seen[id] = true
	}
	return labels, nil
}
