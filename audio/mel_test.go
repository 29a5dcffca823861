package audio

import (
	"math"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
)

func readTensor(t testing.TB, path, name string) ([]float32, []int) {
	t.Helper()
	s, err := nn.OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	x, err := s.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), x.Data()...), x.Shape()
}

func maxAbsDiff(a, b []float32) (float64, int) {
	var m float64
	at := -1
	for i := range a {
		if d := math.Abs(float64(a[i]) - float64(b[i])); d > m || math.IsNaN(d) {
			m, at = d, i
		}
	}
	return m, at
}

func TestLogMelParityTransformers(t *testing.T) {
	path := testdata.Path(t, "fixtures", "whisper", "expected.safetensors")
	pcm, _ := readTensor(t, path, "audio")
	want, shape := readTensor(t, path, "input_features")
	nMels := shape[len(shape)-2]
	got, err := LogMel(pcm, nMels)
	if err != nil {
		t.Fatal(err)
	}
	if g := got.Shape(); g[0] != nMels || g[1] != shape[len(shape)-1] {
		t.Fatalf("shape %v, want %v", g, shape)
	}
	d, at := maxAbsDiff(got.Data(), want)
	t.Logf("transformers log-mel: max|Δ| = %.3g (at %d)", d, at)
	if d > 1e-5 {
		t.Errorf("max|Δ| = %g > 1e-5 at mel %d frame %d: got %v want %v", d, at/NFrames, at%NFrames, got.Data()[at], want[at])
	}
}

func TestLogMelPaddedParityOpenAI(t *testing.T) {
	path := testdata.Path(t, "fixtures", "whisper-openai", "expected.safetensors")
	pcm, _ := readTensor(t, path, "audio")
	want, shape := readTensor(t, path, "mel_padded")
	got, err := LogMelPadded(pcm, shape[0])
	if err != nil {
		t.Fatal(err)
	}
	if g := got.Shape(); g[0] != shape[0] || g[1] != shape[1] {
		t.Fatalf("shape %v, want %v", g, shape)
	}
	d, at := maxAbsDiff(got.Data(), want)
	t.Logf("OpenAI padded log-mel: max|Δ| = %.3g (at mel %d frame %d)", d, at/shape[1], at%shape[1])
	if d > 1e-4 {
		t.Errorf("max|Δ| = %g > 1e-4", d)
	}
}
