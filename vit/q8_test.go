package vit

import (
	"context"
	"testing"

	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// TestQ8_vit runs the vit fixture with int8 weights
// (WithWeightType(tensor.WeightQ8)) on the fixture's pixel values and
// measures the logits against the float32 reference: max|Δ| / max|x| and
// top-1 agreement over the images, within the documented budget
// (testdata.Q8Rel, testdata.Q8Top1; tensor/PERFORMANCE.md).
func TestQ8_vit(t *testing.T) {
	dir := testdata.Fixture(t, "vit")
	m := testdata.LoadModel(t, dir, Load, WithWeightType(tensor.WeightQ8))
	if m.Classifier.Type != tensor.WeightQ8 || m.Encoder.Layers[0].MLP.FC1.Type != tensor.WeightQ8 {
		t.Fatalf("classifier packed as %v, fc1 as %v; want Q8", m.Classifier.Type, m.Encoder.Layers[0].MLP.FC1.Type)
	}
	out, err := m.Forward(context.Background(), expected.Tensor(t, "vit", "pixel_values"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := expected.Tensor(t, "vit", "logits")
	a := testdata.CompareLogits(out.Logits.Contiguous().Data(), want.Contiguous().Data(), want.Dim(-1))
	t.Logf("Q8 (%s kernels): logits %v", tensor.Q8Kernel(), a)
	testdata.CheckQ8(t, "logits", a)
}
