package audio

import "math"

// melBank is a mel filterbank stored sparsely: filter m has non-zero weights
// w[m] on FFT bins start[m] … start[m]+len(w[m])-1.
type melBank struct {
	start []int
	w     [][]float64
}

// slaneyHzToMel converts hertz to the Slaney mel scale (linear below 1 kHz,
// logarithmic above), as librosa and transformers' audio_utils do.
func slaneyHzToMel(f float64) float64 {
	const minLogHz, minLogMel = 1000.0, 15.0
	if f >= minLogHz {
		return minLogMel + math.Log(f/minLogHz)*(27.0/math.Log(6.4))
	}
	return 3.0 * f / 200.0
}

// slaneyMelToHz is the inverse of slaneyHzToMel.
func slaneyMelToHz(m float64) float64 {
	const minLogHz, minLogMel = 1000.0, 15.0
	if m >= minLogMel {
		return minLogHz * math.Exp(math.Log(6.4)/27.0*(m-minLogMel))
	}
	return 200.0 * m / 3.0
}

// linspace mirrors numpy.linspace(start, stop, n) with endpoint=True:
// start + i*step, the last value set to stop exactly.
func linspace(start, stop float64, n int) []float64 {
	out := make([]float64, n)
	if n == 1 {
		out[0] = start
		return out
	}
	step := (stop - start) / float64(n-1)
	for i := range out {
		out[i] = float64(i)*step + start
	}
	out[n-1] = stop
	return out
}

// newSlaneyBank builds the triangular Slaney-normalised mel filterbank of
// transformers' audio_utils.mel_filter_bank(num_frequency_bins=nFFT/2+1,
// num_mel_filters=nMels, min_frequency=fMin, max_frequency=fMax,
// sampling_rate=sr, norm="slaney", mel_scale="slaney"), in float64.
//
// With float32Weights the weights are rounded the way librosa.filters.mel
// (dtype float32, used by OpenAI whisper's mel_filters.npz) stores them: the
// triangle rounded to float32, then multiplied by the float64 norm and rounded
// again.
func newSlaneyBank(nMels, nFFT, sr int, fMin, fMax float64, float32Weights bool) melBank {
	nBins := nFFT/2 + 1
	melFreqs := linspace(slaneyHzToMel(fMin), slaneyHzToMel(fMax), nMels+2)
	ff := make([]float64, len(melFreqs))
	for i, m := range melFreqs {
		ff[i] = slaneyMelToHz(m)
	}
	var fft []float64
	if float32Weights {
		// librosa: np.fft.rfftfreq(n_fft, 1/sr)
		val := 1.0 / (float64(nFFT) * (1.0 / float64(sr)))
		fft = make([]float64, nBins)
		for k := range fft {
			fft[k] = float64(k) * val
		}
	} else {
		// transformers: np.linspace(0, sr // 2, num_frequency_bins)
		fft = linspace(0, float64(sr/2), nBins)
	}
	b := melBank{start: make([]int, nMels), w: make([][]float64, nMels)}
	row := make([]float64, nBins)
	for m := 0; m < nMels; m++ {
		enorm := 2.0 / (ff[m+2] - ff[m])
		first, last := -1, -1
		for k := 0; k < nBins; k++ {
			down := -(ff[m] - fft[k]) / (ff[m+1] - ff[m])
			up := (ff[m+2] - fft[k]) / (ff[m+2] - ff[m+1])
			v := math.Max(0, math.Min(down, up))
			if float32Weights {
				v = float64(float32(float64(float32(v)) * enorm))
			} else {
				v *= enorm
			}
			row[k] = v
			if v != 0 {
				if first < 0 {
					first = k
				}
				last = k
			}
		}
		if first < 0 { // an empty filter (too many mels for the FFT size)
			b.start[m] = 0
			continue
		}
		b.start[m] = first
		b.w[m] = append([]float64(nil), row[first:last+1]...)
	}
	return b
}
