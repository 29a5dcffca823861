package gpt2

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/checkpoint"
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
	dir := testdata.Fixture(t, "vit-gpt2")
	var cases vitGPT2Cases
	readCases(t, dir, &cases)
	q8, err := LoadCaptioner(filepath.Join(dir, "model"), WithWeightType(tensor.WeightQ8))
	if err != nil {
		t.Fatal(err)
	}
	defer q8.Close()
	f32, err := LoadCaptioner(filepath.Join(dir, "model"))
	if err != nil {
		t.Fatal(err)
	}
	defer f32.Close()
	if q8.decoder.head.Type != tensor.WeightQ8 {
		t.Fatalf("LM head packed as %v, want Q8", q8.decoder.head.Type)
	}
	exp, err := checkpoint.OpenSafetensors(filepath.Join(dir, "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close()
	px, err := exp.Tensor("pixel_values")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var got, want []float32
	same := 0
	for i, cs := range cases.Captions {
		one := px.Slice(0, i, i+1).Contiguous()
		for k, c := range []*Captioner{q8, f32} {
			enc, err := c.Encode(ctx, one)
			if err != nil {
				t.Fatal(err)
			}
			st, err := c.Decoder().NewState(1, enc)
			if err != nil {
				t.Fatal(err)
			}
			l, err := c.Decoder().Logits(ctx, st, [][]int{cs.IDs[:len(cs.IDs)-1]})
			if err != nil {
				t.Fatal(err)
			}
			if k == 0 {
				got = append(got, l.Contiguous().Data()...)
			} else {
				want = append(want, l.Contiguous().Data()...)
			}
		}
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
	if a.Rel > testdata.Q8Rel || a.Rel == 0 || a.Top1 < testdata.Q8Top1 {
		t.Errorf("Q8 logits: relative error %.4f (want in (0, %g]), top-1 agreement %.3f (want ≥ %g)", a.Rel, testdata.Q8Rel, a.Top1, testdata.Q8Top1)
	}
}
