package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// chirp returns a mono 16-bit-exact sweep (not periodic, so alignment is
// unambiguous) at rate for dur seconds.
func chirp(rate int, dur float64, f0, f1 float64) []float32 {
	n := int(dur * float64(rate))
	out := make([]float32, n)
	for i := range out {
		tm := float64(i) / float64(rate)
		ph := 2 * math.Pi * (f0*tm + (f1-f0)*tm*tm/(2*dur))
		out[i] = float32(math.Round(0.5*math.Sin(ph)*32767) / 32768)
	}
	return out
}

// corr is the normalised correlation of a and b over [skip, n-skip).
func corr(a, b []float32, skip int) float64 {
	n := min(len(a), len(b))
	var ab, aa, bb float64
	for i := skip; i < n-skip; i++ {
		x, y := float64(a[i]), float64(b[i])
		ab += x * y
		aa += x * x
		bb += y * y
	}
	return ab / math.Sqrt(aa*bb)
}

// wav16 writes 16-bit PCM WAV bytes of the given channels.
func wav16(rate int, chans ...[]float32) []byte {
	var data bytes.Buffer
	for i := range chans[0] {
		for _, c := range chans {
			binary.Write(&data, binary.LittleEndian, int16(math.Round(float64(c[i])*32768)))
		}
	}
	return riff("RIFF", le, chunk("fmt ", fmtPayload(le, 1, len(chans), rate, 2, 16, false)), chunk("data", data.Bytes()))
}

// TestDecodeMP3 encodes chirps with LAME at MPEG-1 and MPEG-2 rates, mono
// and stereo, and checks rate, channels, gapless length and alignment
// (LAME's encoder delay and padding trimmed) and fidelity; then a
// truncated file, a corrupted one, and an MPEG-2.5 one.
func TestDecodeMP3(t *testing.T) {
	lame := requireTool(t, "lame", "lame")
	dir := t.TempDir()
	for _, c := range []struct {
		rate, ch int
	}{{44100, 2}, {44100, 1}, {48000, 2}, {22050, 2}, {16000, 1}, {32000, 1}} {
		left := chirp(c.rate, 1.3, 50, float64(c.rate)/5)
		chans := [][]float32{left}
		if c.ch == 2 {
			right := make([]float32, len(left))
			for i := range right {
				right[i] = -left[i] / 2
			}
			chans = append(chans, right)
		}
		in := filepath.Join(dir, fmt.Sprintf("in%d_%d.wav", c.rate, c.ch))
		out := in + ".mp3"
		if err := os.WriteFile(in, wav16(c.rate, chans...), 0o644); err != nil {
			t.Fatal(err)
		}
		mode := "j"
		if c.ch == 1 {
			mode = "m"
		}
		run(t, lame, "--quiet", "-b", "128", "-m", mode, in, out)
		b, err := DecodeFile(out)
		name := filepath.Base(out)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if b.SampleRate != c.rate || b.Channels() != c.ch || b.Format != "mp3" {
			t.Errorf("%s: %d Hz %d ch %q", name, b.SampleRate, b.Channels(), b.Format)
		}
		if b.Frames() != len(left) {
			t.Errorf("%s: %d frames, want %d (gapless)", name, b.Frames(), len(left))
		}
		// LAME scales the level slightly; the shape must match sample for
		// sample (a one-sample shift drops the correlation of this sweep
		// well below 0.9).
		for ch := range chans {
			if r := corr(b.Data[ch], chans[ch], 2000); r < 0.999 {
				t.Errorf("%s channel %d: correlation %.5f with the input (misaligned or broken)", name, ch, r)
			}
		}
		if c.rate != 44100 || c.ch != 2 {
			continue
		}
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(bytes.NewReader(raw[:len(raw)*6/10])); !errors.Is(err, ErrCorrupt) {
			t.Errorf("truncated MP3: %v, want ErrCorrupt", err)
		} else {
			t.Logf("truncated MP3: %v", err)
		}
		bad := append([]byte(nil), raw...)
		for i := len(bad) / 3; i < len(bad)/3+400; i += 7 {
			bad[i] ^= 0x5A
		}
		if _, err := Decode(bytes.NewReader(bad)); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Errorf("corrupted MP3: %v, want success or ErrCorrupt", err)
		}
	}
	// MPEG-2.5 (8 kHz): recognised, reported unsupported.
	in := filepath.Join(dir, "in8k.wav")
	if err := os.WriteFile(in, wav16(8000, chirp(8000, 0.5, 50, 3000)), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, lame, "--quiet", "-m", "m", in, in+".mp3")
	if _, err := DecodeFile(in + ".mp3"); !errors.Is(err, ErrUnsupportedFormat) {
		t.Errorf("MPEG-2.5: %v, want ErrUnsupportedFormat", err)
	}
}
