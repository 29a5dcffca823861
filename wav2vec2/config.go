package wav2vec2

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/goformer/goformer/nn"
)

// Config holds the fields of a wav2vec2 or HuBERT config.json that the
// model reads (transformers' Wav2Vec2Config and HubertConfig, which share
// them). ParseConfig fills absent fields with their defaults.
type Config struct {
	Architectures []string `json:"architectures"`
	// ModelType is "wav2vec2" (Wav2Vec2ForCTC, weights under "wav2vec2.")
	// or "hubert" (HubertForCTC, weights under "hubert."); when empty, the
	// architecture tells.
	ModelType         string  `json:"model_type"`
	HiddenSize        int     `json:"hidden_size"`
	NumHiddenLayers   int     `json:"num_hidden_layers"`
	NumAttentionHeads int     `json:"num_attention_heads"`
	IntermediateSize  int     `json:"intermediate_size"`
	HiddenAct         string  `json:"hidden_act"`
	LayerNormEps      float64 `json:"layer_norm_eps"`
	// FeatExtractNorm is "group" (group norm after the first convolution,
	// wav2vec2-base) or "layer" (layer norm after every convolution,
	// wav2vec2-large-lv60).
	FeatExtractNorm       string `json:"feat_extract_norm"`
	FeatExtractActivation string `json:"feat_extract_activation"`
	ConvDim               []int  `json:"conv_dim"`
	ConvStride            []int  `json:"conv_stride"`
	ConvKernel            []int  `json:"conv_kernel"`
	ConvBias              bool   `json:"conv_bias"`
	// NumConvPosEmbeddings is the kernel width of the convolutional
	// position embedding, NumConvPosEmbeddingGroups its number of groups.
	NumConvPosEmbeddings      int `json:"num_conv_pos_embeddings"`
	NumConvPosEmbeddingGroups int `json:"num_conv_pos_embedding_groups"`
	// DoStableLayerNorm selects the pre-LN encoder with a final layer norm
	// (large-lv60) instead of the post-LN encoder (base).
	DoStableLayerNorm bool `json:"do_stable_layer_norm"`
	VocabSize         int  `json:"vocab_size"`
	PadTokenID        int  `json:"pad_token_id"`
	// AddAdapter and AdapterAttnDim describe adapter variants, which this
	// package does not run (Load rejects them).
	AddAdapter     bool `json:"add_adapter"`
	AdapterAttnDim *int `json:"adapter_attn_dim"`
	// FeatProjLayerNorm is HubertConfig's switch for the layer norm before
	// the feature projection (true by default). wav2vec2 always has that
	// layer norm and ignores the field.
	FeatProjLayerNorm bool `json:"feat_proj_layer_norm"`
	// ConvPosBatchNorm is a later HubertConfig's batch-normalised position
	// embedding, which this package does not run (Validate rejects it).
	ConvPosBatchNorm bool `json:"conv_pos_batch_norm"`
}

// The model types this package runs (config.json's model_type).
const (
	ModelTypeWav2Vec2 = "wav2vec2"
	ModelTypeHubert   = "hubert"
)

// architectureOf maps each model type to the CTC architecture it runs.
var architectureOf = map[string]string{
	ModelTypeWav2Vec2: "Wav2Vec2ForCTC",
	ModelTypeHubert:   "HubertForCTC",
}

// DefaultConfig returns Wav2Vec2Config's defaults (wav2vec2-base).
func DefaultConfig() Config {
	return Config{
		ModelType: ModelTypeWav2Vec2, HiddenSize: 768, NumHiddenLayers: 12, NumAttentionHeads: 12,
		IntermediateSize: 3072, HiddenAct: "gelu", LayerNormEps: 1e-5,
		FeatExtractNorm: "group", FeatExtractActivation: "gelu",
		ConvDim:              []int{512, 512, 512, 512, 512, 512, 512},
		ConvStride:           []int{5, 2, 2, 2, 2, 2, 2},
		ConvKernel:           []int{10, 3, 3, 3, 3, 2, 2},
		NumConvPosEmbeddings: 128, NumConvPosEmbeddingGroups: 16,
		VocabSize: 32, PadTokenID: 0,
		FeatProjLayerNorm: true,
	}
}

