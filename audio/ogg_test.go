package audio

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
)

// TestDecodeOggVorbis encodes test signals with the reference encoder
// (oggenc) over qualities −1…10 (different codebooks, floors, residue types
// and coupling), rates 8–48 kHz and 1, 2 and 6 channels, and compares
// every sample with the reference decoder's output (oggdec, 16-bit): the
// difference must stay within 2 LSB of 16-bit and the lengths must match
// exactly (granule-position trimming).
func TestDecodeOggVorbis(t *testing.T) {
	oggenc := requireTool(t, "oggenc", "vorbis-tools")
	oggdec := requireTool(t, "oggdec", "vorbis-tools")
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(9))
	for _, c := range []struct {
		rate, ch int
		q        string
		dur      float64
	}{
		{44100, 2, "-1", 1.5}, {44100, 2, "3", 1.5}, {44100, 2, "10", 0.7}, {48000, 6, "4", 0.6},
		{22050, 1, "0", 1}, {16000, 1, "2", 1}, {8000, 1, "5", 1}, {32000, 2, "6", 0.8}, {44100, 1, "3", 0.01},
	} {
		chans := make([][]float32, c.ch)
		for ch := range chans {
			sweep := chirp(c.rate, c.dur, 60*float64(ch+1), float64(c.rate)/3)
			for i := range sweep {
				// quiet enough that lossy overshoot does not clip the
				// 16-bit reference; bursts of noise exercise short blocks
				v := 0.25 * sweep[i]
				if (i/(c.rate/10))%3 == 1 {
					v += float32(0.1 * rng.NormFloat64())
				}
				sweep[i] = float32(math.Round(float64(v)*32767) / 32768)
			}
			chans[ch] = sweep
		}
		name := fmt.Sprintf("%dHz_%dch_q%s", c.rate, c.ch, c.q)
		in := filepath.Join(dir, name+".wav")
		enc := filepath.Join(dir, name+".ogg")
		ref := filepath.Join(dir, name+".ref.wav")
		if err := os.WriteFile(in, wav16(c.rate, chans...), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, oggenc, "-Q", "-q", c.q, "-o", enc, in)
		run(t, oggdec, "-Q", "-b", "16", "-o", ref, enc)
		got, err := DecodeFile(enc)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		want, err := DecodeFile(ref)
		if err != nil {
			t.Fatal(err)
		}
		if got.Format != "ogg" || got.SampleRate != c.rate || got.Channels() != c.ch || got.Frames() != len(chans[0]) || want.Frames() != got.Frames() {
			t.Errorf("%s: %q %d Hz %d ch %d frames; want ogg %d Hz %d ch %d frames (oggdec %d)", name, got.Format, got.SampleRate, got.Channels(), got.Frames(), c.rate, c.ch, len(chans[0]), want.Frames())
			continue
		}
		// oggdec's own channel permutation for 5.1 is not the inverse of
		// oggenc's (vorbis-tools 1.4), so each channel is matched with the
		// closest reference channel; the order itself is checked against
		// the encoder's input below.
		var maxd float64
		for ch := range got.Data {
			best := math.Inf(1)
			for _, w := range want.Data {
				var d float64
				for i, wv := range w {
					g := math.Max(-1, math.Min(32767.0/32768, float64(got.Data[ch][i])))
					d = math.Max(d, math.Abs(g-float64(wv)))
				}
				best = math.Min(best, d)
			}
			maxd = math.Max(maxd, best)
			if c.ch == 6 && ch != 3 { // the order matters beyond stereo; the LFE is coded low-passed
				if r := corr(got.Data[ch], chans[ch], 0); r < 0.8 {
					t.Errorf("%s: channel %d correlates %.3f with input channel %d (wrong order?)", name, ch, r, ch)
				}
			}
		}
		t.Logf("%s: max|Δ| vs libvorbis = %.3g", name, maxd)
		if maxd > 2.0/32768 {
			t.Errorf("%s: max|Δ| = %g > 2 LSB", name, maxd)
		}
		if c.rate != 44100 || c.q != "3" || c.ch != 2 {
			continue
		}
		raw, err := os.ReadFile(enc)
		if err != nil {
			t.Fatal(err)
		}
		wantCorrupt(t, raw, []int{len(raw) * 2 / 3, len(raw) - 1, 40}, len(raw)/2, 0x40)
	}
}

// TestDecodeOggTiny decodes the small checked-in file (no tools needed)
// through Decode, and rejects Ogg codecs other than Vorbis.
func TestDecodeOggTiny(t *testing.T) {
	b, err := DecodeFile("testdata/tiny.ogg")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := DecodeFile("testdata/tiny.ref.wav")
	if err != nil {
		t.Fatal(err)
	}
	if b.Format != "ogg" || b.SampleRate != 22050 || b.Frames() != ref.Frames() {
		t.Fatalf("%q %d Hz %d frames, want ogg 22050 Hz %d", b.Format, b.SampleRate, b.Frames(), ref.Frames())
	}
	if s := snr(b.Data[0], ref.Data[0], 0); s < 70 {
		t.Errorf("SNR vs libvorbis %.1f dB", s)
	}
	opus := []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x13OpusHead\x01\x02\x00\x00\x80\xbb\x00\x00\x00\x00\x00")
	if _, err := Decode(bytes.NewReader(opus)); !errors.Is(err, ErrUnsupportedFormat) {
		t.Errorf("Ogg Opus: %v, want ErrUnsupportedFormat", err)
	}
}
