package tensor

import (
	"sync"
	"unsafe"

	"github.com/goformer/goformer/tensor/internal/kern"
)

// One-row products with a packed weight (decoding: every weight is
// streamed from memory once per token) go through the wide one-row kernels
// (kern.Set.M1Wide): each call reads np panels side by side, so that a
// core keeps several streams of the weight in flight instead of one. The
// sums run in the same order as the general driver's (gemmBlockNC), so the
// results are bit-identical to it.

// gemv1Job is one one-row product as its workers see it.
type gemv1Job struct {
	s           *kern.Set
	b           *PackedB
	a, c, bias  []float32
	alpha, beta float32
	act         func([]float32)
	np, units   int
	chunks      int
	wide        kern.WideKernel
	wideH       kern.HalfWideKernel
}

var gemv1Jobs = sync.Pool{New: func() any { return new(gemv1Job) }}

// gemv1 computes c = act(alpha·a·B + beta·c (+ bias)) for one row a with
// the wide one-row kernels on up to threads goroutines, reporting false
// (and doing nothing) when they do not apply to b.
func gemv1(threads int, alpha float32, a []float32, b *PackedB, beta float32, c []float32, bias []float32, act func([]float32)) bool {
	s := b.set
	if s == nil || b.dev != nil || b.nr != 32 || b.k == 0 || alpha == 0 {
		return false
	}
	var ok func(np int) bool
	switch {
	case b.kind == WeightF32 && b.data != nil:
		ok = func(np int) bool { return s.M1Wide[np] != nil }
	case b.kind == WeightF16 && b.half != nil && s.F16 != nil:
		ok = func(np int) bool { return s.F16M1Wide[np] != nil }
	default:
		return false
	}
	if len(a) < b.k || len(c) < b.n {
		panic("tensor: one-row product operands too short")
	}
	w := 1
	if threads > 1 && b.n*b.k >= parallelRead {
		w = threads
	}
	// The widest kernel that still leaves two groups of panels per worker.
	np := 8
	for np >= 4 && (!ok(np) || b.npan/np < 2*w) {
		np /= 2
	}
	if np < 4 {
		return false
	}
	j := gemv1Jobs.Get().(*gemv1Job)
	*j = gemv1Job{s: s, b: b, a: a, c: c, bias: bias, alpha: alpha, beta: beta, act: act, np: np}
	if b.kind == WeightF32 {
		j.wide = s.M1Wide[np]
	} else {
		j.wideH = s.F16M1Wide[np]
	}
	j.units = (b.npan + np - 1) / np
	w = min(w, j.units)
	if w <= 1 {
		j.group(0, j.units)
	} else {
		// Many chunks per worker: a worker that other load on the machine
		// holds up leaves little of a large product (the vocabulary
		// projection: 106 MB) to the others' waiting.
		j.chunks = min(j.units, 16*w)
		runChunks(w, j.chunks, j)
	}
	*j = gemv1Job{}
	gemv1Jobs.Put(j)
	return true
}

func (j *gemv1Job) runChunk(i int) {
	j.group(i*j.units/j.chunks, (i+1)*j.units/j.chunks)
}

// group computes the columns of panel groups [g0, g1).
func (j *gemv1Job) group(g0, g1 int) {
	b, s, nr := j.b, j.s, j.b.nr
	n := b.n
	for g := g0; g < g1; g++ {
		j0 := g * j.np * nr
		j1 := min(n, j0+j.np*nr)
		full := (j1 - j0) == j.np*nr
		for pc := 0; pc < b.k; pc += b.kc {
			kc := min(b.kc, b.k-pc)
			flags := kern.FlagBeta
			bt := j.beta
			if pc == 0 {
				if j.beta == 0 {
					flags = 0
				}
				if j.bias != nil {
					flags |= kern.FlagBias
				}
			} else {
				bt = 1
			}
			off := b.panelOff(pc, j0)
			ap := &j.a[pc]
			if full {
				var bb *float32
				if flags&kern.FlagBias != 0 {
					bb = &j.bias[j0]
				}
				if j.wide != nil {
					j.wide(kc, ap, &b.data[off], kc*nr*4, &j.c[j0], j.alpha, bt, bb, flags)
				} else {
					j.wideH(kc, ap, &b.half[off], kc*nr*2, &j.c[j0], j.alpha, bt, bb, flags)
				}
				continue
			}
			// A partial group at the end: panel by panel.
			for jp := j0; jp < j1; jp += nr {
				jn := min(nr, j1-jp)
				var bb *float32
				if flags&kern.FlagBias != 0 {
					bb = &j.bias[jp]
				}
				po := off + (jp-j0)/nr*kc*nr
				pf := (*byte)(unsafe.Pointer(&j.a[pc]))
				if j.wide != nil {
					s.M[1](kc, ap, kc, &b.data[po], nr*4, &j.c[jp], n, j.alpha, bt, bb, kern.Mask(jn), flags, pf)
				} else {
					s.F16[1](kc, ap, kc, &b.half[po], nr*2, &j.c[jp], n, j.alpha, bt, bb, kern.Mask(jn), flags, pf)
				}
			}
		}
		if j.act != nil {
			j.act(j.c[j0:j1])
		}
	}
}

// gemv1Strided sets c[:n] = alpha·a[:k]·B for B read in place (k rows of n
// values, ldb apart) as gemmBlock(s, false, false, 0, 1, 0, n, k, alpha, a,
// k, b, ldb, nil, 0, c, n, nil, nil) computes it, to the bit, reading each
// row's n values in one piece (attention's values of one head); it
// reports false (doing nothing) when no strided kernel fits n.
func gemv1Strided(s *kern.Set, k, n int, alpha float32, a, b []float32, ldb int, c []float32) bool {
	if s == nil || k == 0 || n%32 != 0 || n/32 >= len(s.M1Strided) || s.M1Strided[n/32] == nil {
		return false
	}
	f := s.M1Strided[n/32]
	_, _, _ = a[k-1], b[(k-1)*ldb+n-1], c[n-1]
	for pc := 0; pc < k; pc += s.KC {
		kc := min(s.KC, k-pc)
		flags, bt := 0, float32(0)
		if pc > 0 {
			flags, bt = kern.FlagBeta, 1
		}
		f(kc, &a[pc], &b[pc*ldb], ldb*4, &c[0], alpha, bt, flags)
	}
	return true
}
