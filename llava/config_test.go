package llava

import (
	"errors"
	"strings"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
)

func TestParseConfigDefaults(t *testing.T) {
	// No vision_config and no text_config: LlavaConfig's defaults, which
	// are llava-1.5-7b's tower and LlamaConfig's decoder.
	c, err := ParseConfig("config.json", []byte(`{"model_type": "llava"}`))
	if err != nil {
		t.Fatal(err)
	}
	v := c.Vision
	if v.HiddenSize != 1024 || v.IntermediateSize != 4096 || v.NumHiddenLayers != 24 || v.NumAttentionHeads != 16 ||
		v.ImageSize != 336 || v.PatchSize != 14 || v.HiddenAct != "quick_gelu" || v.LayerNormEps != 1e-5 || v.NumChannels != 3 {
		t.Errorf("default vision tower %+v", v)
	}
	if c.ImageTokenIndex != 32000 || c.ProjectorHiddenAct != "gelu" || c.VisionFeatureLayer != -2 || c.VisionFeatureSelectStrategy != "default" {
		t.Errorf("defaults %+v", c)
	}
	if c.Text.ModelType != "llama" || c.Text.HiddenSize != 4096 || c.Text.VocabSize != 32000 {
		t.Errorf("default text config %+v", c.Text)
	}
	if got := c.FeatureRows(); got != 576 {
		t.Errorf("FeatureRows %d, want 576", got)
	}
	if l, _ := c.featureLayer(); l != 23 {
		t.Errorf("feature layer %d, want 23 (the input of the last of 24 layers)", l)
	}
	// A vision_config object fills in from CLIPVisionConfig's defaults; a
	// text_config without model_type is Llama's.
	c, err = ParseConfig("config.json", []byte(`{"vision_config": {"hidden_size": 64, "num_attention_heads": 2},
		"text_config": {"hidden_size": 48, "num_attention_heads": 3, "intermediate_size": 64, "num_hidden_layers": 1},
		"vision_feature_select_strategy": "full", "vision_feature_layer": 0}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Vision.ImageSize != 224 || c.Vision.PatchSize != 32 || c.Vision.NumHiddenLayers != 12 || c.Vision.HiddenSize != 64 {
		t.Errorf("vision_config %+v", c.Vision)
	}
	if c.Text.ModelType != "llama" || c.Text.HiddenSize != 48 {
		t.Errorf("text_config %+v", c.Text)
	}
	if got := c.FeatureRows(); got != 50 {
		t.Errorf("FeatureRows under full %d, want 49+1", got)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  string
		want error
		name string
	}{
		{`{"model_type": "blip-2"}`, nn.ErrUnsupportedArchitecture, "model_type"},
		{`{"vision_config": {"model_type": "siglip_vision_model"}}`, nn.ErrUnsupportedArchitecture, "siglip"},
		{`{"text_config": {"model_type": "mistral"}}`, nn.ErrUnsupportedArchitecture, "mistral"},
		{`{"vision_feature_select_strategy": "cls"}`, nn.ErrConfig, "vision_feature_select_strategy"},
		{`{"vision_feature_layer": -30}`, nn.ErrConfig, "vision_feature_layer"},
		{`{"vision_feature_layer": 25}`, nn.ErrConfig, "vision_feature_layer"},
		{`{"vision_feature_layer": [-2, -5]}`, nn.ErrConfig, "vision_feature_layer"},
		{`{"projector_hidden_act": "wobble"}`, nn.ErrConfig, "projector_hidden_act"},
		{`{"image_token_index": -1}`, nn.ErrConfig, "image_token_index"},
		{`{"vision_config": {"hidden_size": 100, "num_attention_heads": 3}}`, nn.ErrConfig, "num_attention_heads"},
		{`{"vision_config": {"patch_size": 0}}`, nn.ErrConfig, "patch_size"},
		{`{"vision_config": {"image_size": 10, "patch_size": 14}}`, nn.ErrConfig, "patch_size"},
		{`{"vision_config": {"hidden_size": 1e12}}`, nn.ErrConfig, "vision_config"},
		{`{"vision_config": 3}`, nn.ErrConfig, "vision_config"},
		{`{"text_config": [1]}`, nn.ErrConfig, "text_config"},
		{`{"text_config": {"hidden_size": -4}}`, nn.ErrConfig, "hidden_size"},
		{`{`, nn.ErrConfig, "config.json"},
	} {
		_, err := ParseConfig("config.json", []byte(c.cfg))
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%s: error %v, want one matching %v naming %s", c.cfg, err, c.want, c.name)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"model_type": "llava"}`))
	f.Add([]byte(`{"vision_config": {"hidden_size": 64, "num_attention_heads": 2, "image_size": 28, "patch_size": 14}, "text_config": {"hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 8, "num_hidden_layers": 1, "vocab_size": 40000}}`))
	f.Add([]byte(`{"vision_feature_layer": -1, "vision_feature_select_strategy": "full", "text_config": null}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := ParseConfig("config.json", raw)
		if !testdata.Parsed(t, c, err, nn.ErrConfig, nn.ErrUnsupportedArchitecture) {
			return
		}
		if l, err := c.featureLayer(); err != nil || l < 0 || l > c.Vision.NumHiddenLayers {
			t.Fatalf("feature layer %d (%v) of %d layers", l, err, c.Vision.NumHiddenLayers)
		}
	})
}

// realConfig is llava-hf/llava-1.5-7b-hf's config.json.
const realConfig = `{
  "architectures": ["LlavaForConditionalGeneration"],
  "ignore_index": -100,
  "image_token_index": 32000,
  "model_type": "llava",
  "pad_token_id": 32001,
  "projector_hidden_act": "gelu",
  "text_config": {
    "_name_or_path": "lmsys/vicuna-7b-v1.5",
    "architectures": ["LlamaForCausalLM"],
    "max_position_embeddings": 4096,
    "model_type": "llama",
    "rms_norm_eps": 1e-05,
    "torch_dtype": "float16",
    "vocab_size": 32064
  },
  "tie_word_embeddings": false,
  "torch_dtype": "float16",
  "transformers_version": "4.36.0.dev0",
  "vision_config": {
    "hidden_size": 1024,
    "image_size": 336,
    "intermediate_size": 4096,
    "model_type": "clip_vision_model",
    "num_attention_heads": 16,
    "num_hidden_layers": 24,
    "patch_size": 14,
    "projection_dim": 768,
    "vocab_size": 32000
  },
  "vision_feature_layer": -2,
  "vision_feature_select_strategy": "default",
  "vocab_size": 32064
}`

func TestParseRealConfig(t *testing.T) {
	c, err := ParseConfig("config.json", []byte(realConfig))
	if err != nil {
		t.Fatal(err)
	}
	x := c.Text
	if x.ModelType != "llama" || x.HiddenSize != 4096 || x.NumLayers != 32 || x.NumHeads != 32 || x.NumKVHeads != 32 ||
		x.IntermediateSize != 11008 || x.VocabSize != 32064 || x.MaxPositions != 4096 || x.RMSNormEps != 1e-5 || x.TieWordEmbeddings {
		t.Errorf("text config %+v", x)
	}
	if v := c.Vision; v.HiddenSize != 1024 || v.NumHiddenLayers != 24 || v.ImageSize != 336 || v.PatchSize != 14 || v.HiddenAct != "quick_gelu" {
		t.Errorf("vision config %+v", v)
	}
	if l, _ := c.featureLayer(); l != 23 || c.FeatureRows() != 576 || c.PadTokenID != 32001 {
		t.Errorf("feature layer %d, rows %d, pad %d", l, c.FeatureRows(), c.PadTokenID)
	}
}
