package audio

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
)

// readTensor returns the values and shape of a tensor of a safetensors
// file.
func readTensor(t testing.TB, path, name string) ([]float32, []int) {
	t.Helper()
	x := expected.Read(t, path, name)
	return x.Data(), x.Shape()
}

// TestLogMelParityTransformers checks LogMel against the input_features of
// the whisper fixture (transformers' WhisperFeatureExtractor).
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
	d, at := testdata.MaxAbsDiff(got.Data(), want)
	t.Logf("transformers log-mel: max|Δ| = %.3g (at %d)", d, at)
	if d > 1e-5 {
		t.Errorf("max|Δ| = %g > 1e-5 at mel %d frame %d: got %v want %v", d, at/NFrames, at%NFrames, got.Data()[at], want[at])
	}
}

// TestLogMelPaddedParityOpenAI checks LogMelPadded against OpenAI whisper's
// log_mel_spectrogram(audio, padding=N_SAMPLES) of the whisper-openai
// fixture, after checking that decoding the fixture's audio file (named in
// cases.json) gives the fixture's waveform.
func TestLogMelPaddedParityOpenAI(t *testing.T) {
	dir := testdata.Fixture(t, "whisper-openai")
	path := filepath.Join(dir, "expected.safetensors")
	pcm, _ := readTensor(t, path, "audio")
	want, shape := readTensor(t, path, "mel_padded")
	var cases struct {
		Audio string `json:"audio"`
		NMels any    `json:"n_mels"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if n, err := strconv.Atoi(fmt.Sprint(cases.NMels)); err != nil || n != shape[0] {
		t.Fatalf("cases.json n_mels %v, mel_padded has %d bins", cases.NMels, shape[0])
	}
	if cases.Audio != "" {
		b, err := DecodeFile(filepath.Join(dir, cases.Audio))
		if err != nil {
			t.Fatal(err)
		}
		if b.SampleRate != SampleRate || b.Channels() != 1 {
			t.Fatalf("%s: %d Hz, %d channels", cases.Audio, b.SampleRate, b.Channels())
		}
		if d, _ := testdata.MaxAbsDiff(b.Data[0], pcm); len(b.Data[0]) != len(pcm) || d != 0 {
			t.Fatalf("%s decodes to %d samples (max|Δ| %g), the fixture has %d", cases.Audio, len(b.Data[0]), d, len(pcm))
		}
	}
	got, err := LogMelPadded(pcm, shape[0])
	if err != nil {
		t.Fatal(err)
	}
	if g := got.Shape(); g[0] != shape[0] || g[1] != shape[1] {
		t.Fatalf("shape %v, want %v", g, shape)
	}
	d, at := testdata.MaxAbsDiff(got.Data(), want)
	t.Logf("OpenAI padded log-mel: max|Δ| = %.3g (at mel %d frame %d)", d, at/shape[1], at%shape[1])
	if d > 1e-4 {
		t.Errorf("max|Δ| = %g > 1e-4", d)
	}
}

// TestWhisperFeaturesFromFile runs the whole pipeline on the whisper
// fixture's source file (cases.json "audio", in media/audio): decode,
// downmix, resample with this package's resampler instead of SoX, features.
// The resamplers differ only near 8 kHz, so the top mel bins differ slightly.
func TestWhisperFeaturesFromFile(t *testing.T) {
	dir := testdata.Fixture(t, "whisper")
	var cases struct {
		Audio string `json:"audio"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &cases); err != nil || cases.Audio == "" {
		t.Fatalf("cases.json: %v", err)
	}
	want, shape := readTensor(t, filepath.Join(dir, "expected.safetensors"), "input_features")
	nMels := shape[len(shape)-2]
	pcm, err := Load16kFile(testdata.Path(t, "media", "audio", cases.Audio))
	if err != nil {
		t.Fatal(err)
	}
	got, err := LogMel(pcm, nMels)
	if err != nil {
		t.Fatal(err)
	}
	d, at := testdata.MaxAbsDiff(got.Data(), want)
	var ss float64
	for i, w := range want {
		x := float64(got.Data()[i]) - float64(w)
		ss += x * x
	}
	rms := math.Sqrt(ss / float64(len(want)))
	t.Logf("%s → features: max|Δ| = %.3g (mel %d), rms %.3g", cases.Audio, d, at/NFrames, rms)
	if d > 0.01 || rms > 1e-4 {
		t.Errorf("max|Δ| = %g, rms %g: the decode/resample pipeline drifted from SoX", d, rms)
	}
}
