package audio

import (
	"testing"

	"github.com/goformer/goformer/internal/testdata"
)

// TestNormalizeParityWav2Vec2 checks Normalize against the input_values of
// the wav2vec2 fixture (Wav2Vec2FeatureExtractor, do_normalize) computed from
// media/audio/jfk16k.wav.
func TestNormalizeParityWav2Vec2(t *testing.T) {
	want, shape := readTensor(t, testdata.Path(t, "fixtures", "wav2vec2", "expected.safetensors"), "input_values")
	b, err := DecodeFile(testdata.Path(t, "media", "audio", "jfk16k.wav"))
	if err != nil {
		t.Fatal(err)
	}
	if b.SampleRate != SampleRate || b.Channels() != 1 {
		t.Fatalf("jfk16k.wav: %d Hz, %d channels", b.SampleRate, b.Channels())
	}
	got := Normalize(b.Mono())
	if len(got) != shape[len(shape)-1] {
		t.Fatalf("%d samples, want %d", len(got), shape[len(shape)-1])
	}
	d, at := testdata.MaxAbsDiff(got, want)
	t.Logf("wav2vec2 normalization: max|Δ| = %.3g (at %d)", d, at)
	if d > 1e-5 {
		t.Errorf("max|Δ| = %g > 1e-5", d)
	}
	if n := Normalize(nil); len(n) != 0 {
		t.Errorf("Normalize(nil) = %v", n)
	}
	// A constant signal: zero mean, no division by zero.
	for _, v := range Normalize([]float32{0.5, 0.5, 0.5}) {
		if v != 0 {
			t.Errorf("constant input normalised to %v", v)
		}
	}
}
