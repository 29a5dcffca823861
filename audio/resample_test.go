package audio

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
)

// snr returns 10 log10(Σref² / Σ(got-ref)²) over the common range [skip, n-skip).
func snr(got, ref []float32, skip int) float64 {
	n := min(len(got), len(ref))
	var s, e float64
	for i := skip; i < n-skip; i++ {
		r := float64(ref[i])
		d := float64(got[i]) - r
		s += r * r
		e += d * d
	}
	if e == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(s/e)
}

func TestJFKFlacTo16kMatchesSoX(t *testing.T) {
	b, err := DecodeFile(testdata.Path(t, "media", "audio", "jfk.flac"))
	if err != nil {
		t.Fatal(err)
	}
	if b.SampleRate != 44100 || b.Channels() != 2 || b.Frames() != 485100 || b.Format != "flac" {
		t.Fatalf("jfk.flac: %d Hz, %d channels, %d frames, %q; want 44100 Hz, 2, 485100, flac", b.SampleRate, b.Channels(), b.Frames(), b.Format)
	}
	ref, err := DecodeFile(testdata.Path(t, "media", "audio", "jfk16k.wav"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Resample(b.Mono(), b.SampleRate, SampleRate)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != ref.Frames() {
		t.Errorf("resampled length %d, SoX %d", len(got), ref.Frames())
	}
	s := snr(got, ref.Data[0], 0)
	t.Logf("jfk.flac → 16 kHz vs SoX HQ: SNR %.1f dB", s)
	if s < 50 {
		t.Errorf("SNR %.1f dB < 50 dB", s)
	}
	// The bar is meaningful: naive linear interpolation misses it.
	lin := snr(linearResample(b.Mono(), b.SampleRate, SampleRate), ref.Data[0], 0)
	t.Logf("naive linear interpolation: SNR %.1f dB", lin)
	if lin >= 50 {
		t.Errorf("linear interpolation reaches %.1f dB: the test does not discriminate", lin)
	}
}

// linearResample is the naive interpolator the quality bar must reject.
func linearResample(x []float32, from, to int) []float32 {
	n := (len(x)*to + from - 1) / from
	out := make([]float32, n)
	for i := range out {
		t := float64(i) * float64(from) / float64(to)
		k := int(t)
		a := t - float64(k)
		var x0, x1 float32
		if k < len(x) {
			x0 = x[k]
		}
		if k+1 < len(x) {
			x1 = x[k+1]
		}
		out[i] = float32((1-a)*float64(x0) + a*float64(x1))
	}
	return out
}

// TestResampleSynthetic resamples sums of sines from common rates to 16 kHz
// and compares with the ideal band-limited result computed analytically:
// in-band tones must come through (SNR ≥ 100 dB) and tones above the output
// Nyquist frequency must be removed.
func TestResampleSynthetic(t *testing.T) {
	for _, from := range []int{8000, 11025, 22050, 24000, 32000, 44100, 48000, 96000, 44056, 44101, 7999} {
		low := float64(min(from, SampleRate)) / 2
		inBand := []float64{0.013 * low, 0.21 * low, 0.55 * low, 0.88 * low}
		var outBand []float64
		if from > SampleRate {
			outBand = []float64{1.02 * 8000, 0.5 * float64(from) / 2 * 1.5}
		}
		dur := 0.5
		n := int(dur * float64(from))
		x := make([]float32, n)
		tone := func(f float64, j int, tm float64) float64 { return 0.2 * math.Sin(2*math.Pi*f*tm+float64(j)) }
		for i := range x {
			tm := float64(i) / float64(from)
			var v float64
			for j, f := range inBand {
				v += tone(f, j, tm)
			}
			for j, f := range outBand {
				if f < float64(from)/2 {
					v += tone(f, j+7, tm)
				}
			}
			x[i] = float32(v)
		}
		got, err := Resample(x, from, SampleRate)
		if err != nil {
			t.Fatal(err)
		}
		if want := (n*SampleRate + from - 1) / from; len(got) != want {
			t.Errorf("%d Hz: %d samples, want %d", from, len(got), want)
		}
		ideal := make([]float32, len(got))
		for i := range ideal {
			tm := float64(i) / SampleRate
			var v float64
			for j, f := range inBand {
				v += tone(f, j, tm)
			}
			ideal[i] = float32(v)
		}
		s := snr(got, ideal, 1000)
		t.Logf("%6d Hz → 16 kHz: SNR %.1f dB", from, s)
		if s < 100 {
			t.Errorf("%d Hz → 16 kHz: SNR %.1f dB < 100 dB", from, s)
		}
	}
}

// TestResamplerStreaming checks that chunked input gives the same output as
// one call, for chunk sizes that do and do not align with the ratio.
func TestResamplerStreaming(t *testing.T) {
	x := sine(44100, 1000, 44100)
	for i := range x {
		x[i] += float32(math.Sin(float64(i) * 0.37))
	}
	for _, rates := range [][2]int{{44100, 16000}, {8000, 16000}, {48000, 16000}, {16000, 16000}, {12345, 16000}, {44101, 16000}} {
		want, err := Resample(x, rates[0], rates[1])
		if err != nil {
			t.Fatal(err)
		}
		for _, chunk := range []int{1, 7, 441, 4096, 100000} {
			r, err := NewResampler(rates[0], rates[1])
			if err != nil {
				t.Fatal(err)
			}
			var got []float32
			for i := 0; i < len(x); i += chunk {
				got = r.Write(got, x[i:min(i+chunk, len(x))])
			}
			got = r.Flush(got)
			if len(got) != len(want) {
				t.Fatalf("%v chunk %d: %d samples, want %d", rates, chunk, len(got), len(want))
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%v chunk %d: sample %d = %v, want %v", rates, chunk, i, got[i], want[i])
				}
			}
		}
	}
}

func TestResampleErrors(t *testing.T) {
	for _, r := range [][2]int{{0, 16000}, {16000, 0}, {-1, 16000}, {2_000_000, 16000}} {
		if _, err := Resample([]float32{1, 2, 3}, r[0], r[1]); err == nil {
			t.Errorf("Resample %v: no error", r)
		}
	}
	if out, err := Resample(nil, 44100, 16000); err != nil || len(out) != 0 {
		t.Errorf("empty input: %v, %v", out, err)
	}
}

// TestResampleMatchesSoX has SoX make 8, 22.05 and 48 kHz versions of
// jfk.flac and resample each to 16 kHz with its high-quality resampler; ours
// must match with SNR ≥ 50 dB.
func TestResampleMatchesSoX(t *testing.T) {
	sox := requireTool(t, "sox", "sox")
	src := testdata.Path(t, "media", "audio", "jfk.flac")
	dir := t.TempDir()
	for _, rate := range []int{8000, 22050, 48000} {
		in := filepath.Join(dir, fmt.Sprintf("in%d.wav", rate))
		ref := filepath.Join(dir, fmt.Sprintf("ref%d.wav", rate))
		run(t, sox, "-D", src, "-e", "floating-point", "-b", "32", "-c", "1", "-r", fmt.Sprint(rate), in)
		run(t, sox, "-D", in, "-e", "floating-point", "-b", "32", "-r", "16000", ref)
		x, err := DecodeFile(in)
		if err != nil {
			t.Fatal(err)
		}
		want, err := DecodeFile(ref)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Resample(x.Mono(), x.SampleRate, SampleRate)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != want.Frames() {
			t.Errorf("%d Hz: %d samples, SoX %d", rate, len(got), want.Frames())
		}
		s := snr(got, want.Data[0], 0)
		t.Logf("%5d Hz → 16 kHz vs SoX HQ: SNR %.1f dB", rate, s)
		if s < 50 {
			t.Errorf("%d Hz: SNR %.1f dB < 50 dB", rate, s)
		}
	}
}
