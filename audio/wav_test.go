package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand"
	"testing"
	"time"
)

var le = binary.ByteOrder(binary.LittleEndian)

// TestDecodeWAV decodes generated WAV files of every supported sample
// format, bit depth and header variant and checks every sample exactly.
func TestDecodeWAV(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	type variant struct {
		name                   string
		tag, bits, container   int
		channels               int
		float, extensible, big bool
	}
	var variants []variant
	for _, ch := range []int{1, 2, 6} {
		variants = append(variants,
			variant{name: "pcm8", tag: 1, bits: 8, container: 1, channels: ch},
			variant{name: "pcm16", tag: 1, bits: 16, container: 2, channels: ch},
			variant{name: "pcm24", tag: 1, bits: 24, container: 3, channels: ch},
			variant{name: "pcm32", tag: 1, bits: 32, container: 4, channels: ch},
			variant{name: "float32", tag: 3, bits: 32, container: 4, channels: ch, float: true},
			variant{name: "float64", tag: 3, bits: 64, container: 8, channels: ch, float: true},
			variant{name: "ext-pcm16", tag: 1, bits: 16, container: 2, channels: ch, extensible: true},
			variant{name: "ext-pcm20in24", tag: 1, bits: 20, container: 3, channels: ch, extensible: true},
			variant{name: "ext-pcm24in32", tag: 1, bits: 24, container: 4, channels: ch, extensible: true},
			variant{name: "ext-float32", tag: 3, bits: 32, container: 4, channels: ch, float: true, extensible: true},
			variant{name: "pcm12in16", tag: 1, bits: 12, container: 2, channels: ch},
			variant{name: "rifx-pcm16", tag: 1, bits: 16, container: 2, channels: ch, big: true},
			variant{name: "rifx-pcm24", tag: 1, bits: 24, container: 3, channels: ch, big: true},
			variant{name: "rifx-float32", tag: 3, bits: 32, container: 4, channels: ch, float: true, big: true},
		)
	}
	for _, v := range variants {
		bo := le
		id := "RIFF"
		if v.big {
			bo, id = binary.BigEndian, "RIFX"
		}
		pc := makePCM(rng, bo, v.channels, 1001, v.bits, v.container, v.float)
		fmtc := fmtPayload(bo, v.tag, v.channels, 22050, v.container, v.bits, v.extensible)
		file := riff(id, bo, chunkSized("fmt ", uint32(len(fmtc)), fmtc, bo), chunkSized("data", uint32(len(pc.data)), pc.data, bo))
		b, err := Decode(bytes.NewReader(file))
		name := v.name + "/" + string(rune('0'+v.channels)) + "ch"
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if b.SampleRate != 22050 || b.Format != "wav" {
			t.Errorf("%s: rate %d format %q", name, b.SampleRate, b.Format)
		}
		sameSamples(t, name, b, pc.want)
	}
}

// TestDecodeWAVLayouts covers chunk orders and sizes seen in the wild.
func TestDecodeWAVLayouts(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	pc := makePCM(rng, le, 2, 333, 16, 2, false)
	fmtc := fmtPayload(le, 1, 2, 16000, 2, 16, false)
	fmt18 := append(append([]byte(nil), fmtc...), 0, 0)               // WAVEFORMATEX with cbSize 0
	list := chunk("LIST", []byte("INFOISFT\x05\x00\x00\x00Lavf\x00")) // odd size, padded
	cases := map[string][]byte{
		"plain":            riff("RIFF", le, chunk("fmt ", fmtc), chunk("data", pc.data)),
		"fmt18":            riff("RIFF", le, chunk("fmt ", fmt18), chunk("data", pc.data)),
		"list-before-fmt":  riff("RIFF", le, list, chunk("fmt ", fmtc), chunk("data", pc.data)),
		"junk-and-fact":    riff("RIFF", le, chunk("JUNK", make([]byte, 27)), chunk("fmt ", fmtc), chunk("fact", []byte{77, 1, 0, 0}), chunk("data", pc.data)),
		"trailing-chunks":  riff("RIFF", le, chunk("fmt ", fmtc), chunk("data", pc.data), list, chunk("id3 ", []byte("ID3xx"))),
		"data-before-fmt":  riff("RIFF", le, chunk("data", pc.data), list, chunk("fmt ", fmtc)),
		"streaming-size":   riff("RIFF", le, chunk("fmt ", fmtc), chunkSized("data", 0xFFFFFFFF, pc.data, le)),
		"zero-riff-size":   append([]byte("RIFF\x00\x00\x00\x00"), riff("RIFF", le, chunk("fmt ", fmtc), chunk("data", pc.data))[8:]...),
		"partial-frame":    riff("RIFF", le, chunk("fmt ", fmtc), chunk("data", append(append([]byte(nil), pc.data...), 1, 2, 3))),
		"rf64":             rf64File(fmtc, pc.data),
		"id3-before-riff":  append([]byte("ID3\x03\x00\x00\x00\x00\x00\x05hello"), riff("RIFF", le, chunk("fmt ", fmtc), chunk("data", pc.data))...),
		"odd-bext-chunk":   riff("RIFF", le, chunk("bext", make([]byte, 603)), chunk("fmt ", fmtc), chunk("data", pc.data)),
		"missing-last-pad": append(riff("RIFF", le, chunk("fmt ", fmtc), chunk("data", pc.data)), []byte("odd!\x01\x00\x00\x00x")...),
	}
	for name, file := range cases {
		b, err := Decode(bytes.NewReader(file))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		sameSamples(t, name, b, pc.want)
	}
}

