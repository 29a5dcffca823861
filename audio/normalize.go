package audio

import "math"

// Normalize returns pcm scaled to zero mean and unit variance, as
// transformers' Wav2Vec2FeatureExtractor does with do_normalize=True:
// (x - mean) / sqrt(var + 1e-7). The statistics are computed in float64;
// pcm is not modified. An empty input gives an empty result.
func Normalize(pcm []float32) []float32 {
	out := make([]float32, len(pcm))
	if len(pcm) == 0 {
		return out
	}
	var sum float64
	for _, v := range pcm {
		sum += float64(v)
	}
	mean := sum / float64(len(pcm))
	var ss float64
	for _, v := range pcm {
		d := float64(v) - mean
		ss += d * d
	}
	variance := ss / float64(len(pcm))
	// numpy: float32 array minus float32 mean, divided by the float32 scale.
	m32 := float32(mean)
	inv := float32(math.Sqrt(float64(float32(variance)) + 1e-7))
	for i, v := range pcm {
		out[i] = (v - m32) / inv
	}
	return out
}
