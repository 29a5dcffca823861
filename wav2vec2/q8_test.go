package wav2vec2

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/checkpoint"
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
	dir := testdata.Fixture(t, "wav2vec2")
	raw, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cs parityCases
	if err := json.Unmarshal(raw, &cs); err != nil {
		t.Fatal(err)
	}
	m, err := Load(filepath.Join(dir, "model"), nn.WithWeightType(tensor.WeightQ8))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	exp, err := checkpoint.OpenSafetensors(filepath.Join(dir, "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close()
	iv, err := exp.Tensor("input_values")
	if err != nil {
		t.Fatal(err)
	}
	want, err := exp.Tensor("logits")
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Network().Logits(context.Background(), iv.Data())
	if err != nil {
		t.Fatal(err)
	}
	a := testdata.CompareLogits(got.Contiguous().Data(), want.Contiguous().Data(), want.Dim(-1))
	same, at := testdata.SameIDs(tensor.ArgmaxRows(got), cs.ArgmaxIDs)
	t.Logf("Q8 (%s kernels): CTC logits %v; argmax ids identical %v (first difference %d)", tensor.Q8Kernel(), a, same, at)
	if a.Rel > testdata.Q8Rel || a.Rel == 0 || a.Top1 < testdata.Q8Top1 {
		t.Errorf("Q8 logits: relative error %.4f (want in (0, %g]), top-1 agreement %.3f (want ≥ %g)", a.Rel, testdata.Q8Rel, a.Top1, testdata.Q8Top1)
	}
}
