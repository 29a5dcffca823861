package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// TestWeightsFlagBF16Dot runs classify with -weights bf16dot (linear layers
// computing in bfloat16): the top-3 labels stay the fixture's and their
// scores move by no more than bfloat16 rounding of weights and
// activations allows (the bf16 storage tolerance of TestWeightsFlag), the
// output differs from float32's (the option reaches the model), and -kv
// bf16dot is a usage error.
func TestWeightsFlagBF16Dot(t *testing.T) {
	cases := readViTCases(t)
	img := imagePath(t, cases.Images[0])
	f32 := mustRun(t, "classify", "-model", fixtureModel(t, "vit"), "-k", "3", "-format", "json", img)
	out := mustRun(t, "classify", "-model", fixtureModel(t, "vit"), "-weights", "bf16dot", "-k", "3", "-format", "json", img)
	var got []Classification
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 1 {
		t.Fatalf("-weights bf16dot: %v (%q)", err, out)
	}
	var d float64
	for j, w := range cases.Top3[0] {
		p := got[0].Predictions[j]
		d = math.Max(d, math.Abs(float64(p.Score)-w.Score))
		if p.Label != w.Label || math.Abs(float64(p.Score)-w.Score) > 2e-2 {
			t.Errorf("-weights bf16dot #%d: %s %.6f, want %s %.6f ± 0.02", j, p.Label, p.Score, w.Label, w.Score)
		}
	}
	t.Logf("-weights bf16dot: top-3 scores max|Δ| %.3g against transformers", d)
	if out == f32 {
		t.Errorf("-weights bf16dot gives the float32 output: the option did not reach the model")
	}
	_, errs, code := runCLI(t, "classify", "-model", fixtureModel(t, "vit"), "-kv", "bf16dot", img)
	if code != 2 || !strings.Contains(errs, "bf16dot") {
		t.Errorf("-kv bf16dot: exit %d, stderr %q", code, errs)
	}
}
