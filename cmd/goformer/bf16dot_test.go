package main

import "testing"

// TestWeightsFlagBF16Dot runs classify with -weights bf16dot (linear layers
// computing in bfloat16): the top-3 labels stay the fixture's and their
// scores move by no more than bfloat16 rounding of weights and
// activations allows (the bf16 storage tolerance of TestWeightsFlag), the
// output differs from float32's (the option reaches the model), and -kv
// bf16dot is a usage error.
func TestWeightsFlagBF16Dot(t *testing.T) {
	cases := readViTCases(t)
	img := imagePath(t, cases.Images[0])
	f32 := classifyViT(t, img)
	out := classifyViT(t, img, "-weights", "bf16dot")
	d := checkTop3(t, "-weights bf16dot", cases.Top3[0], oneClassification(t, "-weights bf16dot", out), 2e-2, true)
	t.Logf("-weights bf16dot: top-3 scores max|Δ| %.3g against transformers", d)
	if out == f32 {
		t.Errorf("-weights bf16dot gives the float32 output: the option did not reach the model")
	}
	wantUsage(t, "bf16dot", "classify", "-model", fixtureModel(t, "vit"), "-kv", "bf16dot", img)
}
