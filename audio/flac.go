package audio

import (
	"errors"
	"fmt"
	"io"

	"github.com/mewkiz/flac"
)

// decodeFLAC decodes a native FLAC stream with github.com/mewkiz/flac
// (every frame's CRC is checked).
func decodeFLAC(r io.Reader, o options) (*Buffer, error) {
	stream, err := flac.New(r)
	if err != nil {
		return nil, flacErr("stream header", err)
	}
	info := stream.Info
	if info == nil {
		return nil, corruptf("flac", "missing STREAMINFO")
	}
	rate, nch, bps := int(info.SampleRate), int(info.NChannels), int(info.BitsPerSample)
	if err := checkRateChannels("flac", rate, nch); err != nil {
		return nil, err
	}
	if bps < 4 || bps > 32 {
		return nil, corruptf("flac", "invalid bit depth %d", bps)
	}
	limit := o.maxFrames(rate)
	declared := int64(info.NSamples) // 0: unknown
	if declared < 0 || (limit >= 0 && declared > limit) {
		return nil, o.tooLong("flac", rate)
	}
	data := newChannels(nch, declared)
	scale := 1 / float64(int64(1)<<(bps-1))
	for {
		fr, err := stream.ParseNext()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, flacErr(fmt.Sprintf("frame at sample %d", len(data[0])), err)
		}
		if len(fr.Subframes) != nch {
			return nil, corruptf("flac", "frame with %d channels in a %d-channel stream", len(fr.Subframes), nch)
		}
		n := len(fr.Subframes[0].Samples)
		for c, sf := range fr.Subframes {
			if len(sf.Samples) != n {
				return nil, corruptf("flac", "frame with channels of unequal length")
			}
			ch := growFloats(data[c], n)
			for _, v := range sf.Samples {
				ch = append(ch, float32(float64(v)*scale))
			}
			data[c] = ch
		}
		if limit >= 0 && int64(len(data[0])) > limit {
			return nil, o.tooLong("flac", rate)
		}
	}
	if declared > 0 && int64(len(data[0])) < declared {
		return nil, corruptf("flac", "truncated: STREAMINFO declares %d samples, the stream holds %d", declared, len(data[0]))
	}
	return &Buffer{SampleRate: rate, Data: data}, nil
}

// flacErr wraps a mewkiz/flac error: short reads are truncation, anything
// else is corruption, both as ErrCorrupt.
func flacErr(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: flac: truncated %s", ErrCorrupt, what)
	}
	return fmt.Errorf("%w: flac: %s: %v", ErrCorrupt, what, err)
}
