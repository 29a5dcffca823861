package audio

import (
	"fmt"
	"time"

	"github.com/goformer/goformer/task"
)

// Sentinel errors. Errors returned by this package wrap one of them (test
// with errors.Is) and add what was wrong and where.
var (
	// ErrUnsupportedFormat: the content is not a WAV, FLAC, MP3 or Ogg Vorbis
	// stream, or uses a variant of one that is not supported (for example
	// ADPCM WAV, Ogg Opus, AAC).
	ErrUnsupportedFormat = task.NewInputError("audio: unsupported format")
	// ErrCorrupt: the stream is malformed or truncated.
	ErrCorrupt = task.NewInputError("audio: corrupt or truncated audio")
	// ErrTooLong: the audio is longer than the maximum duration (see
	// DefaultMaxDuration and WithMaxDuration).
	ErrTooLong = task.NewInputError("audio: audio too long")
)

// DefaultMaxDuration is the longest audio Decode and friends accept unless
// WithMaxDuration says otherwise: 3 hours. At 48 kHz stereo that is about
// 4 GB of float32 samples; the limit keeps a hostile or mistaken header from
// exhausting memory.
const DefaultMaxDuration = 3 * time.Hour

// Buffer is decoded PCM audio: one slice of samples per channel, all of the
// same length, as float32 in [-1, 1] (integer formats are scaled by
// 1/2^(bits-1); float formats, and lossy decoders' overshoot, are kept
// unclipped). Channels are in WAV/SMPTE order (L, R, C, LFE, …) whatever
// the format.
type Buffer struct {
	// SampleRate is the rate in Hz.
	SampleRate int
	// Data holds the samples, Data[channel][frame].
	Data [][]float32
	// Format names the container the samples came from: "wav", "flac",
	// "mp3", "ogg" (Vorbis), or "" for a Buffer built by hand.
	Format string
	// Warnings describes what the decoder worked around to return the
	// samples, one sentence each; nil when the stream was well formed. A
	// WAV data chunk that declares more bytes than the stream holds (a file
	// cut short, or copied while being recorded) is decoded as far as it
	// goes, as sox does, and says so here.
	Warnings []string
}

// Channels returns the number of channels.
func (b *Buffer) Channels() int { return len(b.Data) }

// Frames returns the number of samples per channel.
func (b *Buffer) Frames() int {
	if len(b.Data) == 0 {
		return 0
	}
	return len(b.Data[0])
}

// Duration returns the length of the audio.
func (b *Buffer) Duration() time.Duration {
	if b.SampleRate <= 0 {
		return 0
	}
	return time.Duration(float64(b.Frames()) / float64(b.SampleRate) * float64(time.Second))
}

// Mono returns the channels averaged into one. For a single-channel buffer it
// returns Data[0] itself (not a copy).
func (b *Buffer) Mono() []float32 {
	switch len(b.Data) {
	case 0:
		return nil
	case 1:
		return b.Data[0]
	}
	n := b.Frames()
	out := make([]float32, n)
	if len(b.Data) == 2 {
		l, r := b.Data[0][:n], b.Data[1][:n]
		for i := range out {
			out[i] = float32((float64(l[i]) + float64(r[i])) / 2)
		}
		return out
	}
	inv := 1 / float64(len(b.Data))
	acc := make([]float64, n)
	for _, ch := range b.Data {
		ch = ch[:n]
		for i, v := range ch {
			acc[i] += float64(v)
		}
	}
	for i, v := range acc {
		out[i] = float32(v * inv)
	}
	return out
}

// options collects the settings of Option.
type options struct {
	maxDuration time.Duration
}

// Option changes how audio is decoded.
type Option func(*options)

// WithMaxDuration sets the longest audio accepted; longer input fails with
// ErrTooLong. d <= 0 removes the limit.
func WithMaxDuration(d time.Duration) Option {
	return func(o *options) { o.maxDuration = d }
}

func makeOptions(opts []Option) options {
	o := options{maxDuration: DefaultMaxDuration}
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// maxFrames is the largest frame count allowed at rate, or -1 for no limit.
func (o options) maxFrames(rate int) int64 {
	if o.maxDuration <= 0 {
		return -1
	}
	return int64(o.maxDuration.Seconds() * float64(rate))
}

// tooLong reports the ErrTooLong error for a stream at rate.
func (o options) tooLong(format string, rate int) error {
	return fmt.Errorf("%w: %s stream exceeds the maximum duration %v (at %d Hz)", ErrTooLong, format, o.maxDuration, rate)
}

// Limits on what a header may declare.
const (
	maxChannels   = 255
	maxSampleRate = 1_000_000
	// preallocation cap in samples (all channels) when a header declares a
	// length: more than this grows by append as data really arrives.
	maxPrealloc = 1 << 23
)

func checkRateChannels(format string, rate, channels int) error {
	if rate <= 0 || rate > maxSampleRate {
		return fmt.Errorf("%w: %s: invalid sample rate %d Hz", ErrCorrupt, format, rate)
	}
	if channels <= 0 {
		return fmt.Errorf("%w: %s: invalid channel count %d", ErrCorrupt, format, channels)
	}
	if channels > maxChannels {
		return fmt.Errorf("%w: %s: %d channels (at most %d supported)", ErrUnsupportedFormat, format, channels, maxChannels)
	}
	return nil
}

func newChannels(n int, capacity int64) [][]float32 {
	if limit := int64(maxPrealloc / n); capacity > limit || capacity < 0 {
		capacity = limit
	}
	data := make([][]float32, n)
	for c := range data {
		data[c] = make([]float32, 0, capacity)
	}
	return data
}
