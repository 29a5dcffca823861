package audio

import (
	"context"
	"fmt"
	"math"

	"github.com/goformer/goformer/tensor"
)

// PaddedMel is the spectrogram LogMelPadded returns, computed one window at
// a time: it keeps only the recording (not copied) and the maximum that
// OpenAI's max−8 clamp takes over the whole spectrogram, so long-form
// transcription of an hour of audio holds one 30 s window of features
// instead of 110 MiB. Window(seek, size) equals, bit for bit,
// MelWindow(LogMelPadded(pcm), seek, size). It is safe for concurrent use;
// pcm must not change while it is in use. Create one with
// MelExtractor.NewPaddedMel.
type PaddedMel struct {
	e      *MelExtractor
	sig    signal
	frames int
	max    float32
}

// maxChunk is the number of frames the maximum pass computes at a time (one
// scratch buffer of nMels×maxChunk values; ctx is checked between chunks).
const maxChunk = NFrames

// NewPaddedMel prepares the padded spectrogram of pcm (16 kHz mono): one
// pass over the recording finds the maximum log-mel value, which costs about
// as much as LogMelPadded but keeps nothing else. It returns ctx's error if
// ctx ends during that pass.
func (e *MelExtractor) NewPaddedMel(ctx context.Context, pcm []float32) (*PaddedMel, error) {
	n := len(pcm) + NSamples
	p := &PaddedMel{e: e, sig: signal{src: pcm, n: n}, frames: n / HopLength}
	mx := float32(math.Inf(-1))
	buf := make([]float32, e.nMels*min(maxChunk, p.frames))
	for lo := 0; lo < p.frames; lo += maxChunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+maxChunk, p.frames)
		mx = max(mx, e.computeInto(p.sig, lo, hi, hi-lo, lo, styleOpenAI, buf))
	}
	p.max = mx
	return p, nil
}

// NewPaddedMel is MelExtractor.NewPaddedMel with a shared extractor for
// nMels bins.
func NewPaddedMel(ctx context.Context, pcm []float32, nMels int) (*PaddedMel, error) {
	e, err := extractorFor(nMels)
	if err != nil {
		return nil, err
	}
	return e.NewPaddedMel(ctx, pcm)
}

// NMels returns the number of mel bins.
func (p *PaddedMel) NMels() int { return p.e.nMels }

// Frames returns the number of frames of the whole padded spectrogram,
// (len(pcm)+480000)/160, the last 3000 of which cover the padding.
func (p *PaddedMel) Frames() int { return p.frames }

// Window returns frames [seek, seek+size) of the padded spectrogram as a new
// [nMels, 3000] tensor, zero-padded or truncated to 3000 frames exactly as
// MelWindow does on LogMelPadded's result.
func (p *PaddedMel) Window(seek, size int) (*tensor.Tensor, error) {
	if seek < 0 || size < 0 {
		return nil, fmt.Errorf("audio: PaddedMel.Window: negative seek %d or size %d", seek, size)
	}
	nMels := p.e.nMels
	w := tensor.New(nMels, NFrames) // zeroed; tensor.Release recycles it
	out := w.Data()
	end := min(seek+size, p.frames, seek+NFrames)
	if end > seek {
		p.e.computeInto(p.sig, seek, end, NFrames, seek, styleOpenAI, out)
		for m := 0; m < nMels; m++ {
			finish(out[m*NFrames:m*NFrames+end-seek], p.max)
		}
	}
	return w, nil
}
