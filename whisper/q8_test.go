package whisper

import (
	"context"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// TestQ8_whisper runs the whisper fixture with int8 weights
// (WithWeightType(tensor.WeightQ8)) and measures what the quantization
// costs against the float32 reference outputs: encoder output and
// teacher-forced logits (max|Δ| / max|x|, top-1 agreement over the
// positions), and whether greedy and 3-beam ids stay those of the fixture.
// The asserted bounds are the documented accuracy budget of WeightQ8
// (tensor/PERFORMANCE.md); ids are reported, not asserted (a random-weight
// model's margins can be below the quantization noise).
func TestQ8_whisper(t *testing.T) {
	var cases whisperCases
	m, get := loadFixture(t, "whisper", &cases, WithWeightType(tensor.WeightQ8))
	if m.proj.Type != tensor.WeightQ8 || m.encBlocks[0].MLP.FC1.Type != tensor.WeightQ8 {
		t.Fatalf("projection packed as %v, fc1 as %v; want Q8", m.proj.Type, m.encBlocks[0].MLP.FC1.Type)
	}
	ctx := context.Background()
	mel := get("input_features").Index(0)
	enc, err := m.Encode(ctx, mel)
	if err != nil {
		t.Fatal(err)
	}
	wantEnc := get("encoder_out")
	ae := testdata.CompareLogits(enc.Contiguous().Data(), wantEnc.Contiguous().Data(), wantEnc.Dim(-1))
	logits := forcedLogits(t, ctx, m, enc, cases.TeacherForcedIDs, nil)
	want := get("teacher_forced_logits")
	al := testdata.CompareLogits(logits.Contiguous().Data(), want.Contiguous().Data(), want.Dim(-1))
	greedy, err := m.Generate(ctx, mel, GenerateOptions{Prompt: cases.Prompt, MaxNewTokens: len(cases.Greedy) - len(cases.Prompt)})
	if err != nil {
		t.Fatal(err)
	}
	beam, err := m.Generate(ctx, mel, GenerateOptions{Prompt: cases.Prompt, MaxNewTokens: len(cases.Beam3) - len(cases.Prompt), NumBeams: 3})
	if err != nil {
		t.Fatal(err)
	}
	gs, gi := testdata.SameIDs(greedy, cases.Greedy)
	bs, bi := testdata.SameIDs(beam, cases.Beam3)
	t.Logf("Q8 (%s kernels): encoder_out max|Δ|/max|x| = %.4f", tensor.Q8Kernel(), ae.Rel)
	t.Logf("Q8: teacher-forced logits %v", al)
	t.Logf("Q8: greedy ids identical %v (first difference %d, fixture min margin %.3g), beam3 ids identical %v (%d)", gs, gi, cases.GreedyMinMargin, bs, bi)
	if ae.Rel > testdata.Q8Rel || al.Rel > testdata.Q8Rel || al.Rel == 0 || al.Top1 < testdata.Q8Top1 {
		t.Errorf("Q8 accuracy out of budget: encoder %.4f (≤ %g), logits %.4f (in (0, %g]), top-1 %.3f (≥ %g)", ae.Rel, testdata.Q8Rel, al.Rel, testdata.Q8Rel, al.Top1, testdata.Q8Top1)
	}
}
