package whisper

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

func TestConfigs(t *testing.T) {
	for _, c := range []struct {
		name                   string
		mels, vocab, langs, tb int
	}{
		{"whisper-tiny", 80, 51865, 99, 50364},
		{"whisper-base", 80, 51865, 99, 50364},
		{"whisper-small", 80, 51865, 99, 50364},
		{"whisper-large-v3", 128, 51866, 100, 50365},
	} {
		cfg, err := LoadConfig(testdata.Path(t, "configs", c.name, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.NumMelBins != c.mels || cfg.VocabSize != c.vocab || cfg.NumFrames() != 3000 {
			t.Errorf("%s: %+v", c.name, cfg)
		}
		tok := specialsFromVocabSize(cfg.VocabSize)
		if len(tok.Languages) != c.langs || tok.TimestampBegin != c.tb || tok.TimestampBegin+1501 != cfg.VocabSize {
			t.Errorf("%s: %d languages, timestamps from %d", c.name, len(tok.Languages), tok.TimestampBegin)
		}
	}
	// the English-only layout
	en := specialsFromVocabSize(51864)
	if en.Multilingual || en.EOT != 50256 || en.SOT != 50257 || en.NoTimestamps != 50362 || en.TimestampBegin != 50363 {
		t.Errorf("English-only specials %+v", en)
	}
}

// TestLargeV3Layout runs a tiny random model with large-v3's 128 mel bins
// and 51866-token vocabulary (100 languages) end to end.
func TestLargeV3Layout(t *testing.T) {
	cfg := Config{NumMelBins: 128, DModel: 32, EncoderLayers: 1, EncoderHeads: 2, EncoderFFN: 64,
		DecoderLayers: 2, DecoderHeads: 2, DecoderFFN: 64, MaxSourcePositions: 1500,
		MaxTargetPositions: 448, VocabSize: 51866, ActivationFunction: "gelu"}
	m := randomModel(t, cfg)
	ctx := context.Background()
	mel := tensor.New(128, 3000)
	probs, err := m.DetectLanguage(ctx, mel)
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 100 {
		t.Errorf("%d languages", len(probs))
	}
	var sum float64
	for _, p := range probs {
		sum += p.Probability
	}
	if math.Abs(sum-1) > 1e-4 {
		t.Errorf("language probabilities sum to %v", sum)
	}
	ids, err := m.Generate(ctx, mel, GenerateOptions{Prompt: []int{50258, 50259, 50360, 50364}, MaxNewTokens: 3})
	if err != nil || len(ids) < 5 {
		t.Errorf("generate: %v %v", ids, err)
	}
	if _, err := m.Decode(ctx, tensor.New(80, 3000), DecodingOptions{}); err == nil {
		t.Error("80-bin input accepted by a 128-bin model")
	}
	if got := m.alignmentHeads(); len(got) != 2 || got[0] != [2]int{1, 0} {
		t.Errorf("default alignment heads %v", got)
	}
}

func TestRanker(t *testing.T) {
	seqs := [][]int{make([]int, 10), make([]int, 2)}
	lps := []float64{-5, -2}
	// simple length normalisation: -0.5 vs -1
	if got := rankSequences(seqs, lps, nil); got != 0 {
		t.Errorf("length-normalised rank %d", got)
	}
	// Google NMT penalty with alpha 0: raw log-probabilities
	if got := rankSequences(seqs, lps, Float(0)); got != 1 {
		t.Errorf("alpha=0 rank %d", got)
	}
	// alpha 1: -5/2.5 = -2 vs -2/(7/6) = -1.71
	if got := rankSequences(seqs, lps, Float(1)); got != 1 {
		t.Errorf("alpha=1 rank %d", got)
	}
}

func TestBeamSearchPatience(t *testing.T) {
	const eot, V = 3, 6
	row := func(best ...int) []float32 {
		r := make([]float32, V)
		for i := range r {
			r[i] = -10
		}
		for k, id := range best {
			r[id] = float32(5 - k)
		}
		return r
	}
	for _, c := range []struct {
		patience  float64
		wantCands int
	}{{0, 2}, {1, 2}, {2, 4}} {
		b := newBeamSearch(2, eot, c.patience, 1)
		if b.maxCandidates != c.wantCands {
			t.Errorf("patience %v: %d candidates, want %d", c.patience, b.maxCandidates, c.wantCands)
		}
		rows := [][]int{{0}, {0}}
		sums := make([]float32, 2)
		done := false
		steps := 0
		for !done && steps < 10 {
			// eot is always the second-best continuation
			logits := [][]float32{row(1, eot, 2), row(2, eot, 1)}
			var err error
			rows, done, _, err = b.update(rows, logits, sums)
			if err != nil {
				t.Fatal(err)
			}
			steps++
		}
		if !done || b.finished[0].len() != c.wantCands {
			t.Errorf("patience %v: done=%v after %d steps with %d finished", c.patience, done, steps, b.finished[0].len())
		}
		cands, _ := b.finalize(rows, sums, 1, 2)
		if len(cands[0]) < 2 {
			t.Errorf("patience %v: %d candidates", c.patience, len(cands[0]))
		}
	}
}

func TestSampling(t *testing.T) {
	m := testdata.LoadModel(t, testdata.Fixture(t, "whisper"), Load)
	mel := tensor.New(80, 3000)
	o := DecodingOptions{Language: "en", Temperature: 1, BestOf: 3, SampleLen: 10, Seed: 7}
	a, err := m.Decode(context.Background(), mel, o)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.Decode(context.Background(), mel, o)
	if !slices.Equal(a[0].Tokens, b[0].Tokens) || a[0].Temperature != 1 {
		t.Errorf("seeded sampling is not reproducible: %v vs %v", a[0].Tokens, b[0].Tokens)
	}
}
