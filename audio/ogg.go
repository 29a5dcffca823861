package audio

import (
	"errors"
	"fmt"
	"io"

	"github.com/goformer/goformer/audio/vorbis"
)

// decodeOgg decodes an Ogg Vorbis stream with the audio/vorbis package.
func decodeOgg(r io.Reader, o options) (*Buffer, error) {
	d, err := vorbis.NewDecoder(r)
	if err != nil {
		return nil, vorbisErr(err)
	}
	rate, nch := d.SampleRate(), d.Channels()
	if err := checkRateChannels("ogg", rate, nch); err != nil {
		return nil, err
	}
	limit := o.maxFrames(rate)
	data := newChannels(nch, 0)
	perm := vorbisToWAVOrder(nch)
	for {
		s, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, vorbisErr(err)
		}
		for c := range data {
			data[c] = append(data[c], s[perm[c]]...)
		}
		if limit >= 0 && int64(len(data[0])) > limit {
			return nil, o.tooLong("ogg", rate)
		}
	}
	return &Buffer{SampleRate: rate, Data: data}, nil
}

// vorbisErr maps the vorbis package's errors onto this package's.
func vorbisErr(err error) error {
	switch {
	case errors.Is(err, vorbis.ErrUnsupported):
		return fmt.Errorf("%w: ogg: %v", ErrUnsupportedFormat, err)
	case errors.Is(err, vorbis.ErrCorrupt):
		return fmt.Errorf("%w: ogg: %v", ErrCorrupt, err)
	}
	return err
}

// vorbisToWAVOrder returns, for each WAV/SMPTE channel position, the Vorbis
// channel that feeds it (Vorbis orders 3 to 8 channels with the centre
// second and the LFE last; this is the mapping oggdec and FFmpeg apply).
func vorbisToWAVOrder(n int) []int {
	switch n {
	case 3:
		return []int{0, 2, 1}
	case 5:
		return []int{0, 2, 1, 3, 4}
	case 6:
		return []int{0, 2, 1, 5, 3, 4}
	case 7:
		return []int{0, 2, 1, 6, 5, 3, 4}
	case 8:
		return []int{0, 2, 1, 7, 5, 6, 3, 4}
	}
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	return p
}
