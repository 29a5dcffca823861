package wav2vec2

import (
	"context"
	"testing"

	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// TestQ8_wav2vec2 runs the wav2vec2 fixture with int8 weights
// (nn.WithWeightType(tensor.WeightQ8): the linear layers; the convolutional
// feature encoder and positional convolution stay float32) on the
// fixture's input values: CTC logits against the float32 reference
// (max|Δ| / max|x|, top-1 agreement over the frames) within the documented
// budget (testdata.Q8Rel, testdata.Q8Top1; tensor/PERFORMANCE.md), and
// whether the argmax ids stay the fixture's.
func TestQ8_wav2vec2(t *testing.T) {
	m, cs := loadFixture(t, "wav2vec2", nn.WithWeightType(tensor.WeightQ8))
	iv := expected.Tensor(t, "wav2vec2", "input_values")
	want := expected.Tensor(t, "wav2vec2", "logits")
	got, err := m.Network().Logits(context.Background(), iv.Data())
	if err != nil {
		t.Fatal(err)
	}
	a := testdata.CompareLogits(got.Contiguous().Data(), want.Data(), want.Dim(-1))
	same, at := testdata.SameIDs(tensor.ArgmaxRows(got), cs.ArgmaxIDs)
	t.Logf("Q8 (%s kernels): CTC logits %v; argmax ids identical %v (first difference %d)", tensor.Q8Kernel(), a, same, at)
	testdata.CheckQ8(t, "logits", a)
}
