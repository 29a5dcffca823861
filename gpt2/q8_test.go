package gpt2

import (
	"context"
	"testing"

	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// TestQ8_vit_gpt2 runs the vit-gpt2 fixture with int8 weights
// (WithWeightType(tensor.WeightQ8)): the decoder's logits over each
// fixture caption fed teacher-forced, against those of the float32 model
// (the fixture records ids only; the float32 model matches them), within
// the documented budget (testdata.Q8Rel, testdata.Q8Top1;
// tensor/PERFORMANCE.md), and how many greedy captions keep the fixture's
// ids.
func TestQ8_vit_gpt2(t *testing.T) {
	cases, dir := readCases(t)
	q8, f32 := loadCaptioner(t, dir, WithWeightType(tensor.WeightQ8)), loadCaptioner(t, dir)
	if q8.decoder.head.Type != tensor.WeightQ8 {
		t.Fatalf("LM head packed as %v, want Q8", q8.decoder.head.Type)
	}
	px := expected.Tensor(t, "vit-gpt2", "pixel_values")
	ctx := context.Background()
	var got, want []float32
	same := 0
	for i, cs := range cases.Captions {
		one := px.Slice(0, i, i+1).Contiguous()
		got = append(got, teacherForced(t, q8, one, cs.IDs).Contiguous().Data()...)
		want = append(want, teacherForced(t, f32, one, cs.IDs).Contiguous().Data()...)
		caps, err := q8.CaptionPixels(ctx, one, CaptionOptions{MaxNewTokens: len(cs.IDs) - 1})
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := testdata.SameIDs(caps[0].IDs, cs.IDs); ok {
			same++
		}
	}
	a := testdata.CompareLogits(got, want, q8.Decoder().Config().VocabSize)
	t.Logf("Q8 (%s kernels): teacher-forced logits %v; %d of %d greedy captions identical to the fixture's", tensor.Q8Kernel(), a, same, len(cases.Captions))
	testdata.CheckQ8(t, "logits", a)
}
