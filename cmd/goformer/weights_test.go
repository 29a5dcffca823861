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
