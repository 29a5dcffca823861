package clip

import (
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
)

// clipParams estimates the number of floats a model of config c allocates,
// in float64 so that absurd dimensions cannot overflow.
func clipParams(c Config) float64 {
	t, v := c.Text, c.Vision
	th, ti, tl := float64(t.HiddenSize), float64(t.IntermediateSize), float64(t.NumHiddenLayers)
	vh, vi, vl := float64(v.HiddenSize), float64(v.IntermediateSize), float64(v.NumHiddenLayers)
	p, s, ch := float64(v.PatchSize), float64(v.ImageSize), float64(v.NumChannels)
	patches := (s/p)*(s/p) + 1
	return tl*(4*th*th+2*th*ti+10*th) + float64(t.VocabSize+t.MaxPositionEmbeddings)*th +
		vl*(4*vh*vh+2*vh*vi+10*vh) + patches*vh + ch*p*p*vh +
		float64(c.ProjectionDim)*(th+vh)
}

// FuzzParseConfig checks CLIP config.json parsing (including the legacy
// *_config_dict overrides): no panics, errors wrap nn.ErrConfig or
// nn.ErrUnsupportedArchitecture, an accepted config validates, and building
// a small model from it without weights fails with checkpoint.ErrMissingWeights.
func FuzzParseConfig(f *testing.F) {
	testdata.FuzzSeedFiles(f, 1<<20,
		[]string{"configs", "clip-vit-base-patch32", "config.json"},
		[]string{"fixtures", "clip", "model", "config.json"},
		[]string{"fixtures", "vit", "model", "config.json"})
	f.Add([]byte(`{"model_type":"clip","projection_dim":4,"text_config":{"vocab_size":10,"hidden_size":8,` +
		`"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"max_position_embeddings":6},` +
		`"vision_config":{"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,` +
		`"image_size":8,"patch_size":4}}`))
	f.Add([]byte(`{"text_config_dict":{"hidden_size":4,"num_attention_heads":1},"vision_config_dict":null,"text_config":{"hidden_act":"gelu"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig("fuzz.json", data)
		if !testdata.Parsed(t, cfg, err, nn.ErrConfig, nn.ErrUnsupportedArchitecture) {
			return
		}
		if clipParams(cfg) > 1<<18 {
			return
		}
		_, err = New(cfg, checkpoint.NewStore("fuzz", nil).Root())
		testdata.WantError(t, "building without weights", err, checkpoint.ErrMissingWeights)
	})
}
