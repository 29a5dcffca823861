package audio

import (
	"context"
	"errors"
	"testing"
)

// TestPaddedMelEqualsLogMelPadded checks that windows computed on demand
// equal, bit for bit, windows cut from the whole padded spectrogram, for
// recordings shorter than one window, of several windows, with silence that
// makes the max−8 clamp bite, and for seeks at and past the end.
func TestPaddedMelEqualsLogMelPadded(t *testing.T) {
	e, _ := NewMelExtractor(80)
	quietTail := noise(SampleRate*70, 3)
	for i := SampleRate * 20; i < len(quietTail); i++ {
		quietTail[i] *= 1e-6 // far below max−8 after log10
	}
	for _, tc := range []struct {
		name string
		pcm  []float32
	}{
		{"empty", nil},
		{"1 sample", []float32{0.5}},
		{"7 s", noise(SampleRate*7, 1)},
		{"61.3 s", noise(SampleRate*61+4800, 2)},
		{"loud then quiet 70 s", quietTail},
	} {
		full := e.LogMelPadded(tc.pcm)
		lazy, err := e.NewPaddedMel(context.Background(), tc.pcm)
		if err != nil {
			t.Fatal(err)
		}
		total := full.Dim(1)
		if lazy.Frames() != total || lazy.NMels() != 80 {
			t.Fatalf("%s: frames %d nMels %d, want %d 80", tc.name, lazy.Frames(), lazy.NMels(), total)
		}
		for _, c := range []struct{ seek, size int }{{0, 3000}, {0, 5000}, {1234, 2999}, {2500, 3000}, {total - 3000, 3000}, {total - 100, 3000}, {total, 3000}, {total + 10, 3000}, {17, 0}} {
			if c.seek < 0 {
				continue
			}
			want, err := MelWindow(full, c.seek, c.size)
			if err != nil {
				t.Fatal(err)
			}
			got, err := lazy.Window(c.seek, c.size)
			if err != nil {
				t.Fatal(err)
			}
			if gs, ws := got.Shape(), want.Shape(); gs[0] != ws[0] || gs[1] != ws[1] {
				t.Fatalf("%s %v: shape %v, want %v", tc.name, c, gs, ws)
			}
			g, w := got.Data(), want.Data()
			for i := range w {
				if g[i] != w[i] {
					t.Fatalf("%s %v: element %d (mel %d frame %d) = %v, want %v", tc.name, c, i, i/NFrames, i%NFrames, g[i], w[i])
				}
			}
		}
	}
	lazy, _ := e.NewPaddedMel(context.Background(), noise(100, 4))
	if _, err := lazy.Window(-1, 10); err == nil {
		t.Error("negative seek: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.NewPaddedMel(ctx, noise(SampleRate*90, 5)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err %v", err)
	}
	if _, err := NewPaddedMel(context.Background(), nil, 0); err == nil {
		t.Error("0 mel bins: no error")
	}
}