// DefaultHubertConfig returns HubertConfig's defaults (hubert-base-ls960):
// Wav2Vec2Config's with model_type "hubert".
func DefaultHubertConfig() Config {
	c := DefaultConfig()
	c.ModelType = ModelTypeHubert
	return c
}

// IsHubert reports whether the configuration describes a HuBERT model:
// model_type "hubert", or no model_type and architecture HubertForCTC.
func (c Config) IsHubert() bool {
	return c.ModelType == ModelTypeHubert || (c.ModelType == "" && slices.Contains(c.Architectures, architectureOf[ModelTypeHubert]))
}

// Architecture returns the transformers class the configuration runs as:
// Wav2Vec2ForCTC or HubertForCTC.
func (c Config) Architecture() string {
	if c.IsHubert() {
		return architectureOf[ModelTypeHubert]
	}
	return architectureOf[ModelTypeWav2Vec2]
}

// weightPrefix is the name of the base model in the CTC checkpoint
// ("wav2vec2" or "hubert").
func (c Config) weightPrefix() string {
	if c.IsHubert() {
		return ModelTypeHubert
	}
	return ModelTypeWav2Vec2
}

// hasFeatProjLayerNorm reports whether the feature projection starts with
// a layer norm: always for wav2vec2, as feat_proj_layer_norm says for
// HuBERT.
func (c Config) hasFeatProjLayerNorm() bool { return !c.IsHubert() || c.FeatProjLayerNorm }

