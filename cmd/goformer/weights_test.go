package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
)

// classifyViT runs classify on img with the vit fixture, the given flags,
// -k 3 and -format json, and returns the output.
func classifyViT(t *testing.T, img string, flags ...string) string {
	t.Helper()
	args := append([]string{"classify", "-model", fixtureModel(t, "vit")}, flags...)
	return mustRun(t, append(args, "-k", "3", "-format", "json", img)...)
}

// oneClassification parses classify's JSON output out, which must hold the
// result of exactly one image; name says which run it was.
func oneClassification(t *testing.T, name, out string) Classification {
	t.Helper()
	var got []Classification
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 1 {
		t.Fatalf("%s: %v (%q)", name, err, out)
	}
	return got[0]
}

// TestWeightsFlag runs classify with -weights f16 and bf16: the top-3
// scores move by no more than the opt-in's rounding allows (the fixture's
// scores are probabilities; F32 matches them within 1e-4), and a bad value
// is a usage error.
func TestWeightsFlag(t *testing.T) {
	cases := readViTCases(t)
	img := imagePath(t, cases.Images[0])
	f32 := classifyViT(t, img, "-weights", "f32")
	for _, c := range []struct {
		flag string
		tol  float64
	}{{"f16", 2e-3}, {"bf16", 2e-2}} {
		out := classifyViT(t, img, "-weights", c.flag)
		name := "-weights " + c.flag
		d := checkTop3(t, name, cases.Top3[0], oneClassification(t, name, out), c.tol, false)
		t.Logf("%s: top-3 scores max|Δ| %.3g against transformers", name, d)
		if out == f32 {
			t.Errorf("-weights %s gives the float32 output: the option did not reach the model", c.flag)
		}
	}
	wantUsage(t, "int4", "classify", "-model", fixtureModel(t, "vit"), "-weights", "int4", img)
}

// TestWeightsFlagQ8 runs classify with -weights q8 (int8 linear weights):
// the top-1 label stays the fixture's, the scores move (the option reaches
// the model) within the int8 budget, and -kv q8 is a usage error (keys and
// values have no int8 form).
func TestWeightsFlagQ8(t *testing.T) {
	cases := readViTCases(t)
	img := imagePath(t, cases.Images[0])
	f32 := classifyViT(t, img)
	out := classifyViT(t, img, "-weights", "q8")
	got := oneClassification(t, "-weights q8", out)
	want := cases.Top3[0][0]
	if p := got.Predictions[0]; p.Label != want.Label || math.Abs(float64(p.Score)-want.Score) > 0.05 {
		t.Errorf("-weights q8: top-1 %s %.4f, want %s %.4f ± 0.05", p.Label, p.Score, want.Label, want.Score)
	}
	if out == f32 {
		t.Errorf("-weights q8 gives the float32 output: the option did not reach the model")
	}
	wantUsage(t, "q8", "classify", "-model", fixtureModel(t, "vit"), "-kv", "q8", img)
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
	wantUsage(t, "fp8", append(args, "-kv", "fp8", jfk)...)
	// -selfkv: the self-attention caches too; the fixture's transcript is
	// that of float32 (whisper's TestWithSelfKVType checks the ids).
	self := mustRun(t, append(args[:len(args):len(args)], "-kv", "f16", "-selfkv", "f16", jfk)...)
	if self != f16 {
		t.Errorf("-selfkv f16: %.200s, want the -kv f16 transcript %.200s", self, f16)
	}
	wantUsage(t, "q8", append(args, "-selfkv", "q8", jfk)...)
}