func rf64File(fmtc, data []byte) []byte {
	ds64 := make([]byte, 28)
	binary.LittleEndian.PutUint64(ds64[0:], uint64(4+36+8+len(fmtc)+8+len(data)))
	binary.LittleEndian.PutUint64(ds64[8:], uint64(len(data)))
	binary.LittleEndian.PutUint64(ds64[16:], uint64(len(data)/4))
	return riff("RF64", le, chunk("ds64", ds64), chunk("fmt ", fmtc), chunkSized("data", 0xFFFFFFFF, data, le))
}

// TestDecodeWAVG711 checks A-law and µ-law against the ITU-T G.711 values
// of a few code words.
func TestDecodeWAVG711(t *testing.T) {
	for _, c := range []struct {
		tag  int
		in   []byte
		want []int16
	}{
		{6, []byte{0xD5, 0x55, 0x2A, 0xAA, 0x80, 0x00}, []int16{8, -8, -32256, 32256, 5504, -5504}},
		{7, []byte{0xFF, 0x7F, 0x80, 0x00, 0xEF, 0x6F}, []int16{0, 0, 32124, -32124, 132, -132}},
	} {
		fmtc := fmtPayload(le, c.tag, 1, 8000, 1, 8, false)
		b, err := Decode(bytes.NewReader(riff("RIFF", le, chunk("fmt ", fmtc), chunk("data", c.in))))
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range c.want {
			if got := b.Data[0][i]; got != float32(w)/32768 {
				t.Errorf("tag %d code %#x: %v, want %v", c.tag, c.in[i], got*32768, w)
			}
		}
	}
}

// TestDecodeWAVErrors checks that malformed and unsupported WAV files give
// the right sentinel error and never panic.
func TestDecodeWAVErrors(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	pc := makePCM(rng, le, 2, 100, 16, 2, false)
	fmtc := fmtPayload(le, 1, 2, 16000, 2, 16, false)
	good := riff("RIFF", le, chunk("fmt ", fmtc), chunk("data", pc.data))
	badAlign := fmtPayload(le, 1, 2, 16000, 2, 16, false)
	binary.LittleEndian.PutUint16(badAlign[12:], 3)
	zeroCh := fmtPayload(le, 1, 0, 16000, 2, 16, false)
	zeroRate := fmtPayload(le, 1, 2, 0, 2, 16, false)
	adpcm := fmtPayload(le, 2, 2, 16000, 2, 4, false)
	badExt := fmtPayload(le, 1, 2, 16000, 2, 16, true)
	badExt[len(badExt)-1] ^= 0xFF
	float16 := fmtPayload(le, 3, 1, 16000, 2, 16, false)
	cases := []struct {
		name string
		file []byte
		want error
	}{
		{"empty", nil, ErrCorrupt},
		{"garbage", []byte("this is not audio at all, just some text"), ErrUnsupportedFormat},
		{"header-only", []byte("RIFF\x24\x00\x00\x00WAVE"), ErrCorrupt},
		{"cut-in-header", good[:10], ErrCorrupt},
		{"cut-in-fmt", good[:30], ErrCorrupt},
		{"cut-in-data", good[:len(good)-51], ErrCorrupt},
		{"no-fmt", riff("RIFF", le, chunk("data", pc.data)), ErrCorrupt},
		{"no-data", riff("RIFF", le, chunk("fmt ", fmtc)), ErrCorrupt},
		{"short-fmt", riff("RIFF", le, chunk("fmt ", fmtc[:12]), chunk("data", pc.data)), ErrCorrupt},
		{"bad-block-align", riff("RIFF", le, chunk("fmt ", badAlign), chunk("data", pc.data)), ErrCorrupt},
		{"zero-channels", riff("RIFF", le, chunk("fmt ", zeroCh), chunk("data", pc.data)), ErrCorrupt},
		{"zero-rate", riff("RIFF", le, chunk("fmt ", zeroRate), chunk("data", pc.data)), ErrCorrupt},
		{"adpcm", riff("RIFF", le, chunk("fmt ", adpcm), chunk("data", pc.data)), ErrUnsupportedFormat},
		{"unknown-ext-guid", riff("RIFF", le, chunk("fmt ", badExt), chunk("data", pc.data)), ErrUnsupportedFormat},
		{"float16", riff("RIFF", le, chunk("fmt ", float16), chunk("data", pc.data)), ErrUnsupportedFormat},
		{"riff-avi", append([]byte("RIFF\x04\x00\x00\x00AVI "), make([]byte, 8)...), ErrUnsupportedFormat},
		{"huge-chunk", riff("RIFF", le, chunkSized("LIST", 0xFFFFFFF0, nil, le)), ErrCorrupt},
	}
	for _, c := range cases {
		_, err := Decode(bytes.NewReader(c.file))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
	// A header declaring 2 hours of audio against a 1 hour limit.
	long := riff("RIFF", le, chunk("fmt ", fmtc), chunkSized("data", 16000*4*7200, pc.data, le))
	if _, err := Decode(bytes.NewReader(long), WithMaxDuration(time.Hour)); !errors.Is(err, ErrTooLong) {
		t.Errorf("2 h header with a 1 h limit: %v, want ErrTooLong", err)
	}
	// Streaming-size data longer than the limit.
	stream := riff("RIFF", le, chunk("fmt ", fmtc), chunkSized("data", 0xFFFFFFFF, make([]byte, 16000*4*2), le))
	if _, err := Decode(bytes.NewReader(stream), WithMaxDuration(time.Second)); !errors.Is(err, ErrTooLong) {
		t.Errorf("2 s of streamed data with a 1 s limit: %v, want ErrTooLong", err)
	}
	if _, err := Decode(bytes.NewReader(stream), WithMaxDuration(0)); err != nil {
		t.Errorf("no limit: %v", err)
	}
}
