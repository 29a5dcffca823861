package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
)

// TestWeightsFlag runs classify with -weights f16 and bf16: the top-3
// scores move by no more than the opt-in's rounding allows (the fixture's
// scores are probabilities; F32 matches them within 1e-4), and a bad value
// is a usage error.
func TestWeightsFlag(t *testing.T) {
	cases := readViTCases(t)
	f32 := mustRun(t, "classify", "-model", fixtureModel(t, "vit"), "-weights", "f32", "-k", "3", "-format", "json", imagePath(t, cases.Images[0]))
	for _, c := range []struct {
		flag string
		tol  float64
	}{{"f16", 2e-3}, {"bf16", 2e-2}} {
		out := mustRun(t, "classify", "-model", fixtureModel(t, "vit"), "-weights", c.flag, "-k", "3", "-format", "json", imagePath(t, cases.Images[0]))
		var got []Classification
		if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 1 {
			t.Fatalf("-weights %s: %v (%q)", c.flag, err, out)
		}
		var d float64
		for j, w := range cases.Top3[0] {
			p := got[0].Predictions[j]
			d = math.Max(d, math.Abs(float64(p.Score)-w.Score))
			if math.Abs(float64(p.Score)-w.Score) > c.tol {
				t.Errorf("-weights %s #%d: %s %.6f, want %s %.6f ± %g", c.flag, j, p.Label, p.Score, w.Label, w.Score, c.tol)
			}
		}
		t.Logf("-weights %s: top-3 scores max|Δ| %.3g against transformers", c.flag, d)
		if out == f32 {
			t.Errorf("-weights %s gives the float32 output: the option did not reach the model", c.flag)
		}
	}
	_, errs, code := runCLI(t, "classify", "-model", fixtureModel(t, "vit"), "-weights", "int4", imagePath(t, cases.Images[0]))
	if code != 2 || !strings.Contains(errs, "int4") {
		t.Errorf("-weights int4: exit %d, stderr %q", code, errs)
	}
}

// TestWeightsFlagQ8 runs classify with -weights q8 (int8 linear weights):
// the top-1 label stays the fixture's, the scores move (the option reaches
// the model) within the int8 budget, and -kv q8 is a usage error (keys and
// values have no int8 form).
func TestWeightsFlagQ8(t *testing.T) {
	cases := readViTCases(t)
	img := imagePath(t, cases.Images[0])
	f32 := mustRun(t, "classify", "-model", fixtureModel(t, "vit"), "-k", "3", "-format", "json", img)
	out := mustRun(t, "classify", "-model", fixtureModel(t, "vit"), "-weights", "q8", "-k", "3", "-format", "json", img)
	var got []Classification
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 1 {
		t.Fatalf("-weights q8: %v (%q)", err, out)
	}
	want := cases.Top3[0][0]
	if p := got[0].Predictions[0]; p.Label != want.Label || math.Abs(float64(p.Score)-want.Score) > 0.05 {
		t.Errorf("-weights q8: top-1 %s %.4f, want %s %.4f ± 0.05", p.Label, p.Score, want.Label, want.Score)
	}
	if out == f32 {
		t.Errorf("-weights q8 gives the float32 output: the option did not reach the model")
	}
	_, errs, code := runCLI(t, "classify", "-model", fixtureModel(t, "vit"), "-kv", "q8", img)
	if code != 2 || !strings.Contains(errs, "q8") {
		t.Errorf("-kv q8: exit %d, stderr %q", code, errs)
	}
}

// TestKVFlag transcribes jfk with -kv f16: the command runs and names the
// bad value on a mistake.
func TestKVFlag(t *testing.T) {
	jfk := testdata.Path(t, "media", "audio", "jfk.flac")
	args := []string{"transcribe", "-model", fixtureModel(t, "whisper"), "-language", "en", "-fallback", "0", "-format", "json"}
	f32 := mustRun(t, append(args, jfk)...)
	f16 := mustRun(t, append(args[:len(args):len(args)], "-kv", "f16", jfk)...)
	if !strings.Contains(f16, "\"text\"") {
		t.Fatalf("-kv f16: output %q", f16)
	}
	t.Logf("float32: %.120s\nf16 keys/values: %.120s", f32, f16)
	_, errs, code := runCLI(t, append(args, "-kv", "fp8", jfk)...)
	if code != 2 || !strings.Contains(errs, "fp8") {
		t.Errorf("-kv fp8: exit %d, stderr %q", code, errs)
	}
}
