package audio

import (
	"math"
	"math/rand"
	"testing"

	"github.com/goformer/goformer/tensor"
)

func equalTensors(t *testing.T, name string, got, want *tensor.Tensor) {
	t.Helper()
	g, w := got.Data(), want.Data()
	if len(g) != len(w) {
		t.Fatalf("%s: %d values, want %d", name, len(g), len(w))
	}
	for i := range g {
		if g[i] != w[i] {
			t.Fatalf("%s: value %d = %v, want %v", name, i, g[i], w[i])
		}
	}
}

// noise returns n samples of a reproducible test signal.
func noise(n int, seed int64) []float32 {
	rng := rand.New(rand.NewSource(seed))
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(0.3*math.Sin(float64(i)*0.05) + 0.1*rng.NormFloat64())
	}
	return out
}

// TestWindowsAndStream checks that Windows cuts a long recording into
// 30 s windows whose features equal LogMel of each piece, and that
// FeatureStream fed in uneven chunks (at 16 kHz and at 44.1 kHz) produces the
// same windows.
func TestWindowsAndStream(t *testing.T) {
	e, err := NewMelExtractor(80)
	if err != nil {
		t.Fatal(err)
	}
	pcm := noise(NSamples*2+12345, 1)
	var wins []*tensor.Tensor
	for i, w := range e.Windows(pcm) {
		if i != len(wins) {
			t.Fatalf("window index %d, want %d", i, len(wins))
		}
		wins = append(wins, w)
	}
	if len(wins) != 3 {
		t.Fatalf("%d windows, want 3", len(wins))
	}
	equalTensors(t, "window 1", wins[1], e.LogMel(pcm[NSamples:2*NSamples]))
	equalTensors(t, "window 2", wins[2], e.LogMel(pcm[2*NSamples:]))

	rng := rand.New(rand.NewSource(2))
	feed := func(s *FeatureStream, x []float32) []*tensor.Tensor {
		var out []*tensor.Tensor
		for len(x) > 0 {
			n := min(len(x), 1+rng.Intn(70000))
			w, err := s.Write(x[:n])
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, w...)
			x = x[n:]
		}
		return append(out, s.Flush()...)
	}
	s, err := e.NewStream(SampleRate)
	if err != nil {
		t.Fatal(err)
	}
	got := feed(s, pcm)
	if len(got) != len(wins) {
		t.Fatalf("stream: %d windows, want %d", len(got), len(wins))
	}
	for i := range got {
		equalTensors(t, "stream window", got[i], wins[i])
	}
	if _, err := s.Write(pcm[:10]); err == nil {
		t.Error("Write after Flush: no error")
	}

	// 44.1 kHz input: the stream resamples on the fly.
	pcm44 := noise(44100*65, 3)
	r16, err := Resample(pcm44, 44100, SampleRate)
	if err != nil {
		t.Fatal(err)
	}
	var want []*tensor.Tensor
	for _, w := range e.Windows(r16) {
		want = append(want, w)
	}
	s, err = e.NewStream(44100)
	if err != nil {
		t.Fatal(err)
	}
	got = feed(s, pcm44)
	if len(got) != len(want) {
		t.Fatalf("44.1 kHz stream: %d windows, want %d", len(got), len(want))
	}
	for i := range got {
		equalTensors(t, "44.1 kHz stream window", got[i], want[i])
	}

	// Empty stream and exact window multiple.
	s, _ = e.NewStream(SampleRate)
	if w := s.Flush(); len(w) != 0 {
		t.Errorf("empty stream flushed %d windows", len(w))
	}
	s, _ = e.NewStream(SampleRate)
	w, _ := s.Write(pcm[:NSamples])
	if len(w) != 1 || len(s.Flush()) != 0 {
		t.Errorf("exactly one window: got %d then more on Flush", len(w))
	}
}

