package audio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/hajimehoshi/go-mp3"
)

// mpaHeader is a parsed MPEG audio frame header.
type mpaHeader struct {
	version    int // 1, 2, or 25 (MPEG-2.5)
	layer      int // 1, 2, 3
	bitrate    int // kbit/s, 0 = free format
	rate       int
	padding    int
	mono       bool
	crc        bool
	frameBytes int // 0 for free format
}

var (
	mpaRates = map[int][3]int{1: {44100, 48000, 32000}, 2: {22050, 24000, 16000}, 25: {11025, 12000, 8000}}
	// layer III bit rates
	mp3Bitrates1 = [15]int{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320}
	mp3Bitrates2 = [15]int{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160}
)

// parseMPAHeader parses the 4-byte frame header at b.
func parseMPAHeader(b []byte) (mpaHeader, bool) {
	var h mpaHeader
	if len(b) < 4 || b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		return h, false
	}
	switch (b[1] >> 3) & 3 {
	case 0:
		h.version = 25
	case 2:
		h.version = 2
	case 3:
		h.version = 1
	default:
		return h, false
	}
	switch (b[1] >> 1) & 3 {
	case 1:
		h.layer = 3
	case 2:
		h.layer = 2
	case 3:
		h.layer = 1
	default:
		return h, false
	}
	h.crc = b[1]&1 == 0
	bi := int(b[2] >> 4)
	ri := int(b[2]>>2) & 3
	if bi == 15 || ri == 3 {
		return h, false
	}
	h.rate = mpaRates[h.version][ri]
	h.padding = int(b[2]>>1) & 1
	h.mono = b[3]>>6 == 3
	if h.layer == 3 {
		if h.version == 1 {
			h.bitrate = mp3Bitrates1[bi]
			h.frameBytes = 144000*h.bitrate/h.rate + h.padding
		} else {
			h.bitrate = mp3Bitrates2[bi]
			h.frameBytes = 72000*h.bitrate/h.rate + h.padding
		}
	}
	return h, true
}

// samplesPerFrame is the number of PCM frames one layer III frame decodes to.
func (h mpaHeader) samplesPerFrame() int {
	if h.version == 1 {
		return 1152
	}
	return 576
}

// sniffMP3 looks for MPEG layer III frame sync in head: a header at the
// start, or two consecutive consistent headers within it. It returns the
// channel count and MPEG version (1, 2 or 25) of the first frame.
func sniffMP3(head []byte) (channels, version int, ok bool) {
	for i := 0; i+4 <= len(head); i++ {
		h, valid := parseMPAHeader(head[i:])
		if !valid || h.layer != 3 || h.bitrate == 0 {
			continue
		}
		next := i + h.frameBytes
		if next+4 > len(head) {
			if i == 0 { // a short stream: one frame is all there is
				return chans(h), h.version, true
			}
			return 0, 0, false
		}
		if h2, ok2 := parseMPAHeader(head[next:]); ok2 && h2.layer == 3 && h2.version == h.version && h2.rate == h.rate {
			return chans(h), h.version, true
		}
	}
	return 0, 0, false
}

func chans(h mpaHeader) int {
	if h.mono {
		return 1
	}
	return 2
}

// mp3Info is what the Xing/Info header (and its LAME extension) of the
// first frame says about an MP3 stream.
type mp3Info struct {
	frames        int64 // audio frames after the header frame; -1 if unknown
	spf           int   // samples per frame
	lame          bool  // encoder delay and padding are known
	delay, padded int   // LAME encoder delay and end padding, in samples
}

