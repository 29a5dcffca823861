package audio

import (
	"bytes"
	"math"
	"os"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
	"gonum.org/v1/gonum/dsp/fourier"
)

func sine(n int, freq, rate float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(0.5 * math.Sin(2*math.Pi*freq*float64(i)/rate))
	}
	return out
}

// BenchmarkLogMel30s: transformers-style features of one full 30 s window
// (80 mels, 3000 frames), using all GOMAXPROCS cores.
func BenchmarkLogMel30s(b *testing.B) {
	e, err := NewMelExtractor(80)
	if err != nil {
		b.Fatal(err)
	}
	pcm := noise(NSamples, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.LogMel(pcm)
	}
}

// BenchmarkLogMelPadded64s: OpenAI-style whole-file features of 64 s of
// audio (plus the 30 s of padding: 9400 frames).
func BenchmarkLogMelPadded64s(b *testing.B) {
	e, err := NewMelExtractor(80)
	if err != nil {
		b.Fatal(err)
	}
	pcm := noise(64*SampleRate, 2)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.LogMelPadded(pcm)
	}
}

// BenchmarkFFT400 compares the package's real FFT with gonum's
// dsp/fourier on the 400-point Whisper frame (the choice was measured).
func BenchmarkFFT400(b *testing.B) {
	x := make([]float64, NFFT)
	for i := range x {
		x[i] = math.Sin(float64(i) * 0.1)
	}
	b.Run("own", func(b *testing.B) {
		f := newRealFFT(NFFT)
		re, im := make([]float64, NFFT/2+1), make([]float64, NFFT/2+1)
		for i := 0; i < b.N; i++ {
			f.transform(x, re, im)
		}
	})
	b.Run("gonum", func(b *testing.B) {
		f := fourier.NewFFT(NFFT)
		out := make([]complex128, NFFT/2+1)
		for i := 0; i < b.N; i++ {
			f.Coefficients(out, x)
		}
	})
}

// BenchmarkLoad16kJFK: decode media/audio/jfk.flac (11 s, 44.1 kHz stereo
// 24-bit), downmix and resample to 16 kHz.
func BenchmarkLoad16kJFK(b *testing.B) {
	raw, err := os.ReadFile(testdata.Path(b, "media", "audio", "jfk.flac"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Load16k(bytes.NewReader(raw)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResample44kTo16k: 11 s of mono audio from 44.1 kHz to 16 kHz.
func BenchmarkResample44kTo16k(b *testing.B) {
	pcm := noise(485100, 3)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Resample(pcm, 44100, SampleRate); err != nil {
			b.Fatal(err)
		}
	}
}