// TestLogMelEdgeCases: short, empty, over-long and non-finite input, 128
// mel bins, invalid bin counts.
func TestLogMelEdgeCases(t *testing.T) {
	e, err := NewMelExtractor(128)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 199, 200, 401, NSamples + 1000} {
		f := e.LogMel(noise(n, 4))
		if s := f.Shape(); s[0] != 128 || s[1] != NFrames {
			t.Errorf("len %d: shape %v", n, s)
		}
		for _, v := range f.Data() {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("len %d: non-finite feature %v", n, v)
			}
		}
	}
	// Silence: every value is the floor, log10(1e-10) = -10 → (-10+4)/4.
	for _, v := range e.LogMel(nil).Data() {
		if v != -1.5 {
			t.Fatalf("silence gives %v, want -1.5", v)
		}
	}
	// Over 30 s is truncated: only the first 480000 samples count.
	long := noise(NSamples+5000, 5)
	equalTensors(t, "truncation", e.LogMel(long), e.LogMel(long[:NSamples]))
	// NaN input must not panic.
	bad := noise(1000, 6)
	bad[10] = float32(math.NaN())
	bad[20] = float32(math.Inf(1))
	e.LogMel(bad)
	e.LogMelPadded(bad)
	for _, n := range []int{0, -1, 100000} {
		if _, err := NewMelExtractor(n); err == nil {
			t.Errorf("NewMelExtractor(%d): no error", n)
		}
		if _, err := LogMel(nil, n); err == nil {
			t.Errorf("LogMel(nil, %d): no error", n)
		}
	}
}

// TestMelWindow checks window slicing at seek offsets with padding and
// trimming to 3000 frames, and PadOrTrim.
func TestMelWindow(t *testing.T) {
	e, _ := NewMelExtractor(80)
	pcm := noise(SampleRate*40, 7)
	mel := e.LogMelPadded(pcm)
	total := mel.Dim(1)
	if total != (len(pcm)+NSamples)/HopLength {
		t.Fatalf("padded frames %d", total)
	}
	for _, c := range []struct{ seek, size int }{{0, 3000}, {1234, 3000}, {0, 5000}, {4000, 1500}, {total - 100, 3000}, {total + 10, 3000}, {0, 0}} {
		w, err := MelWindow(mel, c.seek, c.size)
		if err != nil {
			t.Fatal(err)
		}
		if s := w.Shape(); s[0] != 80 || s[1] != NFrames {
			t.Fatalf("%v: shape %v", c, s)
		}
		for m := 0; m < 80; m += 13 {
			for f := 0; f < NFrames; f++ {
				var want float32
				if src := c.seek + f; f < c.size && src < total {
					want = mel.At(m, src)
				}
				if got := w.At(m, f); got != want {
					t.Fatalf("%v: mel %d frame %d = %v, want %v", c, m, f, got, want)
				}
			}
		}
	}
	if _, err := MelWindow(mel, -1, 10); err == nil {
		t.Error("negative seek: no error")
	}
	if _, err := MelWindow(tensor.New(3), 0, 10); err == nil {
		t.Error("rank-1 tensor: no error")
	}
	if got := PadOrTrim([]float32{1, 2, 3}, 5); len(got) != 5 || got[2] != 3 || got[4] != 0 {
		t.Errorf("PadOrTrim pad: %v", got)
	}
	if got := PadOrTrim([]float32{1, 2, 3}, 2); len(got) != 2 || got[1] != 2 {
		t.Errorf("PadOrTrim trim: %v", got)
	}
}

// TestMelExtractorConcurrent uses one extractor from several goroutines
// (run with -race to check the sharing).
func TestMelExtractorConcurrent(t *testing.T) {
	e, _ := NewMelExtractor(80)
	inputs := make([][]float32, 4)
	want := make([]*tensor.Tensor, len(inputs))
	for i := range inputs {
		inputs[i] = noise(SampleRate*3, int64(10+i))
		want[i] = e.LogMel(inputs[i])
	}
	errs := make(chan string, len(inputs))
	for i := range inputs {
		go func(i int) {
			got := e.LogMel(inputs[i])
			for j, v := range got.Data() {
				if v != want[i].Data()[j] {
					errs <- "mismatch"
					return
				}
			}
			errs <- ""
		}(i)
	}
	for range inputs {
		if msg := <-errs; msg != "" {
			t.Error(msg)
		}
	}
}
