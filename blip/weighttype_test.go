package blip

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// TestWithWeightType runs the float32 blip-caption fixture with its linear
// weights packed 16-bit (WithWeightType) and reports the cost against the
// fixture's transformers outputs: vision features and teacher-forced
// logits, relative to the largest value. The bounds are the opt-in's
// documented cost with a margin.
func TestWithWeightType(t *testing.T) {
	dir := testdata.Fixture(t, "blip-caption")
	if _, err := Load(filepath.Join(dir, "model"), WithWeightType(tensor.WeightType(9))); !errors.Is(err, nn.ErrConfig) {
		t.Fatalf("unknown weight type: err %v, want nn.ErrConfig", err)
	}
	var cases captionCases
	testdata.ReadJSON(t, filepath.Join(dir, "cases.json"), &cases)
	exp := filepath.Join(dir, "expected.safetensors")
	px := expected.Read(t, exp, "pixel_values")
	wantEmb := expected.Read(t, exp, "vision_last_hidden_state")
	wantTF := expected.Read(t, exp, "teacher_forced_logits")
	for _, c := range []struct {
		typ          tensor.WeightType
		embTol, lTol float64
	}{
		{tensor.WeightF16, 2e-3, 2e-3},
		{tensor.WeightBF16, 2e-2, 2e-2},
	} {
		m := testdata.LoadModel(t, dir, Load, WithWeightType(c.typ))
		ctx := context.Background()
		emb, err := m.EncodeImages(ctx, px)
		if err != nil {
			t.Fatal(err)
		}
		logits := teacherForced(t, m, emb, cases.TeacherForcedIDs, wantTF.Dim(0))
		de, dl := testdata.RelDiff(t, "vision_last_hidden_state", emb, wantEmb), testdata.RelDiff(t, "teacher_forced_logits", logits, wantTF)
		t.Logf("%v weights: vision_last_hidden_state max|Δ|/max|x| = %.3g, teacher_forced_logits max|Δ|/max|x| = %.3g", c.typ, de, dl)
		if de > c.embTol || dl > c.lTol {
			t.Errorf("%v weights: relative error vision %.3g (bound %g), logits %.3g (bound %g)", c.typ, de, c.embTol, dl, c.lTol)
		}
		m.Close()
	}
}

// teacherForced returns the decoder logits of ids after each of the first
// n image embeddings.
func teacherForced(t *testing.T, m *Model, emb *tensor.Tensor, ids []int, n int) *tensor.Tensor {
	t.Helper()
	rows := make([][]int, n)
	for i := range rows {
		rows[i] = ids
	}
	logits, err := m.DecoderLogits(context.Background(), emb.Slice(0, 0, n).Contiguous(), rows)
	if err != nil {
		t.Fatal(err)
	}
	return logits
}

// TestWithKVType keeps the caption decoder's cross-attention keys and
// values 16-bit: teacher-forced logits against the fixture, and a beam
// search (which reorders the packed keys and values between beams) whose
// result is logged next to the float32 one.
func TestWithKVType(t *testing.T) {
	dir := testdata.Fixture(t, "blip-caption")
	var cases captionCases
	testdata.ReadJSON(t, filepath.Join(dir, "cases.json"), &cases)
	exp := filepath.Join(dir, "expected.safetensors")
	wantTF := expected.Read(t, exp, "teacher_forced_logits")
	px := expected.Read(t, exp, "pixel_values")
	ctx := context.Background()
	ref := loadModel(t, dir)
	refEmb, err := ref.EncodeImages(ctx, px)
	if err != nil {
		t.Fatal(err)
	}
	beams := Options{NumBeams: 3, MaxNewTokens: 12}
	refIDs, err := ref.GenerateIDs(ctx, refEmb, nil, beams)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		typ tensor.WeightType
		tol float64
	}{{tensor.WeightF16, 1e-3}, {tensor.WeightBF16, 1e-2}} {
		m := testdata.LoadModel(t, dir, Load, WithKVType(c.typ))
		emb, err := m.EncodeImages(ctx, px)
		if err != nil {
			t.Fatal(err)
		}
		logits := teacherForced(t, m, emb, cases.TeacherForcedIDs, wantTF.Dim(0))
		rel := testdata.RelDiff(t, "teacher_forced_logits", logits, wantTF)
		got, err := m.GenerateIDs(ctx, emb, nil, beams)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%v keys/values: teacher_forced_logits max|Δ|/max|x| = %.3g; beam ids %v (float32 %v)", c.typ, rel, got, refIDs)
		if rel > c.tol {
			t.Errorf("%v keys/values: relative logits error %.3g > %g", c.typ, rel, c.tol)
		}
		if len(got) != len(refIDs) {
			t.Errorf("%v keys/values: %d captions for %d images", c.typ, len(got), len(refIDs))
		}
		m.Close()
	}
}
