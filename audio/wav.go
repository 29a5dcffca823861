package audio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// WAVE format tags.
const (
	wavPCM        = 0x0001
	wavFloat      = 0x0003
	wavALaw       = 0x0006
	wavMuLaw      = 0x0007
	wavExtensible = 0xFFFE
)

// wavFormat is the content of a "fmt " chunk.
type wavFormat struct {
	tag        int
	channels   int
	rate       int
	blockAlign int
	bits       int // bits per sample container (8, 16, 24, 32 or 64)
	bigEndian  bool
	valid      bool
}

// Data chunk sizes that writers put in the header when they cannot seek
// back to fill in the real size (streaming to a pipe): 0xFFFFFFFF (ffmpeg,
// sox and others; RF64 with a ds64 chunk says the same) and 0x7FFFF000
// (arecord). The data then runs to the end of the stream.
const (
	wavSizeStreaming = 0xFFFFFFFF
	wavSizeArecord   = 0x7FFFF000
)

// maxWAVPreData bounds the data kept in memory when a data chunk comes
// before the fmt chunk (a non-standard layout some writers produce).
const maxWAVPreData = 1 << 30

func wavTagName(tag int) string {
	switch tag {
	case 0x0002:
		return "Microsoft ADPCM"
	case 0x0011:
		return "IMA ADPCM"
	case 0x0031:
		return "GSM 6.10"
	case 0x0050:
		return "MPEG audio"
	case 0x0055:
		return "MPEG layer III"
	case 0x00FF, 0x1610:
		return "AAC"
	}
	return "codec"
}

// decodeWAV decodes a RIFF/RIFX/RF64 WAVE stream.
func decodeWAV(br *bufio.Reader, o options) (*Buffer, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, unexpectedEOF("wav", "header", err)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	id := string(hdr[0:4])
	if id == "RIFX" {
		bo = binary.BigEndian
	}
	rf64 := id == "RF64" || id == "BW64"
	var ds64Data int64 = -1 // data size from the ds64 chunk
	var f wavFormat
	var preData []byte // data chunk seen before fmt
	for {
		var ch [8]byte
		if _, err := io.ReadFull(br, ch[:]); err != nil {
			if errors.Is(err, io.EOF) {
				if f.valid && preData != nil {
					return wavSamples(f, preData, o)
				}
				if !f.valid {
					return nil, corruptf("wav", "no fmt chunk")
				}
				return nil, corruptf("wav", "no data chunk")
			}
			return nil, unexpectedEOF("wav", "chunk header", err)
		}
		cid := string(ch[0:4])
		size := int64(bo.Uint32(ch[4:8]))
		switch cid {
		case "ds64":
			if size < 24 || size > 1<<16 {
				return nil, corruptf("wav", "ds64 chunk of %d bytes", size)
			}
			b := make([]byte, size)
			if _, err := io.ReadFull(br, b); err != nil {
				return nil, unexpectedEOF("wav", "ds64 chunk", err)
			}
			ds64Data = int64(binary.LittleEndian.Uint64(b[8:16]))
			if ds64Data < 0 {
				return nil, corruptf("wav", "ds64 data size %d", ds64Data)
			}
			if err := skipPad(br, size); err != nil {
				return nil, err
			}
		case "fmt ":
			if size < 16 || size > 1<<16 {
				return nil, corruptf("wav", "fmt chunk of %d bytes", size)
			}
			b := make([]byte, size)
			if _, err := io.ReadFull(br, b); err != nil {
				return nil, unexpectedEOF("wav", "fmt chunk", err)
			}
			var err error
			if f, err = parseWAVFormat(b, bo); err != nil {
				return nil, err
			}
			f.bigEndian = id == "RIFX"
			if err := skipPad(br, size); err != nil {
				return nil, err
			}
			if preData != nil {
				return wavSamples(f, preData, o)
			}
		case "data":
			untilEOF := false
			switch {
			case rf64 && size == wavSizeStreaming && ds64Data >= 0:
				size = ds64Data
			case size == wavSizeStreaming, size == wavSizeArecord:
				untilEOF = true // a writer that could not seek back to fill it in
			}
			if !f.valid {
				// data before fmt: keep it and look for fmt after it.
				if untilEOF || size > maxWAVPreData {
					return nil, corruptf("wav", "data chunk before the fmt chunk")
				}
				// read as it arrives: a header cannot make us allocate
				b, err := io.ReadAll(io.LimitReader(br, size))
				if err != nil {
					return nil, err
				}
				if int64(len(b)) < size {
					return nil, corruptf("wav", "truncated data chunk: declares %d bytes, the stream holds %d", size, len(b))
				}
				if err := skipPad(br, size); err != nil {
					return nil, err
				}
				preData = b
				continue
			}
			if untilEOF {
				size = -1
			}
			return readWAVData(br, f, size, o)
		default:
			if _, err := br.Discard(int(min(size+size&1, math.MaxInt32))); err != nil {
				return nil, unexpectedEOF("wav", fmt.Sprintf("%q chunk", cid), err)
			}
			if size+size&1 > math.MaxInt32 { // absurd chunk size
				return nil, corruptf("wav", "%q chunk of %d bytes", cid, size)
			}
		}
	}
}

