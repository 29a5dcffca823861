//go:build !race && !goformer_checkrelease

package whisper

import (
	"context"
	"runtime/debug"
	"testing"

	"github.com/goformer/goformer/internal/allocs"
	"github.com/goformer/goformer/tensor"
)

// TestSteadyStateAllocations checks that encoding again and decoding a
// token with the KV cache allocate no storage once warm, when the caller
// releases what it is handed (as Transcribe's loop does): only tensor
// headers, which are never recycled (see tensor.Release). Built without the
// race detector and goformer_checkrelease, under which released storage is
// not reused.
func TestSteadyStateAllocations(t *testing.T) {
	m, _ := loadFixture(t, "whisper", nil)
	// A garbage collection empties the recycling pools (they are refilled
	// by the next call); none may run during the measurement, so that what
	// is counted is what the calls themselves allocate.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	ctx := context.Background()
	mel := tensor.New(m.Config.NumMelBins, m.Config.NumFrames())
	encode := func() {
		enc, err := m.Encode(ctx, mel)
		if err != nil {
			t.Fatal(err)
		}
		tensor.Release(enc)
	}
	for range 3 {
		encode()
	}
	// What may remain besides headers is sync.Pool's own bookkeeping: a
	// per-thread chain grows when buffers released on one thread are taken
	// on another (the encoder's products run on helper goroutines), at
	// most one allocation per call in 14 runs.
	if n, large := allocs.Measure(10, encode); large > 1 {
		t.Errorf("encoding allocates %v times per call, %v of them larger than a tensor header, want at most 1", n, large)
	}

	enc, err := m.Encode(ctx, mel)
	if err != nil {
		t.Fatal(err)
	}
	dec, h := startDecoder(t, m, enc, false)
	feed := [][]int{{0}}
	step := func() { h = greedyStep(t, dec, h, feed) }
	// Past the KV cache's growth to 32 positions: 4 + 12 + 1 + 15 tokens.
	for range 12 {
		step()
	}
	// As for encoding, sync.Pool's bookkeeping may add a rare allocation
	// (less than one per token, which AllocsPerRun's truncated mean let
	// pass before headers were counted).
	if n, large := allocs.Measure(15, step); large >= 1 {
		t.Errorf("decoding allocates %v times per token, %v of them larger than a tensor header, want less than one", n, large)
	}
}
