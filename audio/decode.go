package audio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// Decode reads a whole audio stream from r and returns its samples. The
// format is recognised from the content, not from a file name: WAV (RIFF,
// RIFX, RF64/BW64; integer PCM of 8 to 32 bits, float32/64, A-law, µ-law,
// WAVE_FORMAT_EXTENSIBLE), FLAC (any bit depth and channel count), MP3
// (MPEG-1/2/2.5 layer III) and Ogg Vorbis. ID3v2 tags before the stream are
// skipped.
//
// WAV data sizes that streaming writers leave in the header (0xFFFFFFFF,
// and arecord's 0x7FFFF000) read to the end of the stream; a data chunk
// that declares more bytes than the stream holds is decoded as far as it
// goes, as sox does, with a note in Buffer.Warnings. Integer PCM is read
// from 8-, 16-, 24- and 32-bit containers (with 8 or more significant
// bits), float from 32 and 64 bits; other sample sizes are refused.
//
// Errors wrap ErrUnsupportedFormat, ErrCorrupt or ErrTooLong (more samples
// than DefaultMaxDuration holds unless WithMaxDuration is given: the
// samples present count, not a header's claim), or are r's own read
// errors. Malformed input never panics.
func Decode(r io.Reader, opts ...Option) (buf *Buffer, err error) {
	o := makeOptions(opts)
	br := bufio.NewReaderSize(r, 64<<10)
	if err := skipID3v2(br); err != nil {
		return nil, err
	}
	sn, err := sniff(br)
	if err != nil {
		return nil, err
	}
	format := sn.format
	defer func() {
		if p := recover(); p != nil {
			buf = nil
			err = fmt.Errorf("%w: %s decoder failed on malformed input: %v", ErrCorrupt, format, p)
		}
	}()
	switch format {
	case "wav":
		buf, err = decodeWAV(br, o)
	case "flac":
		buf, err = decodeFLAC(br, o)
	case "mp3":
		buf, err = decodeMP3(br, o, sn.channels, sn.mp3)
	case "ogg":
		buf, err = decodeOgg(br, o)
	default:
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedFormat, format)
	}
	if err != nil {
		return nil, err
	}
	buf.Format = format
	return buf, nil
}

