package llm

import (
	"context"
	"slices"
	"testing"

	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// q8Check logs and checks the teacher-forced logits of a Q8 model against
// the float32 reference (the documented budget: testdata.Q8Rel,
// testdata.Q8Top1; tensor/PERFORMANCE.md).
func q8Check(t *testing.T, got, want *tensor.Tensor, same, cases int) {
	t.Helper()
	a := testdata.CompareLogits(got.Contiguous().Data(), want.Contiguous().Data(), want.Dim(-1))
	t.Logf("Q8 (%s kernels): teacher-forced logits %v; %d of %d greedy generations identical to the fixture's", tensor.Q8Kernel(), a, same, cases)
	testdata.CheckQ8(t, "logits", a)
}

// TestQ8_blip2 runs the OPT language model of the blip2 fixture with int8
// weights on the fixture's query outputs: teacher-forced logits and
// unconditional greedy ids.
func TestQ8_blip2(t *testing.T) {
	var cs blip2Cases
	dir := testdata.Cases(t, "blip2", &cs)
	m := fixtureModel(t, dir, nn.WithWeightType(tensor.WeightQ8))
	exp := expected.Tensors(t, "blip2", "language_model_inputs", "teacher_forced_logits")
	lmi, wantTF := exp[0], exp[1]
	nq := lmi.Dim(1)
	tf := cs.TeacherForced
	if len(tf.IDs) == 0 {
		testdata.Missing(t, "blip2 teacher_forced case")
	}
	lg := logitsOf(t, m, blip2Inputs(t, m, lmi.Index(testdata.Index(t, cs.Images, tf.Image)), tf.IDs))
	same := 0
	opt := cs.Generate["unconditional"].options(m)
	bos := m.Config().BOSTokenID
	for i, c := range cs.Unconditional {
		got, err := m.Generate(context.Background(), Prompt{IDs: []int{bos}, Embeds: blip2Inputs(t, m, lmi.Index(i), []int{bos})}, opt)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(got, c.IDs) {
			same++
		}
	}
	q8Check(t, lg.Slice(1, nq, lg.Dim(1)), wantTF, same, len(cs.Unconditional))
}

// TestQ8_llava runs the Llama language model of the llava fixture (an F16
// checkpoint, quantized too) with int8 weights on the fixture's image
// features: teacher-forced logits and greedy ids.
func TestQ8_llava(t *testing.T) {
	var cs llavaCases
	dir := testdata.Cases(t, "llava", &cs)
	m := fixtureModel(t, dir, nn.WithWeightType(tensor.WeightQ8))
	exp := expected.Tensors(t, "llava", "image_features", "teacher_forced_logits")
	feats, wantTF := exp[0], exp[1]
	np := feats.Dim(1)
	merged := func(img string, ids []int) (*tensor.Tensor, int) {
		return llavaMerged(t, m, feats.Index(testdata.Index(t, cs.Images, img)), cs.ImageTokenIndex, ids)
	}
	tf := cs.TeacherForced
	if len(tf.IDs) == 0 {
		testdata.Missing(t, "llava teacher_forced case")
	}
	x, p := merged(tf.Image, tf.IDs)
	lg := logitsOf(t, m, x)
	same := 0
	opt := cs.Generate.options(m)
	for _, c := range cs.Cases {
		x, _ := merged(c.Image, c.InputIDs)
		got, err := m.Generate(context.Background(), Prompt{IDs: c.InputIDs, Embeds: x}, opt)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(got, c.IDs) {
			same++
		}
	}
	q8Check(t, lg.Slice(1, p+np, lg.Dim(1)), wantTF, same, len(cs.Cases))
}
