package vit

import (
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
)

// fuzzFixtures are the fixtures whose model directories hold ViT-style
// vision configs.
var fuzzFixtures = []string{"vit", "clip", "blip-caption", "blip-vqa", "vit-gpt2"}

// vitParams estimates the number of floats a model of config c allocates,
// in float64 so that absurd dimensions cannot overflow.
func vitParams(c Config) float64 {
	h, i, l := float64(c.HiddenSize), float64(c.IntermediateSize), float64(c.NumHiddenLayers)
	p, s, ch := float64(c.PatchSize), float64(c.ImageSize), float64(c.NumChannels)
	patches := 1.0
	if p > 0 {
		patches = (s/p)*(s/p) + 1
	}
	return l*(4*h*h+2*h*i+10*h) + patches*h + ch*p*p*h + float64(len(c.ID2Label)+1)*h + 4*h
}

// FuzzParseConfig checks that config.json parsing never panics, that an
// accepted config validates and yields its encoder config and labels, and
// that building a (small) model from it with no weights fails cleanly with
// checkpoint.ErrMissingWeights (or nn.ErrConfig for a classifier without labels).
func FuzzParseConfig(f *testing.F) {
	testdata.FuzzSeedFiles(f, 1<<20, []string{"configs", "vit-base-patch16-224", "config.json"})
	for _, fx := range fuzzFixtures {
		testdata.FuzzSeedFiles(f, 1<<20, []string{"fixtures", fx, "model", "config.json"})
	}
	f.Add([]byte(`{"model_type":"vit","architectures":["ViTForImageClassification"],"hidden_size":8,` +
		`"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":16,"image_size":16,"patch_size":8,` +
		`"id2label":{"0":"a","1":"b"}}`))
	f.Add([]byte(`{"model_type":"vit","architectures":["ViTModel"],"hidden_size":4,"num_hidden_layers":0,` +
		`"num_attention_heads":1,"intermediate_size":4,"image_size":4,"patch_size":4,"num_channels":1,"qkv_bias":false}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if !testdata.Parsed(t, &cfg, err, nn.ErrConfig, nn.ErrUnsupportedArchitecture) {
			return
		}
		_ = cfg.EncoderConfig().NumPatches()
		labels, err := cfg.Labels()
		if err != nil {
			return
		}
		if vitParams(cfg) > 1<<18 {
			return
		}
		m, err := New(cfg, checkpoint.NewStore("fuzz", nil).Root())
		if err == nil {
			m.Close()
			t.Fatalf("model built without weights (%d labels)", len(labels))
		}
		// A classifier config without id2label needs the classifier weight
		// to know its classes: nn.ErrConfig.
		testdata.WantError(t, "building without weights", err, checkpoint.ErrMissingWeights, nn.ErrConfig)
	})
}
