package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand"
	"os"
	"testing"
	"time"

	"github.com/mewkiz/flac/frame"
)

// checkDecodeResult asserts the invariants of any Decode outcome.
func checkDecodeResult(t *testing.T, b *Buffer, err error) {
	t.Helper()
	if err != nil {
		if b != nil {
			t.Fatalf("error %v with a non-nil buffer", err)
		}
		return
	}
	if b.SampleRate <= 0 || b.Channels() == 0 {
		t.Fatalf("success with rate %d, %d channels", b.SampleRate, b.Channels())
	}
	for _, c := range b.Data {
		if len(c) != b.Frames() {
			t.Fatalf("channels of unequal length")
		}
	}
}

var be = binary.ByteOrder(binary.BigEndian)

// fuzzOpts bounds the output so hostile headers cannot exhaust memory.
var fuzzOpts = []Option{WithMaxDuration(10 * time.Minute)}

func wavSeeds(f *testing.F) {
	rng := rand.New(rand.NewSource(1))
	pc := makePCM(rng, le, 2, 20, 16, 2, false)
	fmtc := fmtPayload(le, 1, 2, 16000, 2, 16, false)
	f.Add(riff("RIFF", le, chunk("fmt ", fmtc), chunk("data", pc.data)))
	f.Add(riff("RIFF", le, chunk("LIST", []byte("abc")), chunk("fmt ", fmtPayload(le, 3, 1, 8000, 4, 32, true)), chunk("data", make([]byte, 16))))
	f.Add(riff("RIFX", be, chunkSized("fmt ", 16, fmtPayload(be, 1, 1, 8000, 3, 24, false), be), chunkSized("data", 6, make([]byte, 6), be)))
	f.Add(rf64File(fmtc, pc.data))
	f.Add(riff("RIFF", le, chunk("data", pc.data), chunk("fmt ", fmtc)))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEfmt "))
}

// FuzzDecodeWAV fuzzes the WAV parser: any input must decode or fail with
// one of the package's errors, never panic.
func FuzzDecodeWAV(f *testing.F) {
	wavSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := decodeWAVBytes(data)
		checkDecodeResult(t, b, err)
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedFormat) && !errors.Is(err, ErrTooLong) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}

// FuzzDecode fuzzes format sniffing and every decoder wrapper (WAV, FLAC,
// MP3, Ogg Vorbis) through Decode.
func FuzzDecode(f *testing.F) {
	wavSeeds(f)
	f.Add(flacSeed(f))
	for _, name := range []string{"testdata/tiny.mp3", "testdata/tiny.ogg"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
			f.Add(b[:len(b)/2])
		}
	}
	f.Add([]byte("ID3\x03\x00\x00\x00\x00\x00\x02xxfLaC"))
	f.Add([]byte("OggS\x00\x02"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Decode(bytes.NewReader(data), fuzzOpts...)
		checkDecodeResult(t, b, err)
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedFormat) && !errors.Is(err, ErrTooLong) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}

func decodeWAVBytes(data []byte) (*Buffer, error) {
	return Decode(bytes.NewReader(data), fuzzOpts...)
}

func flacSeed(f *testing.F) []byte {
	samples := [][]int32{{1, -5, 100, 7, 3, -32768, 32767, 0}, {0, 0, 1, 2, 3, 4, 5, 6}}
	return encodeFLAC(f, samples, 16000, 16, frame.ChannelsMidSide)
}
