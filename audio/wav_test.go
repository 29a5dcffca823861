package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	pcm3 := fmtPayload(le, 1, 2, 16000, 1, 3, false)
	ext3 := fmtPayload(le, 1, 2, 16000, 2, 3, true)
	ext20in16 := fmtPayload(le, 1, 2, 16000, 2, 20, true)
	pcm40 := fmtPayload(le, 1, 1, 16000, 5, 40, false)
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
		{"no-fmt", riff("RIFF", le, chunk("data", pc.data)), ErrCorrupt},
		{"no-data", riff("RIFF", le, chunk("fmt ", fmtc)), ErrCorrupt},
		{"short-fmt", riff("RIFF", le, chunk("fmt ", fmtc[:12]), chunk("data", pc.data)), ErrCorrupt},
		{"bad-block-align", riff("RIFF", le, chunk("fmt ", badAlign), chunk("data", pc.data)), ErrCorrupt},
		{"zero-channels", riff("RIFF", le, chunk("fmt ", zeroCh), chunk("data", pc.data)), ErrCorrupt},
		{"zero-rate", riff("RIFF", le, chunk("fmt ", zeroRate), chunk("data", pc.data)), ErrCorrupt},
		{"adpcm", riff("RIFF", le, chunk("fmt ", adpcm), chunk("data", pc.data)), ErrUnsupportedFormat},
		{"unknown-ext-guid", riff("RIFF", le, chunk("fmt ", badExt), chunk("data", pc.data)), ErrUnsupportedFormat},
		{"float16", riff("RIFF", le, chunk("fmt ", float16), chunk("data", pc.data)), ErrUnsupportedFormat},
		{"3-bit", riff("RIFF", le, chunk("fmt ", pcm3), chunk("data", pc.data)), ErrUnsupportedFormat},
		{"ext-3-valid-bits", riff("RIFF", le, chunk("fmt ", ext3), chunk("data", pc.data)), ErrUnsupportedFormat},
		{"ext-20-valid-in-16", riff("RIFF", le, chunk("fmt ", ext20in16), chunk("data", pc.data)), ErrUnsupportedFormat},
		{"40-bit", riff("RIFF", le, chunk("fmt ", pcm40), chunk("data", pc.data)), ErrUnsupportedFormat},
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
	// The sample sizes refused are named.
	if _, err := Decode(bytes.NewReader(riff("RIFF", le, chunk("fmt ", pcm3), chunk("data", pc.data)))); err == nil || !strings.Contains(err.Error(), "3 bits") {
		t.Errorf("3-bit PCM: %v, want the size named", err)
	}
	// Data longer than the limit in a chunk that declares its real size.
	long := riff("RIFF", le, chunk("fmt ", fmtc), chunk("data", make([]byte, 16000*4*2)))
	if _, err := Decode(bytes.NewReader(long), WithMaxDuration(time.Second)); !errors.Is(err, ErrTooLong) {
		t.Errorf("2 s of data with a 1 s limit: %v, want ErrTooLong", err)
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

// TestDecodeWAVSizes checks the data sizes real tools write: the streaming
// placeholders (0xFFFFFFFF; 0x7FFFF000 from arecord, which declares 18 h of
// 16 kHz mono, more than the default limit) read to the end of the data
// without a warning, and a data chunk that declares more than the file
// holds decodes the samples present with a warning, as sox does. The limit
// applies to the data really there.
func TestDecodeWAVSizes(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	const rate = 16000
	pc := makePCM(rng, le, 1, 11*rate, 16, 2, false) // 11 s
	fmtc := fmtPayload(le, 1, 1, rate, 2, 16, false)
	for _, c := range []struct {
		name     string
		declared uint32
		data     []byte
		frames   int
		warn     bool
	}{
		{"arecord", 0x7FFFF000, pc.data, 11 * rate, false},
		{"streaming", 0xFFFFFFFF, pc.data, 11 * rate, false},
		{"arecord-partial-frame", 0x7FFFF000, append(append([]byte(nil), pc.data...), 7), 11 * rate, true},
		{"short-chunk", uint32(len(pc.data)) + 1000, pc.data, 11 * rate, true},
		{"cut-in-a-frame", uint32(len(pc.data)), pc.data[:len(pc.data)-51], (len(pc.data) - 51) / 2, true},
		{"claims-2-hours", rate * 2 * 7200, pc.data, 11 * rate, true},
		{"exact", uint32(len(pc.data)), pc.data, 11 * rate, false},
	} {
		file := riff("RIFF", le, chunk("fmt ", fmtc), chunkSized("data", c.declared, nil, le))
		file = append(file, c.data...)
		b, err := Decode(bytes.NewReader(file), WithMaxDuration(time.Minute))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if b.Frames() != c.frames {
			t.Errorf("%s: %d frames, want %d", c.name, b.Frames(), c.frames)
		}
		sameSamples(t, c.name, b, [][]float32{pc.want[0][:b.Frames()]})
		if got := len(b.Warnings) > 0; got != c.warn {
			t.Errorf("%s: warnings %q, want some: %v", c.name, b.Warnings, c.warn)
		}
		t.Logf("%s: %d frames, warnings %q", c.name, b.Frames(), b.Warnings)
		// Data really longer than the limit is still refused.
		if _, err := Decode(bytes.NewReader(file), WithMaxDuration(10*time.Second)); !errors.Is(err, ErrTooLong) {
			t.Errorf("%s: 11 s with a 10 s limit: %v, want ErrTooLong", c.name, err)
		}
	}
}

// TestDecodeWAVSizesMatchSox decodes the same files with sox: a short data
// chunk and arecord's placeholder give the same samples (sox warns about
// the first), and sox refuses 3-bit PCM as Decode does. (12 bits in 16,
// which TestDecodeWAV covers, is decoded as the WAVE specification and
// ffmpeg read it, left-justified; sox 14.4 reads such files as packed
// 12-bit samples and fails.)
func TestDecodeWAVSizesMatchSox(t *testing.T) {
	sox := requireTool(t, "sox", "sox")
	rng := rand.New(rand.NewSource(13))
	pc := makePCM(rng, le, 2, 4000, 16, 2, false)
	fmtc := fmtPayload(le, 1, 2, 16000, 2, 16, false)
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		file []byte
	}{
		{"short-chunk", append(riff("RIFF", le, chunk("fmt ", fmtc), chunkSized("data", uint32(len(pc.data))+4000, nil, le)), pc.data...)},
		{"arecord", append(riff("RIFF", le, chunk("fmt ", fmtc), chunkSized("data", 0x7FFFF000, nil, le)), pc.data...)},
	} {
		in, out := filepath.Join(dir, c.name+".wav"), filepath.Join(dir, c.name+".f32")
		if err := os.WriteFile(in, c.file, 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, sox, "-V1", in, "-t", "f32", out)
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Decode(bytes.NewReader(c.file))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		nch := b.Channels()
		if len(raw)/4 != b.Frames()*nch {
			t.Errorf("%s: sox decodes %d samples, Decode %d frames of %d channels", c.name, len(raw)/4, b.Frames(), nch)
			continue
		}
		for i := 0; i < len(raw)/4; i++ {
			want := math.Float32frombits(le.Uint32(raw[4*i:]))
			if got := b.Data[i%nch][i/nch]; got != want {
				t.Errorf("%s: sample %d of channel %d: %v, sox %v", c.name, i/nch, i%nch, got, want)
				break
			}
		}
	}
	bad := filepath.Join(dir, "3-bit.wav")
	if err := os.WriteFile(bad, riff("RIFF", le, chunk("fmt ", fmtPayload(le, 1, 1, 16000, 1, 3, false)), chunk("data", make([]byte, 100))), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(sox, bad, "-t", "f32", filepath.Join(dir, "3-bit.f32")).Run(); err == nil {
		t.Errorf("sox decodes 3-bit PCM: the refusal is no longer what sox does")
	}
}
