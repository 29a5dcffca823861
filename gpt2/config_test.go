package gpt2

import (
	"context"
	"errors"
	"image"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig("t", []byte(`{"n_embd": 64, "n_head": 4, "n_inner": null, "scale_attn_by_inverse_layer_idx": true}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.NInner != 256 || !c.ScaleAttnWeights || !c.ScaleAttnByInverseLayerIdx || c.NLayer != 12 || c.ActivationFunction != "gelu_new" {
		t.Errorf("defaults not applied: %+v", c)
	}
	for _, bad := range []string{`{"n_embd": 10, "n_head": 4}`, `{"n_layer": 0}`, `{"n_embd": "x"}`, `{`} {
		if _, err := ParseConfig("t", []byte(bad)); !errors.Is(err, nn.ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", bad, err)
		}
	}
}

func TestGenerationConfig(t *testing.T) {
	g := defaultGeneration()
	if err := mergeGeneration("config.json", []byte(`{"decoder_start_token_id": 7, "eos_token_id": [5, 6], "num_beams": 4}`), &g); err != nil {
		t.Fatal(err)
	}
	if err := mergeGeneration("generation_config.json", []byte(`{"max_length": 16, "early_stopping": "never", "length_penalty": 0.5, "no_repeat_ngram_size": 3}`), &g); err != nil {
		t.Fatal(err)
	}
	want := GenerationConfig{DecoderStartTokenID: 7, BOSTokenID: -1, EOSTokenIDs: []int{5, 6}, PadTokenID: -1, MaxLength: 16,
		NumBeams: 4, LengthPenalty: 0.5, EarlyStopping: "never", NoRepeatNgramSize: 3, RepetitionPenalty: 1, NumBeamGroups: 1}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("merged %+v, want %+v", g, want)
	}
	if err := mergeGeneration("g", []byte(`{"early_stopping": "sometimes"}`), &g); !errors.Is(err, nn.ErrConfig) {
		t.Errorf("bad early_stopping: err = %v", err)
	}
	c := &Captioner{gen: g, decoder: &Model{cfg: smallGPT2(true)}}
	s := c.Search(CaptionOptions{})
	if s.MaxLength != 16 || s.NumBeams != 4 || !slices.Equal(s.EOS, []int{5, 6}) || s.LengthPenalty != 0.5 || s.EarlyStopping != "never" || s.NoRepeatNgramSize != 3 {
		t.Errorf("Search() = %+v", s)
	}
	if s := c.Search(CaptionOptions{MaxNewTokens: 5, Beams: 1}); s.MaxLength != 6 || s.NumBeams != 1 {
		t.Errorf("Search(5 new tokens, greedy) = %+v", s)
	}
	c.gen.MaxNewTokens = 9
	if s := c.Search(CaptionOptions{}); s.MaxLength != 10 {
		t.Errorf("max_new_tokens 9: MaxLength %d, want 10", s.MaxLength)
	}
}

func TestLoadGenerationConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// From the model config: top-level values, then the decoder's values for
	// settings still at their defaults.
	write("config.json", `{"decoder_start_token_id": 1, "eos_token_id": 2, "num_beams": 1,
		"decoder": {"max_length": 32, "num_beams": 4, "eos_token_id": 9, "bos_token_id": 5, "do_sample": false}}`)
	g, err := LoadGenerationConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if g.DecoderStartTokenID != 1 || !slices.Equal(g.EOSTokenIDs, []int{2}) || g.MaxLength != 32 || g.NumBeams != 4 || g.BOSTokenID != 5 {
		t.Errorf("from model config: %+v", g)
	}
	// A generation_config.json derived from the model config defers to it.
	write("generation_config.json", `{"_from_model_config": true, "max_length": 7}`)
	if g2, err := LoadGenerationConfig(dir); err != nil || !reflect.DeepEqual(g2, g) {
		t.Errorf("_from_model_config: %+v, %v; want %+v", g2, err, g)
	}
	// An authored generation_config.json is used alone.
	write("generation_config.json", `{"max_length": 7, "eos_token_id": 3}`)
	g, err = LoadGenerationConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if g.MaxLength != 7 || !slices.Equal(g.EOSTokenIDs, []int{3}) || g.NumBeams != 1 || g.DecoderStartTokenID != -1 {
		t.Errorf("generation_config.json: %+v", g)
	}
	write("generation_config.json", `{"do_sample": true}`)
	g, _ = LoadGenerationConfig(dir)
	if err := g.check(); !errors.Is(err, nn.ErrConfig) {
		t.Errorf("do_sample: check() = %v", err)
	}
	// The fixture: ids from config.json and its decoder.
	g, err = LoadGenerationConfig(filepath.Join(testdata.Fixture(t, "vit-gpt2"), "model"))
	if err != nil {
		t.Fatal(err)
	}
	if g.DecoderStartTokenID != 50256 || !slices.Equal(g.EOSTokenIDs, []int{50256}) || g.MaxLength != 20 || g.NumBeams != 1 {
		t.Errorf("fixture: %+v", g)
	}
}

func TestLoadErrors(t *testing.T) {
	w2v := filepath.Join(testdata.Fixture(t, "wav2vec2"), "model")
	if _, err := LoadCaptioner(w2v); !errors.Is(err, nn.ErrUnsupportedArchitecture) {
		t.Errorf("LoadCaptioner(wav2vec2): err = %v", err)
	}
	ved := filepath.Join(testdata.Fixture(t, "vit-gpt2"), "model")
	if _, err := Load(ved); !errors.Is(err, nn.ErrUnsupportedArchitecture) {
		t.Errorf("Load(vision-encoder-decoder): err = %v", err)
	}
	// A checkpoint directory whose weights lack a tensor.
	dir := t.TempDir()
	for _, f := range []string{"config.json", "preprocessor_config.json", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"} {
		b, err := os.ReadFile(filepath.Join(ved, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	if _, err := LoadCaptioner(dir); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Errorf("no weights: err = %v", err)
	}
}

func TestConcurrentCaptions(t *testing.T) {
	c := loadCaptioner(t, testdata.Fixture(t, "vit-gpt2"))
	px := expected.Tensor(t, "vit-gpt2", "pixel_values")
	ctx := context.Background()
	opt := CaptionOptions{MaxNewTokens: 4, Beams: 2}
	want, err := c.CaptionPixels(ctx, px, opt)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < px.Dim(0); g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := c.CaptionPixels(ctx, px.Slice(0, g, g+1), opt)
			if err != nil || !slices.Equal(got[0].IDs, want[g].IDs) || got[0].Text != want[g].Text {
				t.Errorf("image %d: concurrent caption %v (err %v), want %v", g, got, err, want[g])
			}
		}()
	}
	wg.Wait()
}

// TestCaptionLimits checks that beams over generate.MaxBeams and token
// counts over n_positions are refused with ErrInput naming the limit before
// the encoder runs (a cancelled context would otherwise be reported).
func TestCaptionLimits(t *testing.T) {
	c := loadCaptioner(t, testdata.Fixture(t, "vit-gpt2"))
	n := c.Decoder().Config().NPositions
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for _, cs := range []struct {
		opt   CaptionOptions
		limit int
	}{
		{CaptionOptions{Beams: 1000}, generate.MaxBeams},
		{CaptionOptions{Beams: generate.MaxBeams + 1}, generate.MaxBeams},
		{CaptionOptions{MaxNewTokens: n}, n - 1},
		{CaptionOptions{MaxNewTokens: int(^uint(0) >> 1)}, n - 1},
	} {
		_, err := c.CaptionBatch(ctx, []image.Image{img}, cs.opt)
		if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), strconv.Itoa(cs.limit)) {
			t.Errorf("CaptionBatch(%+v): %v, want ErrInput naming %d", cs.opt, err, cs.limit)
		}
		if _, err := c.CaptionPixels(ctx, tensor.New(1, 3, 8, 8), cs.opt); !errors.Is(err, ErrInput) {
			t.Errorf("CaptionPixels(%+v): %v, want ErrInput", cs.opt, err)
		}
	}
	for _, opt := range []CaptionOptions{{Beams: -3}, {MaxNewTokens: -1}} {
		if _, err := c.CaptionBatch(ctx, []image.Image{img}, opt); !errors.Is(err, ErrInput) {
			t.Errorf("CaptionBatch(%+v): %v, want ErrInput", opt, err)
		}
	}
}