// skipPad consumes the pad byte after an odd-sized chunk (a missing pad
// byte at end of file is tolerated).
func skipPad(br *bufio.Reader, size int64) error {
	if size&1 == 1 {
		if _, err := br.Discard(1); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
	}
	return nil
}

func parseWAVFormat(b []byte, bo binary.ByteOrder) (wavFormat, error) {
	f := wavFormat{
		tag:        int(bo.Uint16(b[0:2])),
		channels:   int(bo.Uint16(b[2:4])),
		rate:       int(bo.Uint32(b[4:8])),
		blockAlign: int(bo.Uint16(b[12:14])),
		bits:       int(bo.Uint16(b[14:16])),
	}
	if f.tag == wavExtensible {
		if len(b) < 40 {
			return f, corruptf("wav", "WAVE_FORMAT_EXTENSIBLE fmt chunk of %d bytes (want 40)", len(b))
		}
		// SubFormat GUID: the first two bytes are the format tag, the rest
		// the fixed KSDATAFORMAT suffix.
		guid := b[24:40]
		const suffix = "\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
		if string(guid[2:]) != suffix {
			return f, fmt.Errorf("%w: wav: WAVE_FORMAT_EXTENSIBLE with unknown sub-format %x", ErrUnsupportedFormat, guid)
		}
		f.tag = int(bo.Uint16(guid[0:2]))
		// wValidBitsPerSample: 0 (unknown) or at most the container.
		if valid := int(bo.Uint16(b[18:20])); valid != 0 && (valid < 8 || valid > f.bits) {
			return f, fmt.Errorf("%w: wav: %d valid bits per sample in %d-bit containers", ErrUnsupportedFormat, valid, f.bits)
		}
	}
	if err := checkRateChannels("wav", f.rate, f.channels); err != nil {
		return f, err
	}
	switch f.tag {
	case wavPCM:
		// 8-, 16-, 24- and 32-bit samples, or fewer significant bits
		// left-justified in such a container (12 in 16, 20 in 24); fewer
		// than 8 bits is no format any tool writes.
		if f.bits < 8 || f.bits > 32 {
			return f, fmt.Errorf("%w: wav: %d bits per sample (integer PCM of 8 to 32 bits in 8-, 16-, 24- or 32-bit containers is supported)", ErrUnsupportedFormat, f.bits)
		}
	case wavFloat:
		if f.bits != 32 && f.bits != 64 {
			return f, fmt.Errorf("%w: wav: %d-bit float samples (32- and 64-bit float are supported)", ErrUnsupportedFormat, f.bits)
		}
	case wavALaw, wavMuLaw:
		if f.bits != 8 {
			return f, fmt.Errorf("%w: wav: %d-bit G.711", ErrUnsupportedFormat, f.bits)
		}
	default:
		return f, fmt.Errorf("%w: wav: %s (format tag 0x%04x; supported: PCM, float, A-law, µ-law)", ErrUnsupportedFormat, wavTagName(f.tag), f.tag)
	}
	// The container size per sample comes from the block alignment: it may
	// exceed bits (e.g. 20-bit samples in 3 bytes, or 24 in 4).
	container := (f.bits + 7) / 8
	if f.blockAlign >= f.channels*container && f.blockAlign%f.channels == 0 && f.blockAlign/f.channels <= 4 && f.tag == wavPCM {
		container = f.blockAlign / f.channels
	}
	if f.blockAlign != f.channels*container {
		return f, corruptf("wav", "block alignment %d does not match %d channels of %d-bit samples", f.blockAlign, f.channels, f.bits)
	}
	f.bits = container * 8
	if f.tag == wavFloat && f.bits != 32 && f.bits != 64 {
		return f, corruptf("wav", "float samples in %d-byte containers", container)
	}
	f.valid = true
	return f, nil
}

