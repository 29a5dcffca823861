package audio

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/goformer/goformer/tensor"
)

// Whisper's fixed audio hyper-parameters (OpenAI whisper/audio.py and the
// defaults of transformers' WhisperFeatureExtractor).
const (
	SampleRate  = 16000                    // Hz; Whisper and wav2vec2 input rate
	NFFT        = 400                      // STFT window and FFT size (25 ms)
	HopLength   = 160                      // STFT hop (10 ms)
	ChunkLength = 30                       // seconds in one Whisper window
	NSamples    = ChunkLength * SampleRate // 480000 samples in a 30 s window
	NFrames     = NSamples / HopLength     // 3000 mel frames in a 30 s window
)

// melStyle selects whose arithmetic the extractor reproduces.
type melStyle int

const (
	// styleHF: transformers' numpy spectrogram(): float64 STFT whose output is
	// stored as complex64, float64 power and filterbank, log10 in float64 and
	// the result cast to float32.
	styleHF melStyle = iota
	// styleOpenAI: OpenAI whisper's torch path: float32 window and float32
	// (librosa) filterbank; computed here in float64 from those values.
	styleOpenAI
)

// MelExtractor computes Whisper log-mel spectrograms. It caches the mel
// filterbanks, the Hann window and FFT plans; it is safe for concurrent use
// by multiple goroutines. Create one with NewMelExtractor.
type MelExtractor struct {
	nMels    int
	bankHF   melBank
	bankOA   melBank
	winHF    []float64
	winOA    []float64
	fftPool  sync.Pool
	parallel int // max goroutines; 0 means GOMAXPROCS
}

// NewMelExtractor returns an extractor for nMels mel bins (80 for Whisper
// tiny…large-v2, 128 for large-v3). The filterbank is the Slaney-style,
// Slaney-normalised one spanning 0–8000 Hz at 16 kHz with a 400-point FFT,
// computed in code exactly as transformers' mel_filter_bank does.
func NewMelExtractor(nMels int) (*MelExtractor, error) {
	if nMels < 1 || nMels > 512 {
		return nil, fmt.Errorf("audio: unsupported number of mel bins %d (want 1…512, usually 80 or 128)", nMels)
	}
	e := &MelExtractor{
		nMels:  nMels,
		bankHF: newSlaneyBank(nMels, NFFT, SampleRate, 0, SampleRate/2, false),
		bankOA: newSlaneyBank(nMels, NFFT, SampleRate, 0, SampleRate/2, true),
		winHF:  make([]float64, NFFT),
		winOA:  make([]float64, NFFT),
	}
	for i := range e.winHF {
		// periodic Hann: numpy.hanning(N+1)[:-1] / torch.hann_window(N)
		w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/NFFT)
		e.winHF[i] = w
		e.winOA[i] = float64(float32(w))
	}
	e.fftPool.New = func() any { return newFrameWork() }
	return e, nil
}

var (
	defaultExtractors   = map[int]*MelExtractor{}
	defaultExtractorsMu sync.Mutex
)

// extractorFor returns a shared extractor for nMels, creating it once.
func extractorFor(nMels int) (*MelExtractor, error) {
	defaultExtractorsMu.Lock()
	defer defaultExtractorsMu.Unlock()
	if e, ok := defaultExtractors[nMels]; ok {
		return e, nil
	}
	e, err := NewMelExtractor(nMels)
	if err != nil {
		return nil, err
	}
	defaultExtractors[nMels] = e
	return e, nil
}

// NMels returns the number of mel bins the extractor produces.
func (e *MelExtractor) NMels() int { return e.nMels }

// LogMel computes the Whisper input features of one 30 s window exactly as
// transformers' WhisperFeatureExtractor does: pcm (16 kHz mono) is padded
// with zeros or truncated to 480000 samples, framed with a centred,
// reflect-padded 400-point periodic-Hann STFT (hop 160), turned into a power
// spectrum, projected on the mel filterbank, floored at 1e-10, log10'd,
// clamped to max−8 and mapped through (x+4)/4. The last STFT frame is dropped,
// so the result has shape [nMels, 3000] (mel-major, as the model expects).
// pcm is neither modified nor copied.
func (e *MelExtractor) LogMel(pcm []float32) *tensor.Tensor {
	out := make([]float32, e.nMels*NFrames)
	e.compute(signal{src: pcm[:min(len(pcm), NSamples)], n: NSamples}, NFrames, styleHF, out)
	return tensor.MustFromData(out, e.nMels, NFrames)
}