// parseXing reads the Xing/Info header of the first layer III frame in head.
func parseXing(head []byte) mp3Info {
	info := mp3Info{frames: -1}
	for i := 0; i+4 <= len(head); i++ {
		h, ok := parseMPAHeader(head[i:])
		if !ok || h.layer != 3 || h.bitrate == 0 {
			continue
		}
		info.spf = h.samplesPerFrame()
		side := 32
		switch {
		case h.version == 1 && h.mono:
			side = 17
		case h.version != 1 && !h.mono:
			side = 17
		case h.version != 1:
			side = 9
		}
		off := i + 4 + side
		if h.crc {
			off += 2
		}
		end := min(len(head), i+h.frameBytes)
		if off+8 > end {
			return info
		}
		tag := string(head[off : off+4])
		if tag != "Xing" && tag != "Info" {
			return info
		}
		flags := binary.BigEndian.Uint32(head[off+4:])
		p := off + 8
		if flags&1 != 0 {
			if p+4 > end {
				return info
			}
			info.frames = int64(binary.BigEndian.Uint32(head[p:]))
			p += 4
		}
		if flags&2 != 0 {
			p += 4
		}
		if flags&4 != 0 {
			p += 100
		}
		if flags&8 != 0 {
			p += 4
		}
		// LAME extension: 9-byte encoder version, then 12 bytes of flags
		// and gains, then 12 bits of delay and 12 bits of padding.
		if info.frames >= 0 && p+24 <= end && (string(head[p:p+4]) == "LAME" || string(head[p:p+4]) == "Lavc" || string(head[p:p+4]) == "Lavf") {
			d := head[p+21:]
			info.delay = int(d[0])<<4 | int(d[1])>>4
			info.padded = int(d[1]&0x0F)<<8 | int(d[2])
			info.lame = true
		}
		return info
	}
	return info
}

// mp3DecoderDelay is the delay of the layer III synthesis filterbank that
// gapless players (LAME's convention, FFmpeg) add to the encoder delay.
const mp3DecoderDelay = 529

// decodeMP3 decodes an MPEG layer III stream with
// github.com/hajimehoshi/go-mp3. channels comes from sniffing (go-mp3
// always outputs stereo, duplicating mono). When the first frame is a
// Xing/Info header, its frame (decoded as silence) is dropped, and with a
// LAME extension the encoder delay plus the decoder delay and the end
// padding are trimmed as gapless decoders (FFmpeg, and so whisper's
// load_audio) do. A stream whose Xing/Info header promises more frames than
// it has is reported as truncated; without that header a cut at a frame
// boundary cannot be told from the end.
func decodeMP3(r io.Reader, o options, channels int, info mp3Info) (*Buffer, error) {
	d, err := mp3.NewDecoder(r)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, corruptf("mp3", "no complete frame")
		}
		return nil, fmt.Errorf("%w: mp3: %v", ErrCorrupt, err)
	}
	rate := d.SampleRate()
	if err := checkRateChannels("mp3", rate, channels); err != nil {
		return nil, err
	}
	limit := o.maxFrames(rate)
	data := newChannels(channels, 0)
	buf := make([]byte, 64<<10)
	for {
		n, err := io.ReadFull(d, buf)
		n -= n % 4
		frames := n / 4
		for c := range data {
			data[c] = growFloats(data[c], frames)
		}
		for i := 0; i < frames; i++ {
			l := float32(int16(binary.LittleEndian.Uint16(buf[4*i:]))) / 32768
			data[0] = append(data[0], l)
			if channels == 2 {
				data[1] = append(data[1], float32(int16(binary.LittleEndian.Uint16(buf[4*i+2:])))/32768)
			}
		}
		if limit >= 0 && int64(len(data[0])) > limit {
			return nil, o.tooLong("mp3", rate)
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			return nil, fmt.Errorf("%w: mp3: %v", ErrCorrupt, err)
		}
	}
	if len(data[0]) == 0 {
		return nil, corruptf("mp3", "no audio frames")
	}
	if info.frames >= 0 && info.spf > 0 {
		n := int64(len(data[0]))
		if n < info.frames*int64(info.spf) {
			return nil, corruptf("mp3", "truncated: the Xing/Info header declares %d frames, the stream holds %d", info.frames, n/int64(info.spf)-1)
		}
		start, end := int64(info.spf), n
		if info.lame {
			start += int64(info.delay + mp3DecoderDelay)
			end = min(n, start+info.frames*int64(info.spf)-int64(info.delay+info.padded))
		}
		start = min(start, end)
		for c := range data {
			data[c] = data[c][start:end]
		}
	}
	return &Buffer{SampleRate: rate, Data: data}, nil
}
