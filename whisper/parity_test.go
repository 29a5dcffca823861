package whisper

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

type whisperCases struct {
	Prompt               []int   `json:"prompt"`
	Greedy               []int   `json:"greedy"`
	GreedyMinMargin      float64 `json:"greedy_min_margin"`
	Beam3                []int   `json:"beam3"`
	DetectedLanguageID   int     `json:"detected_language_id"`
	DetectedLanguageProb float64 `json:"detected_language_prob"`
	TeacherForcedIDs     []int   `json:"teacher_forced_ids"`
	Tokenizer            []struct {
		Text    string `json:"text"`
		IDs     []int  `json:"ids"`
		Decoded string `json:"decoded"`
	} `json:"tokenizer"`
}

// openFixture opens fixture name for the test: it decodes the fixture's
// cases.json into cases (unless cases is nil) and returns the fixture's
// folder and get, which returns a tensor of its expected.safetensors
// (failing t when it is missing; call it from t's goroutine).
func openFixture(t *testing.T, name string, cases any) (dir string, get func(name string) *tensor.Tensor) {
	t.Helper()
	dir = testdata.Fixture(t, name)
	if cases != nil {
		testdata.ReadJSON(t, filepath.Join(dir, "cases.json"), cases)
	}
	exp, err := checkpoint.OpenSafetensors(filepath.Join(dir, "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exp.Close() })
	return dir, func(name string) *tensor.Tensor {
		t.Helper()
		x, err := exp.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
}

// loadFixture opens fixture name like openFixture and loads its model with
// opts (closed when the test ends).
func loadFixture(t *testing.T, name string, cases any, opts ...Option) (*Model, func(name string) *tensor.Tensor) {
	t.Helper()
	dir, get := openFixture(t, name, cases)
	return testdata.LoadModel(t, dir, Load, opts...), get
}

// forcedLogits runs m's decoder once over ids (teacher forcing) on the
// encoder output enc and returns the logits [1, len(ids), vocab]; probs,
// when not nil, receives each layer's cross-attention probabilities.
func forcedLogits(t *testing.T, ctx context.Context, m *Model, enc *tensor.Tensor, ids []int, probs []*tensor.Tensor) *tensor.Tensor {
	t.Helper()
	dec, err := m.NewDecoder(enc)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Release()
	h, err := dec.Forward(ctx, [][]int{ids}, probs)
	if err != nil {
		t.Fatal(err)
	}
	l, err := dec.Logits(h)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestParity_whisper(t *testing.T) {
	var cases whisperCases
	m, get := loadFixture(t, "whisper", &cases)
	ctx := context.Background()
	const tol = 1e-4

	wantFeat := get("input_features")
	pcm := get("audio").Contiguous().Data()
	feat, err := audio.LogMel(pcm, m.Config.NumMelBins)
	if err != nil {
		t.Fatal(err)
	}
	testdata.CheckClose(t, "input_features", feat.MustReshape(wantFeat.Shape()...), wantFeat, tol)

	mel := wantFeat.Index(0)
	enc, err := m.Encode(ctx, mel)
	if err != nil {
		t.Fatal(err)
	}
	testdata.CheckClose(t, "encoder_out", enc, get("encoder_out"), tol)

	// teacher-forced logits
	logits := forcedLogits(t, ctx, m, enc, cases.TeacherForcedIDs, nil)
	testdata.CheckClose(t, "teacher_forced_logits", logits, get("teacher_forced_logits"), tol)
	// cross-attention probabilities, as word timing reads them
	probsOut := make([]*tensor.Tensor, m.Config.DecoderLayers)
	forcedLogits(t, ctx, m, enc, cases.TeacherForcedIDs, probsOut)
	for l, p := range probsOut {
		want := []int{1, m.Config.DecoderHeads, len(cases.TeacherForcedIDs), enc.Dim(1)}
		if !slices.Equal(p.Shape(), want) {
			t.Fatalf("layer %d cross probabilities %v, want %v", l, p.Shape(), want)
		}
		row := p.Index(0).Index(0).Index(0).Contiguous().Data()
		var sum float64
		for _, v := range row {
			sum += float64(v)
		}
		if math.Abs(sum-1) > 1e-4 {
			t.Errorf("layer %d cross probabilities sum to %v", l, sum)
		}
	}

	// the same logits fed one token at a time through the KV cache
	dec2, _ := m.NewDecoder(enc)
	wantTF := get("teacher_forced_logits").Index(0)
	var inc float64
	for i, id := range cases.TeacherForcedIDs {
		h, err := dec2.Forward(ctx, [][]int{{id}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := dec2.Logits(h)
		inc = max(inc, testdata.TensorDiff(t, "incremental", l.MustReshape(wantTF.Dim(1)), wantTF.Index(i)))
	}
	t.Logf("teacher_forced_logits (incremental, KV cache) max|Δ| = %.3g", inc)
	if inc > tol {
		t.Errorf("incremental logits max|Δ| = %g > %g", inc, tol)
	}

	// language detection
	langLogits, probs, err := m.languageLogits(ctx, enc)
	if err != nil {
		t.Fatal(err)
	}
	testdata.CheckClose(t, "language_logits", langLogits[0], get("language_logits"), tol)
	tok := m.specials()
	best, bestP := "", -1.0
	for code, p := range probs[0] {
		if p > bestP {
			best, bestP = code, p
		}
	}
	wantCode := tok.LanguageCode(cases.DetectedLanguageID)
	if best != wantCode || math.Abs(bestP-cases.DetectedLanguageProb) > 1e-4 {
		t.Errorf("detected %q p=%.6f, want %q p=%.6f", best, bestP, wantCode, cases.DetectedLanguageProb)
	} else {
		t.Logf("detected language %q p=%.6f (want %.6f)", best, bestP, cases.DetectedLanguageProb)
	}

	// greedy and beam search, as transformers' generate
	greedy, err := m.Generate(ctx, mel, GenerateOptions{Prompt: cases.Prompt, MaxNewTokens: len(cases.Greedy) - len(cases.Prompt)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(greedy, cases.Greedy) {
		t.Errorf("greedy ids\n got %v\nwant %v", greedy, cases.Greedy)
	}
	beam, err := m.Generate(ctx, mel, GenerateOptions{Prompt: cases.Prompt, MaxNewTokens: len(cases.Beam3) - len(cases.Prompt), NumBeams: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(beam, cases.Beam3) {
		t.Errorf("beam3 ids\n got %v\nwant %v", beam, cases.Beam3)
	}

	testTokenizerCases(t, m, cases)
}

func testTokenizerCases(t *testing.T, m *Model, cases whisperCases) {
	t.Helper()
	tok := m.Tokenizer()
	if tok == nil {
		t.Fatal("fixture model has no tokenizer")
	}
	for _, c := range cases.Tokenizer {
		ids, err := tok.Encode(c.Text)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids, c.IDs) {
			t.Errorf("encode(%q) = %v, want %v", c.Text, ids, c.IDs)
		}
		if got := tok.Decode(c.IDs); got != c.Decoded {
			t.Errorf("decode(%v) = %q, want %q", c.IDs, got, c.Decoded)
		}
	}
}
