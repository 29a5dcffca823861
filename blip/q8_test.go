package blip

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// q8Model loads a fixture with int8 weights (WithWeightType(WeightQ8)).
func q8Model(t *testing.T, dir string) *Model {
	t.Helper()
	return testdata.LoadModel(t, dir, Load, WithWeightType(tensor.WeightQ8))
}

// q8IDs generates the cases' sequences (batched by length limit, as the
// parity tests do) and returns how many are identical to the fixture's.
func q8IDs(t *testing.T, m *Model, embeds *tensor.Tensor, gc []genCase, gen func(emb *tensor.Tensor, idx []int, o Options) ([][]int, error)) int {
	t.Helper()
	same := 0
	for lim, idx := range sameLimits(gc, m.Config().Text.SepTokenID) {
		ids, err := gen(subBatch(embeds, idx), idx, lim)
		if err != nil {
			t.Fatal(err)
		}
		for i, j := range idx {
			if ok, _ := testdata.SameIDs(ids[i], gc[j].IDs); ok {
				same++
			}
		}
	}
	return same
}

// TestQ8_blip_caption runs the blip-caption fixture with int8 weights and
// measures against the float32 reference: vision features and
// teacher-forced logits (max|Δ| / max|x|, top-1 agreement over positions)
// within the documented budget (testdata.Q8Rel, testdata.Q8Top1;
// tensor/PERFORMANCE.md), and reports how many greedy (unconditional,
// conditional) and beam captions keep the fixture's ids.
func TestQ8_blip_caption(t *testing.T) {
	dir := testdata.Fixture(t, "blip-caption")
	cases := readCaptionCases(t, dir)
	m := q8Model(t, dir)
	exp := filepath.Join(dir, "expected.safetensors")
	ctx := context.Background()
	embeds, err := m.EncodeImages(ctx, expected.Read(t, exp, "pixel_values"))
	if err != nil {
		t.Fatal(err)
	}
	wantEmb := expected.Read(t, exp, "vision_last_hidden_state")
	ae := testdata.CompareLogits(embeds.Contiguous().Data(), wantEmb.Contiguous().Data(), wantEmb.Dim(-1))
	wantTF := expected.Read(t, exp, "teacher_forced_logits")
	logits := teacherForced(t, m, embeds, cases.TeacherForcedIDs, wantTF.Dim(0))
	al := testdata.CompareLogits(logits.Contiguous().Data(), wantTF.Contiguous().Data(), wantTF.Dim(-1))
	t.Logf("Q8 (%s kernels): vision_last_hidden_state max|Δ|/max|x| = %.4f", tensor.Q8Kernel(), ae.Rel)
	t.Logf("Q8: teacher-forced logits %v", al)

	for _, r := range cases.runs(t) {
		same := q8IDs(t, m, embeds, r.cases, func(emb *tensor.Tensor, _ []int, o Options) ([][]int, error) {
			o.NumBeams = r.beams
			return m.GenerateIDs(ctx, emb, r.prompt, o)
		})
		t.Logf("Q8: %s: %d of %d sequences identical to the fixture's", r.name, same, len(r.cases))
	}
	testdata.CheckQ8Rel(t, "vision_last_hidden_state", ae.Rel)
	testdata.CheckQ8(t, "teacher-forced logits", al)
}

// TestQ8_blip_vqa runs the blip-vqa fixture with int8 weights: the vision
// features against the float32 model's (within testdata.Q8Rel), and how
// many greedy answers keep the fixture's ids.
func TestQ8_blip_vqa(t *testing.T) {
	dir := testdata.Fixture(t, "blip-vqa")
	cases := readVQACases(t, dir)
	m, m32 := q8Model(t, dir), loadModel(t, dir)
	exp := filepath.Join(dir, "expected.safetensors")
	ctx := context.Background()
	px := expected.Read(t, exp, "pixel_values")
	embeds, err := m.EncodeImages(ctx, px)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m32.EncodeImages(ctx, px)
	if err != nil {
		t.Fatal(err)
	}
	ae := testdata.CompareLogits(embeds.Contiguous().Data(), want.Contiguous().Data(), want.Dim(-1))
	gc := make([]genCase, len(cases.QA))
	for i, c := range cases.QA {
		gc[i] = genCase{PromptIDs: c.QuestionIDs, IDs: c.IDs, Text: c.Answer, MinMargin: c.MinMargin}
	}
	same := q8IDs(t, m, embeds, gc, func(emb *tensor.Tensor, idx []int, o Options) ([][]int, error) {
		qs := make([][]int, len(idx))
		for i, j := range idx {
			qs[i] = gc[j].PromptIDs
		}
		return m.AnswerIDs(ctx, emb, qs, o)
	})
	t.Logf("Q8 (%s kernels): vision features max|Δ|/max|x| = %.4f; %d of %d greedy answers identical to the fixture's", tensor.Q8Kernel(), ae.Rel, same, len(gc))
	testdata.CheckQ8Rel(t, "vision features", ae.Rel)
}