// readWAVData reads size bytes of sample data (size < 0: until EOF). The
// duration limit applies to the samples really read, not to the size the
// header declares: a data chunk that declares more than the stream holds
// is decoded as far as it goes, with a warning on the Buffer.
func readWAVData(br *bufio.Reader, f wavFormat, size int64, o options) (*Buffer, error) {
	frames := int64(-1)
	if size >= 0 {
		frames = size / int64(f.blockAlign)
	}
	data := newChannels(f.channels, frames)
	conv := wavConverter(f)
	chunk := make([]byte, f.blockAlign*max(1, 32768/f.blockAlign))
	var got int64
	var warnings []string
	limit := o.maxFrames(f.rate)
	for size < 0 || got < size {
		want := int64(len(chunk))
		if size >= 0 && size-got < want {
			want = size - got
		}
		n, err := io.ReadFull(br, chunk[:want])
		got += int64(n)
		whole := n - n%f.blockAlign
		conv(data, chunk[:whole])
		if limit >= 0 && int64(len(data[0])) > limit {
			return nil, o.tooLong("wav", f.rate)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, err
			}
			if size >= 0 {
				warnings = append(warnings, fmt.Sprintf("wav: the data chunk declares %d bytes but the stream ends after %d: decoded the %d frames present", size, got, len(data[0])))
			}
			if n%f.blockAlign != 0 {
				warnings = append(warnings, fmt.Sprintf("wav: the data ends inside a frame of %d bytes: the last %d ignored", f.blockAlign, n%f.blockAlign))
			}
			break
		}
		if n%f.blockAlign != 0 { // a partial frame at the end of the data
			warnings = append(warnings, fmt.Sprintf("wav: the data chunk's %d bytes end inside a frame of %d bytes: the last %d ignored", size, f.blockAlign, n%f.blockAlign))
			break
		}
	}
	return &Buffer{SampleRate: f.rate, Data: data, Warnings: warnings}, nil
}

// wavSamples decodes a data chunk held in memory.
func wavSamples(f wavFormat, raw []byte, o options) (*Buffer, error) {
	frames := int64(len(raw) / f.blockAlign)
	if limit := o.maxFrames(f.rate); limit >= 0 && frames > limit {
		return nil, o.tooLong("wav", f.rate)
	}
	data := newChannels(f.channels, frames)
	wavConverter(f)(data, raw[:frames*int64(f.blockAlign)])
	return &Buffer{SampleRate: f.rate, Data: data}, nil
}

// wavConverter returns a function appending whole interleaved frames of raw
// bytes to the channel slices.
func wavConverter(f wavFormat) func(data [][]float32, b []byte) {
	nch := f.channels
	bytesPer := f.bits / 8
	sample := sampleDecoder(f)
	return func(data [][]float32, b []byte) {
		frames := len(b) / (nch * bytesPer)
		for c := range data {
			data[c] = growFloats(data[c], frames)
		}
		if f.tag == wavPCM && bytesPer == 2 && !f.bigEndian {
			// fast path for the most common format
			for c := range data {
				ch := data[c]
				for i := 0; i < frames; i++ {
					o := (i*nch + c) * 2
					ch = append(ch, float32(int16(uint16(b[o])|uint16(b[o+1])<<8))/32768)
				}
				data[c] = ch
			}
			return
		}
		for c := range data {
			ch := data[c]
			for i := 0; i < frames; i++ {
				o := (i*nch + c) * bytesPer
				ch = append(ch, sample(b[o:o+bytesPer]))
			}
			data[c] = ch
		}
	}
}

// sampleDecoder returns the conversion of one stored sample to float32.
func sampleDecoder(f wavFormat) func(s []byte) float32 {
	var bo binary.ByteOrder = binary.LittleEndian
	if f.bigEndian {
		bo = binary.BigEndian
	}
	switch f.tag {
	case wavFloat:
		if f.bits == 32 {
			return func(s []byte) float32 { return math.Float32frombits(bo.Uint32(s)) }
		}
		return func(s []byte) float32 { return float32(math.Float64frombits(bo.Uint64(s))) }
	case wavALaw:
		return func(s []byte) float32 { return float32(alaw(s[0])) / 32768 }
	case wavMuLaw:
		return func(s []byte) float32 { return float32(ulaw(s[0])) / 32768 }
	}
	switch f.bits {
	case 8:
		return func(s []byte) float32 { return float32(int(s[0])-128) / 128 }
	case 16:
		return func(s []byte) float32 { return float32(int16(bo.Uint16(s))) / 32768 }
	case 24:
		if f.bigEndian {
			return func(s []byte) float32 {
				return float32(int32(uint32(s[2])<<8|uint32(s[1])<<16|uint32(s[0])<<24)>>8) / 8388608
			}
		}
		return func(s []byte) float32 {
			return float32(int32(uint32(s[0])<<8|uint32(s[1])<<16|uint32(s[2])<<24)>>8) / 8388608
		}
	default: // 32
		return func(s []byte) float32 { return float32(float64(int32(bo.Uint32(s))) / 2147483648) }
	}
}

func growFloats(s []float32, n int) []float32 {
	if cap(s)-len(s) >= n {
		return s
	}
	return append(s[:len(s):len(s)], make([]float32, n)...)[:len(s)]
}

// alaw and ulaw decode G.711 bytes to 16-bit linear PCM.
func alaw(a byte) int16 {
	a ^= 0x55
	t := int16(a&0x0f) << 4
	seg := (a & 0x70) >> 4
	switch seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return t
	}
	return -t
}

func ulaw(u byte) int16 {
	u = ^u
	t := (int16(u&0x0f) << 3) + 0x84
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return 0x84 - t
	}
	return t - 0x84
}
