package blip

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
)

// blipParams estimates the number of floats a model of config c allocates
// (caption decoder, question encoder and vision tower), in float64 so that
// absurd dimensions cannot overflow.
func blipParams(c Config) float64 {
	t, v := c.Text, c.Vision
	th, ti, tl := float64(t.HiddenSize), float64(t.IntermediateSize), float64(t.NumHiddenLayers)
	vh, vi, vl := float64(v.HiddenSize), float64(v.IntermediateSize), float64(v.NumHiddenLayers)
	p, s, ch := float64(v.PatchSize), float64(v.ImageSize), float64(v.NumChannels)
	patches := (s/p)*(s/p) + 1
	text := tl*(6*th*th+2*th*vh+2*th*ti+16*th) + float64(t.VocabSize+t.MaxPositionEmbeddings)*th*2
	return 2*text + vl*(4*vh*vh+2*vh*vi+10*vh) + patches*vh + ch*p*p*vh
}

// FuzzLoadConfig checks BLIP config.json reading: no panics, errors wrap
// nn.ErrConfig or nn.ErrUnsupportedArchitecture, an accepted config validates, and building a small model
// from it without weights fails cleanly (missing weights, or an
// unsupported architecture or inconsistent config that New rejects).
func FuzzLoadConfig(f *testing.F) {
	testdata.FuzzSeedFiles(f, 1<<20,
		[]string{"configs", "blip-image-captioning-base", "config.json"},
		[]string{"configs", "blip-vqa-base", "config.json"},
		[]string{"fixtures", "blip-caption", "model", "config.json"},
		[]string{"fixtures", "blip-vqa", "model", "config.json"})
	f.Add([]byte(`{"architectures":["BlipForQuestionAnswering"],"text_config":{"vocab_size":12,"hidden_size":8,` +
		`"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"max_position_embeddings":8,` +
		`"bos_token_id":10,"sep_token_id":3,"pad_token_id":0,"early_stopping":"never"},` +
		`"vision_config":{"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,` +
		`"image_size":8,"patch_size":4}}`))
	f.Add([]byte(`{"architectures":["BlipForConditionalGeneration"],"text_config":{"vocab_size":12,"hidden_size":4,` +
		`"intermediate_size":4,"num_hidden_layers":1,"num_attention_heads":1,"max_position_embeddings":4,` +
		`"bos_token_id":1,"sep_token_id":2,"early_stopping":true},` +
		`"vision_config":{"hidden_size":6,"intermediate_size":4,"num_hidden_layers":1,"num_attention_heads":3,` +
		`"image_size":4,"patch_size":2}}`))
	path := filepath.Join(f.TempDir(), "config.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadConfig(path)
		if !testdata.Parsed(t, cfg, err, nn.ErrConfig, nn.ErrUnsupportedArchitecture) {
			return
		}
		if blipParams(cfg) > 1<<18 {
			return
		}
		_, err = New(cfg, checkpoint.NewStore("fuzz", nil).Root())
		testdata.WantError(t, "building without weights", err, checkpoint.ErrMissingWeights, nn.ErrUnsupportedArchitecture, nn.ErrConfig)
	})
}