// LogMel is MelExtractor.LogMel with a shared extractor for nMels bins.
func LogMel(pcm []float32, nMels int) (*tensor.Tensor, error) {
	e, err := extractorFor(nMels)
	if err != nil {
		return nil, err
	}
	return e.LogMel(pcm), nil
}

// LogMelPadded computes the log-mel spectrogram of a whole recording as
// OpenAI whisper's log_mel_spectrogram(audio, padding=480000) does for
// long-form transcription: pcm with 30 s of zeros appended, framed like
// LogMel, with len(padded)/160 frames (the last STFT frame dropped) and the
// max−8 clamp taken over the whole spectrogram. The result has shape
// [nMels, (len(pcm)+480000)/160]; cut windows from it with MelWindow.
// pcm is neither modified nor copied.
func (e *MelExtractor) LogMelPadded(pcm []float32) *tensor.Tensor {
	n := len(pcm) + NSamples
	frames := n / HopLength
	out := make([]float32, e.nMels*frames)
	e.compute(signal{src: pcm, n: n}, frames, styleOpenAI, out)
	return tensor.MustFromData(out, e.nMels, frames)
}

// LogMelPadded is MelExtractor.LogMelPadded with a shared extractor.
func LogMelPadded(pcm []float32, nMels int) (*tensor.Tensor, error) {
	e, err := extractorFor(nMels)
	if err != nil {
		return nil, err
	}
	return e.LogMelPadded(pcm), nil
}

// MelWindow returns frames [seek, seek+size) of a [nMels, T] spectrogram
// (such as LogMelPadded's), zero-padded or truncated to NFrames (3000)
// frames, as OpenAI whisper's transcribe does with
// pad_or_trim(mel[:, seek:seek+size], N_FRAMES). Frames past T are zeros.
// The result is a new [nMels, 3000] tensor.
func MelWindow(mel *tensor.Tensor, seek, size int) (*tensor.Tensor, error) {
	if mel == nil || mel.Rank() != 2 {
		return nil, fmt.Errorf("audio: MelWindow needs a [nMels, frames] tensor")
	}
	if seek < 0 || size < 0 {
		return nil, fmt.Errorf("audio: MelWindow: negative seek %d or size %d", seek, size)
	}
	nMels, total := mel.Dim(0), mel.Dim(1)
	data := mel.Data()
	w := tensor.New(nMels, NFrames) // zeroed; tensor.Release recycles it
	out := w.Data()
	end := min(seek+size, total, seek+NFrames)
	if end > seek {
		for m := 0; m < nMels; m++ {
			copy(out[m*NFrames:m*NFrames+end-seek], data[m*total+seek:m*total+end])
		}
	}
	return w, nil
}

// PadOrTrim returns pcm zero-padded or truncated to n samples, like
// whisper's pad_or_trim. It returns pcm itself when len(pcm) == n, a
// subslice when it is longer, and a new slice when it is shorter.
func PadOrTrim(pcm []float32, n int) []float32 {
	if n < 0 {
		n = 0
	}
	if len(pcm) >= n {
		return pcm[:n]
	}
	out := make([]float32, n)
	copy(out, pcm)
	return out
}

// signal is a virtual waveform: src zero-extended (or cut) to n samples,
// with reflect padding of NFFT/2 on both sides, read without copying.
type signal struct {
	src []float32
	n   int
}

// at returns sample i of the reflect-padded signal, i in [-NFFT/2, n+NFFT/2).
func (s signal) at(i int) float32 {
	if i < 0 {
		i = -i
	}
	if i >= s.n {
		i = 2*(s.n-1) - i
	}
	if i < 0 || i >= len(s.src) { // zero extension (or a signal too short to reflect)
		return 0
	}
	return s.src[i]
}

