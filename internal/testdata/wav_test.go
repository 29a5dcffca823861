package testdata_test

import (
	"bytes"
	"testing"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/internal/testdata"
)

func TestWAV16DecodesBack(t *testing.T) {
	pcm := []float32{0, 0.5, -0.5, 1, -1, 0.25}
	b, err := audio.Decode(bytes.NewReader(testdata.WAV16(pcm, 22050)))
	if err != nil {
		t.Fatal(err)
	}
	got := b.Mono()
	if b.SampleRate != 22050 || len(got) != len(pcm) {
		t.Fatalf("rate %d, %d samples", b.SampleRate, len(got))
	}
	for i, v := range pcm {
		if d := got[i] - v; d > 1e-4 || d < -1e-4 {
			t.Errorf("sample %d = %g, want %g", i, got[i], v)
		}
	}
}
