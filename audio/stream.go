package audio

import (
	"fmt"
	"iter"

	"github.com/goformer/goformer/tensor"
)

// Windows yields the features of a long 16 kHz recording one 30 s window at
// a time: window i is LogMel(pcm[i*480000 : (i+1)*480000]), the last one
// zero-padded. Each window is computed when the loop asks for it, from a
// sub-slice of pcm (no copy of the recording). An empty pcm yields nothing.
func (e *MelExtractor) Windows(pcm []float32) iter.Seq2[int, *tensor.Tensor] {
	return func(yield func(int, *tensor.Tensor) bool) {
		for i := 0; i*NSamples < len(pcm); i++ {
			end := min((i+1)*NSamples, len(pcm))
			if !yield(i, e.LogMel(pcm[i*NSamples:end])) {
				return
			}
		}
	}
}

// FeatureStream turns PCM arriving in chunks of any size, at any sample
// rate, into Whisper features of consecutive 30 s windows, exactly as
// Windows computes them on the whole (resampled) recording. It holds at
// most one window of audio. Create one with MelExtractor.NewStream; it is
// not safe for concurrent use.
type FeatureStream struct {
	e       *MelExtractor
	rs      *Resampler // nil at 16 kHz
	pending []float32  // 16 kHz samples of the current window
	tmp     []float32
	total   int64 // 16 kHz samples seen
	done    bool
}

// NewStream returns a FeatureStream for mono input at sampleRate Hz
// (resampled to 16 kHz with Resampler when it differs).
func (e *MelExtractor) NewStream(sampleRate int) (*FeatureStream, error) {
	s := &FeatureStream{e: e, pending: make([]float32, 0, NSamples)}
	if sampleRate != SampleRate {
		rs, err := NewResampler(sampleRate, SampleRate)
		if err != nil {
			return nil, err
		}
		s.rs = rs
	}
	return s, nil
}

// Write adds mono samples and returns the features ([nMels, 3000]) of every
// window they complete, in order (usually none or one).
func (s *FeatureStream) Write(pcm []float32) ([]*tensor.Tensor, error) {
	if s.done {
		return nil, fmt.Errorf("audio: FeatureStream.Write after Flush")
	}
	in := pcm
	if s.rs != nil {
		s.tmp = s.rs.Write(s.tmp[:0], pcm)
		in = s.tmp
	}
	return s.add(in, nil), nil
}

func (s *FeatureStream) add(in []float32, out []*tensor.Tensor) []*tensor.Tensor {
	s.total += int64(len(in))
	for len(in) > 0 {
		n := min(NSamples-len(s.pending), len(in))
		s.pending = append(s.pending, in[:n]...)
		in = in[n:]
		if len(s.pending) == NSamples {
			out = append(out, s.e.LogMel(s.pending))
			s.pending = s.pending[:0]
		}
	}
	return out
}

// Flush ends the stream and returns the features of the windows still
// open: the last, zero-padded, partial window (and, with resampling, any
// window the resampler's tail completes). It returns nothing when the input
// ended exactly on a window boundary or was empty.
func (s *FeatureStream) Flush() []*tensor.Tensor {
	if s.done {
		return nil
	}
	s.done = true
	var out []*tensor.Tensor
	if s.rs != nil {
		s.tmp = s.rs.Flush(s.tmp[:0])
		out = s.add(s.tmp, out)
	}
	if len(s.pending) > 0 {
		out = append(out, s.e.LogMel(s.pending))
		s.pending = s.pending[:0]
	}
	return out
}