// DecodeFile opens and decodes the audio file at path (see Decode).
func DecodeFile(path string, opts ...Option) (*Buffer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := Decode(f, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// Load16k decodes r, averages its channels and resamples it to 16 kHz: the
// input Whisper and wav2vec2 expect.
func Load16k(r io.Reader, opts ...Option) ([]float32, error) {
	b, err := Decode(r, opts...)
	if err != nil {
		return nil, err
	}
	return Resample(b.Mono(), b.SampleRate, SampleRate)
}

// Load16kFile is Load16k for the file at path.
func Load16kFile(path string, opts ...Option) ([]float32, error) {
	b, err := DecodeFile(path, opts...)
	if err != nil {
		return nil, err
	}
	pcm, err := Resample(b.Mono(), b.SampleRate, SampleRate)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pcm, nil
}

// skipID3v2 discards any ID3v2 tags at the start of br.
func skipID3v2(br *bufio.Reader) error {
	for {
		h, err := br.Peek(10)
		if len(h) < 10 || !bytes.HasPrefix(h, []byte("ID3")) {
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			return nil
		}
		if h[6]|h[7]|h[8]|h[9] >= 0x80 {
			return fmt.Errorf("%w: ID3v2 tag with an invalid size", ErrCorrupt)
		}
		size := int64(h[6])<<21 | int64(h[7])<<14 | int64(h[8])<<7 | int64(h[9])
		size += 10
		if h[5]&0x10 != 0 { // footer present
			size += 10
		}
		if n, err := br.Discard(int(size)); int64(n) < size {
			if err == nil || errors.Is(err, io.EOF) {
				return fmt.Errorf("%w: truncated ID3v2 tag", ErrCorrupt)
			}
			return err
		}
	}
}

// sniffed is what sniff learnt about a stream.
type sniffed struct {
	format   string  // "wav", "flac", "mp3", "ogg"
	channels int     // MP3: channels of the first frame
	mp3      mp3Info // MP3: the Xing/Info header
}

// sniff identifies the stream at the start of br without consuming it.
func sniff(br *bufio.Reader) (sniffed, error) {
	head, perr := br.Peek(64 << 10)
	if perr != nil && !errors.Is(perr, io.EOF) && !errors.Is(perr, bufio.ErrBufferFull) {
		return sniffed{}, perr
	}
	if len(head) == 0 {
		return sniffed{}, fmt.Errorf("%w: empty input", ErrCorrupt)
	}
	has := func(off int, s string) bool {
		return len(head) >= off+len(s) && string(head[off:off+len(s)]) == s
	}
	switch {
	case (has(0, "RIFF") || has(0, "RIFX") || has(0, "RF64") || has(0, "BW64")) && has(8, "WAVE"):
		return sniffed{format: "wav"}, nil
	case has(0, "fLaC"):
		return sniffed{format: "flac"}, nil
	case has(0, "OggS"):
		switch {
		case has(28, "\x01vorbis"):
			return sniffed{format: "ogg"}, nil
		case has(28, "OpusHead"):
			return sniffed{}, fmt.Errorf("%w: Ogg Opus (only Ogg Vorbis is supported)", ErrUnsupportedFormat)
		case has(28, "\x7fFLAC"):
			return sniffed{}, fmt.Errorf("%w: FLAC in Ogg (use native FLAC)", ErrUnsupportedFormat)
		case has(28, "Speex"):
			return sniffed{}, fmt.Errorf("%w: Ogg Speex", ErrUnsupportedFormat)
		case bytes.Contains(head[:min(len(head), 8192)], []byte("\x01vorbis")):
			return sniffed{format: "ogg"}, nil // Vorbis multiplexed after another stream
		case len(head) < 35:
			return sniffed{}, fmt.Errorf("%w: Ogg stream too short to identify its codec", ErrCorrupt)
		}
		return sniffed{}, fmt.Errorf("%w: Ogg stream with an unknown codec (only Vorbis is supported)", ErrUnsupportedFormat)
	case (has(0, "RIFF") || has(0, "RIFX") || has(0, "RF64")) && len(head) < 12:
		return sniffed{}, fmt.Errorf("%w: truncated RIFF header", ErrCorrupt)
	case (has(0, "RIFF") || has(0, "RIFX")) && len(head) >= 12:
		return sniffed{}, fmt.Errorf("%w: RIFF %q file (not WAVE)", ErrUnsupportedFormat, head[8:12])
	case has(0, "FORM") && (has(8, "AIFF") || has(8, "AIFC")):
		return sniffed{}, fmt.Errorf("%w: AIFF", ErrUnsupportedFormat)
	case has(4, "ftyp"):
		return sniffed{}, fmt.Errorf("%w: MP4/M4A container (AAC, ALAC)", ErrUnsupportedFormat)
	case has(0, "\x1a\x45\xdf\xa3"):
		return sniffed{}, fmt.Errorf("%w: Matroska/WebM container", ErrUnsupportedFormat)
	case has(0, "caff"):
		return sniffed{}, fmt.Errorf("%w: Core Audio Format", ErrUnsupportedFormat)
	case has(0, "#!AMR"):
		return sniffed{}, fmt.Errorf("%w: AMR", ErrUnsupportedFormat)
	case has(0, ".snd"):
		return sniffed{}, fmt.Errorf("%w: Sun/NeXT .au", ErrUnsupportedFormat)
	}
	if ch, version, ok := sniffMP3(head); ok {
		if version == 25 {
			return sniffed{}, fmt.Errorf("%w: MPEG-2.5 layer III (MP3 at 8, 11.025 or 12 kHz) is not supported by the MP3 decoder", ErrUnsupportedFormat)
		}
		return sniffed{format: "mp3", channels: ch, mp3: parseXing(head)}, nil
	}
	if len(head) >= 2 && head[0] == 0xFF && head[1]&0xF6 == 0xF0 {
		return sniffed{}, fmt.Errorf("%w: AAC (ADTS)", ErrUnsupportedFormat)
	}
	if len(head) >= 4 && head[0] == 0xFF && head[1]&0xE0 == 0xE0 {
		if h, ok := parseMPAHeader(head); ok && h.layer != 3 {
			return sniffed{}, fmt.Errorf("%w: MPEG audio layer %d (only layer III, MP3, is supported)", ErrUnsupportedFormat, h.layer)
		}
	}
	return sniffed{}, fmt.Errorf("%w: unrecognised content (want WAV, FLAC, MP3 or Ogg Vorbis)", ErrUnsupportedFormat)
}

// corruptf returns an ErrCorrupt error about format.
func corruptf(format, msg string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrCorrupt, format, fmt.Sprintf(msg, args...))
}

// unexpectedEOF maps a short read to ErrCorrupt (truncation) and passes
// other read errors through.
func unexpectedEOF(format, what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %s: truncated %s", ErrCorrupt, format, what)
	}
	return err
}
