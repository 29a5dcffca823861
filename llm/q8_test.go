package llm

import (
	"context"
	"slices"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// TestQ8_blip2 runs the OPT language model of the blip2 fixture with int8
// weights on the fixture's query outputs: teacher-forced logits and
// unconditional greedy ids.
func TestQ8_blip2(t *testing.T) { testQ8(t, blip2Fixture(t)) }

// TestQ8_llava runs the Llama language model of the llava fixture (an F16
// checkpoint, quantized too) with int8 weights on the fixture's image
// features: teacher-forced logits and greedy ids.
func TestQ8_llava(t *testing.T) { testQ8(t, llavaFixture(t)) }

// testQ8 checks the teacher-forced logits of the fixture's language model
// with int8 weights against the float32 reference (the documented
// budget: testdata.Q8Rel, testdata.Q8Top1; tensor/PERFORMANCE.md) and
// counts the generations of its first kind identical to transformers'.
func testQ8(t *testing.T, f *lmFixture) {
	m := fixtureModel(t, f.dir, nn.WithWeightType(tensor.WeightQ8))
	got := f.teacherForced(t, m)
	same, cases := 0, 0
	for _, g := range f.gens {
		if g.kind != f.kinds[0] {
			continue
		}
		ids, err := m.Generate(context.Background(), f.prompt(t, m, nil, g), options(m, g.settings))
		if err != nil {
			t.Fatal(err)
		}
		cases++
		if slices.Equal(ids, g.want) {
			same++
		}
	}
	a := testdata.CompareLogits(got.Contiguous().Data(), f.wantTF.Data(), f.wantTF.Dim(-1))
	t.Logf("Q8 (%s kernels): teacher-forced logits %v; %d of %d greedy generations identical to the fixture's", tensor.Q8Kernel(), a, same, cases)
	testdata.CheckQ8(t, "logits", a)
}