// ParseConfig decodes a config.json (name is used in errors), applying the
// defaults of DefaultConfig (DefaultHubertConfig for model_type "hubert" or
// architecture HubertForCTC) to absent fields, and validates it.
func ParseConfig(name string, raw []byte) (Config, error) {
	c := DefaultConfig()
	// Another family's config lacks wav2vec2's fields: report its
	// architecture (nn.ErrUnsupportedArchitecture), not the missing fields.
	var probe struct {
		ModelType     string   `json:"model_type"`
		Architectures []string `json:"architectures"`
	}
	if json.Unmarshal(raw, &probe) == nil {
		if err := (Config{ModelType: probe.ModelType, Architectures: probe.Architectures}).checkArchitecture(); err != nil {
			return Config{}, fmt.Errorf("%s: %w", name, err)
		}
		if (Config{ModelType: probe.ModelType, Architectures: probe.Architectures}).IsHubert() {
			c = DefaultHubertConfig()
		}
	}
	// Slices decode by replacing, so defaults survive only when absent.
	if err := nn.DecodeJSON(name, raw, &c, "hidden_size", "num_hidden_layers", "num_attention_heads"); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// LoadConfig reads and validates a config.json file.
func LoadConfig(path string) (Config, error) {
	return nn.ReadConfig("wav2vec2", path, func(raw []byte) (Config, error) { return ParseConfig(path, raw) })
}

// Validate checks that the configuration describes a model this package
// runs, with consistent dimensions.
func (c Config) Validate() error {
	if err := c.checkArchitecture(); err != nil {
		return err
	}
	switch {
	case c.HiddenSize <= 0, c.NumHiddenLayers < 0, c.NumAttentionHeads <= 0, c.IntermediateSize <= 0, c.VocabSize <= 0:
		return fmt.Errorf("%w: sizes must be positive (hidden_size %d, num_hidden_layers %d, num_attention_heads %d, intermediate_size %d, vocab_size %d)",
			nn.ErrConfig, c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize, c.VocabSize)
	case c.HiddenSize%c.NumAttentionHeads != 0:
		return fmt.Errorf("%w: hidden_size %d is not a multiple of num_attention_heads %d", nn.ErrConfig, c.HiddenSize, c.NumAttentionHeads)
	case len(c.ConvDim) == 0 || len(c.ConvDim) != len(c.ConvStride) || len(c.ConvDim) != len(c.ConvKernel):
		return fmt.Errorf("%w: conv_dim, conv_stride and conv_kernel must have one equal, non-zero length (%d, %d, %d)",
			nn.ErrConfig, len(c.ConvDim), len(c.ConvStride), len(c.ConvKernel))
	case c.NumConvPosEmbeddings <= 0 || c.NumConvPosEmbeddingGroups <= 0 || c.HiddenSize%c.NumConvPosEmbeddingGroups != 0:
		return fmt.Errorf("%w: num_conv_pos_embeddings %d, num_conv_pos_embedding_groups %d for hidden_size %d",
			nn.ErrConfig, c.NumConvPosEmbeddings, c.NumConvPosEmbeddingGroups, c.HiddenSize)
	case c.LayerNormEps <= 0:
		return fmt.Errorf("%w: layer_norm_eps %g must be positive", nn.ErrConfig, c.LayerNormEps)
	case c.FeatExtractNorm != "group" && c.FeatExtractNorm != "layer":
		return fmt.Errorf("%w: feat_extract_norm %q (want group or layer)", nn.ErrConfig, c.FeatExtractNorm)
	}
	for i := range c.ConvDim {
		if c.ConvDim[i] <= 0 || c.ConvStride[i] <= 0 || c.ConvKernel[i] <= 0 {
			return fmt.Errorf("%w: conv layer %d: dim %d, stride %d, kernel %d must be positive",
				nn.ErrConfig, i, c.ConvDim[i], c.ConvStride[i], c.ConvKernel[i])
		}
	}
	return nil
}

// checkArchitecture checks model_type, architectures and the settings of
// variants this package does not run (adapters, batch-normalised position
// embedding). An empty model_type takes its kind from the architecture.
func (c Config) checkArchitecture() error {
	mt := c.ModelType
	if _, ok := architectureOf[mt]; !ok && mt != "" {
		return fmt.Errorf("%w: model_type %q (the wav2vec2 package runs \"wav2vec2\" and \"hubert\")", nn.ErrUnsupportedArchitecture, mt)
	}
	for _, a := range c.Architectures {
		switch {
		case mt == "" && (a == architectureOf[ModelTypeWav2Vec2] || a == architectureOf[ModelTypeHubert]):
		case mt != "" && a == architectureOf[mt]:
		case mt != "":
			return fmt.Errorf("%w: architecture %q with model_type %q (the wav2vec2 package runs %s)", nn.ErrUnsupportedArchitecture, a, mt, architectureOf[mt])
		default:
			return fmt.Errorf("%w: architecture %q (the wav2vec2 package runs Wav2Vec2ForCTC and HubertForCTC)", nn.ErrUnsupportedArchitecture, a)
		}
	}
	if c.AddAdapter || c.AdapterAttnDim != nil {
		return fmt.Errorf("%w: wav2vec2 adapters (add_adapter, adapter_attn_dim) are not supported", nn.ErrUnsupportedArchitecture)
	}
	if c.ConvPosBatchNorm {
		return fmt.Errorf("%w: conv_pos_batch_norm (a batch-normalised position embedding) is not supported", nn.ErrUnsupportedArchitecture)
	}
	return nil
}

// InputsToLogitsRatio is the number of input samples per output frame (the
// product of the convolution strides; 320 for the standard models, 20 ms at
// 16 kHz).
func (c Config) InputsToLogitsRatio() int {
	r := 1
	for _, s := range c.ConvStride {
		r *= s
	}
	return r
}

// OutputFrames returns the number of frames (logit rows) the feature encoder
// makes of n samples; 0 when n is shorter than the receptive field.
func (c Config) OutputFrames(n int) int {
	for i := range c.ConvKernel {
		if n < c.ConvKernel[i] {
			return 0
		}
		n = (n-c.ConvKernel[i])/c.ConvStride[i] + 1
	}
	return n
}