// frameWork is per-goroutine scratch space for one STFT frame.
type frameWork struct {
	fft   *realFFT
	buf   []float32
	re    []float64
	im    []float64
	power []float64
}

func newFrameWork() *frameWork {
	return &frameWork{
		fft:   newRealFFT(NFFT),
		buf:   make([]float32, NFFT),
		re:    make([]float64, NFFT/2+1),
		im:    make([]float64, NFFT/2+1),
		power: make([]float64, NFFT/2+1),
	}
}

// compute fills out ([nMels][frames]) with the clamped, scaled log-mel
// spectrogram of sig.
func (e *MelExtractor) compute(sig signal, frames int, style melStyle, out []float32) {
	finish(out, e.computeInto(sig, 0, frames, frames, 0, style, out))
}

// computeInto writes the log10 mel values (before clamping) of frames
// [lo, hi) of sig into out, frame f of bin m at out[m*stride+f-off], in
// parallel, and returns their maximum.
func (e *MelExtractor) computeInto(sig signal, lo, hi, stride, off int, style melStyle, out []float32) float32 {
	frames := hi - lo
	workers := e.parallel
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	const minFramesPerWorker = 200
	if w := (frames + minFramesPerWorker - 1) / minFramesPerWorker; w < workers {
		workers = w
	}
	if workers < 1 {
		workers = 1
	}
	maxes := make([]float32, workers)
	if workers == 1 {
		maxes[0] = e.computeRange(sig, lo, hi, stride, off, style, out)
	} else {
		var wg sync.WaitGroup
		per := (frames + workers - 1) / workers
		for w := 0; w < workers; w++ {
			a, b := lo+w*per, min(lo+(w+1)*per, hi)
			wg.Add(1)
			go func(w, a, b int) {
				defer wg.Done()
				maxes[w] = e.computeRange(sig, a, b, stride, off, style, out)
			}(w, a, b)
		}
		wg.Wait()
	}
	mx := float32(math.Inf(-1))
	for _, m := range maxes {
		mx = max(mx, m)
	}
	return mx
}

// finish applies max(x, mx-8) and (x+4)/4 in float32, as both references do.
func finish(out []float32, mx float32) {
	floor := mx - 8
	for i, v := range out {
		if v < floor {
			v = floor
		}
		out[i] = (v + 4) / 4
	}
}

// computeRange writes log10 mel values (before clamping) of frames [lo, hi)
// into out (frame f of bin m at out[m*stride+f-off]) and returns their
// maximum.
func (e *MelExtractor) computeRange(sig signal, lo, hi, stride, off int, style melStyle, out []float32) float32 {
	fw := e.fftPool.Get().(*frameWork)
	defer e.fftPool.Put(fw)
	win, bank := e.winHF, e.bankHF
	if style == styleOpenAI {
		win, bank = e.winOA, e.bankOA
	}
	mx := float32(math.Inf(-1))
	buf := fw.buf
	for f := lo; f < hi; f++ {
		start := f*HopLength - NFFT/2
		if start >= 0 && start+NFFT <= len(sig.src) && start+NFFT <= sig.n {
			fw.fft.transformWindowed(sig.src[start:start+NFFT], win, fw.re, fw.im)
		} else {
			for j := range buf {
				buf[j] = sig.at(start + j)
			}
			fw.fft.transformWindowed(buf, win, fw.re, fw.im)
		}
		p := fw.power
		if style == styleHF {
			for k := range p {
				re, im := float64(float32(fw.re[k])), float64(float32(fw.im[k]))
				p[k] = re*re + im*im
			}
		} else {
			for k := range p {
				p[k] = fw.re[k]*fw.re[k] + fw.im[k]*fw.im[k]
			}
		}
		for m := 0; m < e.nMels; m++ {
			w := bank.w[m]
			pp := p[bank.start[m] : bank.start[m]+len(w)]
			var s float64
			for k, wk := range w {
				s += wk * pp[k]
			}
			if s < 1e-10 {
				s = 1e-10
			}
			v := float32(math.Log10(s))
			out[m*stride+f-off] = v
			mx = max(mx, v)
		}
	}
	return mx
}
