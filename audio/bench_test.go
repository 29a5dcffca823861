package audio

import (
	"math"
	"testing"
)

func sine(n int, freq, rate float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(0.5 * math.Sin(2*math.Pi*freq*float64(i)/rate))
	}
	return out
}

// BenchmarkLogMel30s measures transformers-style features of a full 30 s window.
func BenchmarkLogMel30s(b *testing.B) {
	e, err := NewMelExtractor(80)
	if err != nil {
		b.Fatal(err)
	}
	pcm := sine(NSamples, 440, SampleRate)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.LogMel(pcm)
	}
}
