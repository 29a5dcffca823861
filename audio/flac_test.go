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

	"github.com/goformer/goformer/internal/testdata"
	"github.com/mewkiz/flac"
	"github.com/mewkiz/flac/frame"
	"github.com/mewkiz/flac/meta"
)

// encodeFLAC writes samples (per channel, integers of bps bits) as FLAC with
// mewkiz/flac's encoder, using the given channel assignment.
func encodeFLAC(t testing.TB, samples [][]int32, rate, bps int, assign frame.Channels) []byte {
	t.Helper()
	n := len(samples[0])
	info := &meta.StreamInfo{
		BlockSizeMin: 1024, BlockSizeMax: 1024, SampleRate: uint32(rate),
		NChannels: uint8(len(samples)), BitsPerSample: uint8(bps), NSamples: uint64(n),
	}
	var out bytes.Buffer
	enc, err := flac.NewEncoder(&out, info)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < n; off += 1024 {
		end := min(off+1024, n)
		f := &frame.Frame{Header: frame.Header{
			HasFixedBlockSize: true, BlockSize: uint16(end - off), SampleRate: uint32(rate),
			Channels: assign, BitsPerSample: uint8(bps),
		}}
		for c := range samples {
			f.Subframes = append(f.Subframes, &frame.Subframe{
				SubHeader: frame.SubHeader{Pred: frame.PredVerbatim},
				Samples:   append([]int32(nil), samples[c][off:end]...),
				NSamples:  end - off,
			})
		}
		if err := enc.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestDecodeFLAC decodes generated FLAC streams of every bit depth the
// format's frame header can name, mono to 6 channels and every stereo
// decorrelation mode, and checks each sample exactly.
func TestDecodeFLAC(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	type tc struct {
		bps    int
		assign frame.Channels
	}
	var cases []tc
	for _, bps := range []int{8, 12, 16, 20, 24} {
		for _, a := range []frame.Channels{frame.ChannelsMono, frame.ChannelsLR, frame.ChannelsMidSide, frame.ChannelsLeftSide, frame.ChannelsSideRight, frame.ChannelsLRCLfeLsRs} {
			cases = append(cases, tc{bps, a})
		}
	}
	for _, c := range cases {
		nch := c.assign.Count()
		samples := make([][]int32, nch)
		want := make([][]float32, nch)
		lim := int64(1) << (c.bps - 1)
		for ch := range samples {
			for i := 0; i < 2500; i++ {
				// a smooth signal plus noise, with the extremes at the start
				v := int64(float64(lim-1) * 0.8 * math.Sin(float64(i)*0.01*float64(ch+1)))
				v += rng.Int63n(lim/8+1) - lim/16
				switch i {
				case 0:
					v = -lim
				case 1:
					v = lim - 1
				}
				v = max(-lim, min(lim-1, v))
				samples[ch] = append(samples[ch], int32(v))
				want[ch] = append(want[ch], float32(float64(v)/float64(lim)))
			}
		}
		data := encodeFLAC(t, samples, 48000, c.bps, c.assign)
		b, err := Decode(bytes.NewReader(data))
		name := fmt.Sprintf("%d-bit/%v", c.bps, c.assign)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if b.SampleRate != 48000 || b.Format != "flac" {
			t.Errorf("%s: %d Hz %q", name, b.SampleRate, b.Format)
		}
		sameSamples(t, name, b, want)
	}
}

// TestDecodeJFKFlac checks the shared 24-bit stereo recording.
func TestDecodeJFKFlac(t *testing.T) {
	path := testdata.Path(t, "media", "audio", "jfk.flac")
	b, err := DecodeFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.SampleRate != 44100 || b.Channels() != 2 || b.Frames() != 485100 {
		t.Fatalf("%d Hz, %d channels, %d frames; want 44100 Hz, 2, 485100", b.SampleRate, b.Channels(), b.Frames())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Truncated: cut inside a frame, and cut at a point where the remaining
	// frames are simply missing. A flipped bit inside the audio fails the
	// frame CRC.
	wantCorrupt(t, raw, []int{len(raw) / 2, len(raw) - 1, 100, 45}, len(raw)/3, 0x10)
}

// wantCorrupt checks that Decode refuses with ErrCorrupt raw cut to each
// length of cuts, and raw with byte at xored with flip.
func wantCorrupt(t *testing.T, raw []byte, cuts []int, at int, flip byte) {
	t.Helper()
	for _, n := range cuts {
		_, err := Decode(bytes.NewReader(raw[:n]))
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("cut at %d bytes: %v, want ErrCorrupt", n, err)
		} else {
			t.Logf("cut at %d bytes: %v", n, err)
		}
	}
	bad := append([]byte(nil), raw...)
	bad[at] ^= flip
	if _, err := Decode(bytes.NewReader(bad)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("flipped bit: %v, want ErrCorrupt", err)
	} else {
		t.Logf("flipped bit: %v", err)
	}
}

// TestDecodeFLACReferenceEncoder decodes FLAC made by the reference encoder
// (through SoX: LPC subframes, 24-bit, 6 channels) and compares it with
// SoX's own decode of the same file.
func TestDecodeFLACReferenceEncoder(t *testing.T) {
	sox := requireTool(t, "sox", "sox")
	dir := t.TempDir()
	for _, c := range []struct{ bits, ch int }{{16, 1}, {24, 2}, {24, 6}, {8, 3}} {
		f := filepath.Join(dir, fmt.Sprintf("x%d_%d.flac", c.bits, c.ch))
		w := f + ".wav"
		run(t, sox, "-D", "-n", "-r", "44100", "-b", fmt.Sprint(c.bits), "-c", fmt.Sprint(c.ch), f,
			"synth", "0.7", "sine", "300-3000", "sine", "440", "pinknoise", "gain", "-3")
		run(t, sox, "-D", f, "-e", "signed-integer", "-b", fmt.Sprint(c.bits), w)
		got, err := DecodeFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want, err := DecodeFile(w)
		if err != nil {
			t.Fatal(err)
		}
		sameSamples(t, filepath.Base(f), got, want.Data)
	}
}
