package vorbis

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"testing"
)

// decodeAll decodes a whole stream.
func decodeAll(r io.Reader) (rate int, out [][]float32, err error) {
	d, err := NewDecoder(r)
	if err != nil {
		return 0, nil, err
	}
	out = make([][]float32, d.Channels())
	for {
		s, err := d.Next()
		if errors.Is(err, io.EOF) {
			return d.SampleRate(), out, nil
		}
		if err != nil {
			return 0, nil, err
		}
		for c := range out {
			out[c] = append(out[c], s[c]...)
		}
	}
}

// readWAV16 reads the mono 16-bit data chunk of a canonical WAV file.
func readWAV16(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("data"))
	if i < 0 {
		t.Fatal("no data chunk")
	}
	n := int(binary.LittleEndian.Uint32(b[i+4:]))
	data := b[i+8 : i+8+n]
	out := make([]float32, n/2)
	for j := range out {
		out[j] = float32(int16(binary.LittleEndian.Uint16(data[2*j:]))) / 32768
	}
	return out
}

// TestDecodeTiny decodes testdata/tiny.ogg (oggenc -q 0, 22.05 kHz mono)
// and compares with libvorbis' 16-bit decode of it (oggdec).
func TestDecodeTiny(t *testing.T) {
	raw, err := os.ReadFile("../testdata/tiny.ogg")
	if err != nil {
		t.Fatal(err)
	}
	rate, out, err := decodeAll(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	ref := readWAV16(t, "../testdata/tiny.ref.wav")
	if rate != 22050 || len(out) != 1 || len(out[0]) != len(ref) {
		t.Fatalf("%d Hz, %d channels, %d samples; want 22050, 1, %d", rate, len(out), len(out[0]), len(ref))
	}
	var maxd float64
	for i, v := range ref {
		maxd = math.Max(maxd, math.Abs(float64(out[0][i])-float64(v)))
	}
	t.Logf("max|Δ| vs libvorbis (16-bit) = %.3g", maxd)
	if maxd > 2.0/32768 {
		t.Errorf("max|Δ| = %g, more than 2 LSB of 16-bit", maxd)
	}
	// Truncated and corrupted copies fail cleanly.
	for _, n := range []int{len(raw) - 10, len(raw) / 2, 100, 30, 5} {
		if _, _, err := decodeAll(bytes.NewReader(raw[:n])); !errors.Is(err, ErrCorrupt) {
			t.Errorf("cut at %d: %v, want ErrCorrupt", n, err)
		}
	}
	bad := append([]byte(nil), raw...)
	bad[len(bad)-200] ^= 1
	if _, _, err := decodeAll(bytes.NewReader(bad)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("flipped bit: %v, want ErrCorrupt", err)
	}
	// Chained: the same stream twice decodes to twice the samples.
	_, two, err := decodeAll(io.MultiReader(bytes.NewReader(raw), bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if len(two[0]) != 2*len(ref) {
		t.Errorf("chained stream: %d samples, want %d", len(two[0]), 2*len(ref))
	}
}

// FuzzDecode: arbitrary input must decode or fail with ErrCorrupt or
// ErrUnsupported, never panic or hang.
func FuzzDecode(f *testing.F) {
	if raw, err := os.ReadFile("../testdata/tiny.ogg"); err == nil {
		f.Add(raw, true)
		f.Add(raw, false)
		f.Add(raw[:len(raw)/3], false)
	}
	f.Add([]byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00"), true)
	f.Fuzz(func(t *testing.T, data []byte, checkCRC bool) {
		// Without the checksum the fuzzer reaches the packet decoder.
		o := newOggReader(bytes.NewReader(data))
		o.noCRC = !checkCRC
		d, err := newDecoder(o)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		for i := 0; ; i++ {
			_, err := d.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if i > 1<<20 {
				t.Fatal("no end")
			}
		}
	})
}
