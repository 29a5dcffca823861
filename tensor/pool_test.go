package tensor

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestReleaseRecycles(t *testing.T) {
	a := New(64, 100)
	Release(a)
	if a.data != nil || a.owned {
		t.Fatal("released tensor still holds its storage")
	}
	Release(a) // twice is harmless
	// Releasing a view recycles its header, not the storage it shows.
	b := New(64, 100)
	b.data[5] = 7
	view := b.Slice(0, 0, 10)
	Release(view)
	if view.data != nil || view.shape != nil {
		t.Fatal("a released view keeps its header")
	}
	if len(b.data) != 64*100 || b.At(0, 5) != 7 {
		t.Fatal("releasing a view touched the storage")
	}
	// Caller memory is never recycled, nor its header.
	mem := make([]float32, 64*100)
	c := MustFromData(mem, 64, 100)
	Release(c)
	if c.data == nil || c.Dim(0) != 64 {
		t.Fatal("caller memory was released")
	}
	// Small results are recycled too.
	s := New(2, 40)
	Release(s)
	if s.data != nil {
		t.Fatal("small tensor not released")
	}
	// Uninitialised results are fully written by the operations using them.
	x := New(70, 80)
	for i := range x.data {
		x.data[i] = float32(i)
	}
	Release(New(70, 80))
	y := x.Clone()
	for i := range y.data {
		if y.data[i] != float32(i) {
			t.Fatal("Clone into recycled storage")
		}
	}
	Release(nil)
}

func TestPoolClasses(t *testing.T) {
	for n := poolMin; n < 1<<26; n = n*9/8 + 1 {
		cls, c := classFor(n)
		if c < n || c > n+n/4+2 {
			t.Fatalf("classFor(%d) capacity %d", n, c)
		}
		if classOf(c) != cls {
			t.Fatalf("classOf(%d) = %d, want %d", c, classOf(c), cls)
		}
		if cls2, _ := classFor(c + 1); cls2 <= cls {
			t.Fatalf("classes not increasing at %d", c)
		}
	}
}

func TestFreeScratch(t *testing.T) {
	Release(New(100, 100))
	FreeScratch()
	if p, ok := poolGet(100 * 100); ok {
		t.Fatalf("pool still holds a buffer of %d after FreeScratch", cap(*p))
	}
}

// TestParallelNestedConcurrent runs parallel loops inside the chunks of
// parallel loops, from many goroutines at once and with more threads than
// cores: every index must be visited exactly once and nothing may
// deadlock (the helper goroutines are shared by all loops).
func TestParallelNestedConcurrent(t *testing.T) {
	defer SetThreads(SetThreads(6))
	const outer, inner, callers = 40, 300, 8
	var wg sync.WaitGroup
	errs := make(chan string, callers)
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rep := 0; rep < 20; rep++ {
				var hits [outer][inner]atomic.Int32
				Parallel(outer, 1, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						Parallel(inner, 7, func(a, b int) {
							for j := a; j < b; j++ {
								hits[i][j].Add(1)
							}
						})
					}
				})
				for i := range hits {
					for j := range hits[i] {
						if n := hits[i][j].Load(); n != 1 {
							errs <- fmt.Sprintf("index (%d, %d) visited %d times", i, j, n)
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

// TestParallelPastTheSpin runs loops whose chunks outlast spinFor (the
// caller parks on its helpers) separated by pauses longer than spinFor (the
// helpers park between loops): every index is still visited exactly once,
// and the helpers still join (more than one goroutine runs chunks).
func TestParallelPastTheSpin(t *testing.T) {
	defer SetThreads(SetThreads(2))
	var busy, most atomic.Int32
	for rep := 0; rep < 5; rep++ {
		time.Sleep(2 * spinFor)
		var hits [4]atomic.Int32
		runChunks(2, len(hits), chunkFunc(func(i int) {
			if n := busy.Add(1); n > most.Load() {
				most.Store(n)
			}
			time.Sleep(3 * spinFor)
			busy.Add(-1)
			hits[i].Add(1)
		}))
		for i := range hits {
			if n := hits[i].Load(); n != 1 {
				t.Fatalf("rep %d: chunk %d ran %d times", rep, i, n)
			}
		}
	}
	if most.Load() < 2 {
		t.Errorf("no helper joined any of the loops")
	}
}

type chunkFunc func(i int)

func (f chunkFunc) runChunk(i int) { f(i) }

func TestPosition(t *testing.T) {
	h := New(2, 3, 4)
	for i := range h.data {
		h.data[i] = float32(i)
	}
	for _, in := range []*Tensor{h, h.Transpose(0, 1).Clone().Transpose(0, 1), h.Permute(0, 1, 2)} {
		for p := 0; p < 3; p++ {
			got, err := Position(in, p)
			if err != nil {
				t.Fatal(err)
			}
			for b := 0; b < 2; b++ {
				for d := 0; d < 4; d++ {
					if got.At(b, d) != h.At(b, p, d) {
						t.Fatalf("Position(%d)[%d,%d] = %v, want %v", p, b, d, got.At(b, d), h.At(b, p, d))
					}
				}
			}
		}
	}
	// A non-unit last stride.
	tr := New(2, 4, 3)
	for i := range tr.data {
		tr.data[i] = float32(i)
	}
	v := tr.Transpose(1, 2) // [2, 3, 4]
	got, err := Position(v, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.At(1, 2) != v.At(1, 1, 2) {
		t.Fatalf("strided Position: %v, want %v", got.At(1, 2), v.At(1, 1, 2))
	}
	for _, bad := range []struct {
		h *Tensor
		p int
	}{{nil, 0}, {New(2, 3), 0}, {h, 3}, {h, -1}} {
		if _, err := Position(bad.h, bad.p); err == nil {
			t.Fatalf("Position(%v, %d) gave no error", bad.h, bad.p)
		}
	}
}

// TestLastPosition checks that LastPosition is Position at T-1 and that
// it refuses what is not [B, T, D].
func TestLastPosition(t *testing.T) {
	h := New(2, 3, 4)
	for i := range h.data {
		h.data[i] = float32(i)
	}
	want, err := Position(h, 2)
	if err != nil {
		t.Fatal(err)
	}
	got, err := LastPosition(h.Clone())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Data(), want.Data()) || !slices.Equal(got.Shape(), want.Shape()) {
		t.Fatalf("LastPosition = %v %v, want %v %v", got.Shape(), got.Data(), want.Shape(), want.Data())
	}
	for _, bad := range []*Tensor{nil, New(2, 3), New(2, 0, 4)} {
		if _, err := LastPosition(bad); !errors.Is(err, ErrShape) {
			t.Errorf("LastPosition(%v): err %v, want ErrShape", bad, err)
		}
	}
}
