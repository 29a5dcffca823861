package gpt2

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
)

// gpt2Params estimates the number of floats a model of config c allocates,
// in float64 so that absurd dimensions cannot overflow.
func gpt2Params(c Config) float64 {
	d, in, l := float64(c.NEmbd), float64(c.NInner), float64(c.NLayer)
	per := 4*d*d + 2*d*in + 10*d
	if c.AddCrossAttention {
		per += 4*d*d + 6*d
	}
	return l*per + float64(c.VocabSize+c.NPositions)*d
}

// fuzzConfigSeeds adds the vit-gpt2 fixture's config.json (whole, and its
// decoder part is found by the fuzzer's mutations) and small configs.
func fuzzConfigSeeds(f *testing.F) {
	for _, fx := range []string{"vit-gpt2", "whisper", "clip"} {
		testdata.FuzzSeedFiles(f, 1<<20, []string{"fixtures", fx, "model", "config.json"})
	}
	f.Add([]byte(`{"vocab_size":11,"n_positions":6,"n_embd":8,"n_layer":2,"n_head":2,"n_inner":null,` +
		`"activation_function":"gelu_new","add_cross_attention":true,"scale_attn_by_inverse_layer_idx":true}`))
	f.Add([]byte(`{"vocab_size":3,"n_positions":2,"n_embd":4,"n_layer":1,"n_head":4,"n_inner":2,"layer_norm_epsilon":1e-300}`))
}

// FuzzParseConfig checks GPT-2 config parsing: no panics, errors wrap
// nn.ErrConfig, and building a small model from an accepted config
// without weights fails with checkpoint.ErrMissingWeights (or nn.ErrConfig for an
// activation the model does not know).
func FuzzParseConfig(f *testing.F) {
	fuzzConfigSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig("fuzz.json", data)
		if err != nil {
			testdata.WantError(t, "parsing", err, nn.ErrConfig)
			return
		}
		if gpt2Params(cfg) > 1<<18 {
			return
		}
		_, err = New(cfg, checkpoint.NewStore("fuzz", nil).Root())
		testdata.WantError(t, "building without weights", err, checkpoint.ErrMissingWeights, nn.ErrConfig)
	})
}

// FuzzLoadGenerationConfig feeds arbitrary generation_config.json and
// config.json files to LoadGenerationConfig: errors are fine, panics are
// not.
func FuzzLoadGenerationConfig(f *testing.F) {
	var cfg []byte
	if root, ok := testdata.Root(); ok {
		cfg, _ = os.ReadFile(filepath.Join(root, "fixtures", "vit-gpt2", "model", "config.json"))
		for _, fx := range []string{"vit-gpt2", "whisper"} {
			if b, err := os.ReadFile(filepath.Join(root, "fixtures", fx, "model", "generation_config.json")); err == nil {
				f.Add(b, cfg)
			}
		}
	}
	f.Add([]byte(`{"_from_model_config":true}`), []byte(`{"decoder":{"eos_token_id":[1,2],"max_length":7},"num_beams":3}`))
	f.Add([]byte(`{"eos_token_id":5,"forced_eos_token_id":[5,6],"max_new_tokens":4,"no_repeat_ngram_size":2,"early_stopping":"never"}`), cfg)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, gen, config []byte) {
		if err := os.WriteFile(filepath.Join(dir, "generation_config.json"), gen, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "config.json"), config, 0o644); err != nil {
			t.Fatal(err)
		}
		LoadGenerationConfig(dir)
	})
}
