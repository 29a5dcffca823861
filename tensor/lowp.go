package tensor

import (
	"runtime"

	"github.com/goformer/goformer/tensor/internal/kern"
)

// What the drivers of the low-precision weights (WeightQ8, WeightBF16Dot)
// share: a product first converts the rows of A to the kernels' operand
// type (quantized, rounded), in chunks of rows, then computes C in units
// of panels of B (splitting N) or of MR rows (splitting M).

// lowpJob is the part of a low-precision product that both drivers see
// alike: its operands and how it is split among workers.
type lowpJob struct {
	m      int
	a      []float32
	lda    int
	alpha  float32
	b      *PackedB
	beta   bool
	c      []float32
	ldc    int
	bias   []float32
	act    func([]float32)
	mr     int // rows per micro-tile
	group  int // panels per unit of work when splitting N
	splitN bool
	// converting says that the chunks are rows of A to convert.
	converting    bool
	units, chunks int
}

// lowpDriver is a low-precision product: its lowpJob and its own
// conversion of A and computation of C.
type lowpDriver interface {
	chunkRunner
	// convertRows converts rows [i0, i1) of alpha·A.
	convertRows(i0, i1 int)
	// block computes rows [m0, m1) × columns [n0, n1) of C (n0 a multiple
	// of the panel width) on the calling goroutine.
	block(m0, m1, n0, n1 int)
}

// newLowpJob starts a low-precision product C = act(alpha·A·B + beta·C
// (+ bias)): it returns its job (the pure-Go kernels' 4 rows per tile, one
// panel per unit) and true when the kernels are to run; C is first scaled
// by a beta other than 0 and 1 (the kernels add C itself), and a product
// without terms is done here (C = act(beta·C (+ bias))).
func newLowpJob(m int, alpha float32, a []float32, lda int, b *PackedB, beta float32, c []float32, ldc int, bias []float32, act func([]float32)) (lowpJob, bool) {
	n, k := b.n, b.k
	if m == 0 || n == 0 {
		return lowpJob{}, false
	}
	gemmNeed("C", c, m, n, ldc)
	if beta != 0 && beta != 1 {
		scaleC(m, n, beta, c, ldc, nil)
		beta = 1
	}
	if k == 0 || alpha == 0 {
		gemmEmpty(m, n, beta, c, ldc, bias, act)
		return lowpJob{}, false
	}
	gemmNeed("A", a, m, k, lda)
	return lowpJob{m: m, a: a, lda: lda, alpha: alpha, b: b, beta: beta != 0, c: c, ldc: ldc, bias: bias, act: act, mr: 4, group: 1}, true
}

// run computes the product of d, whose job j is, on up to threads
// goroutines.
func (j *lowpJob) run(threads int, d lowpDriver) {
	m, n, k, b := j.m, j.b.n, j.b.k, j.b
	w := 1
	if threads > 1 && (m*n*k >= parallelWork || n*k >= parallelRead) {
		w = threads
	}
	// Convert A (in parallel when it is large).
	j.converting = true
	if cw := min(w, m); cw > 1 && m*k >= 1<<16 {
		j.chunks = min(m, 4*cw)
		runChunks(cw, j.chunks, d)
	} else {
		d.convertRows(0, m)
	}
	j.converting = false
	j.splitN = b.npan >= 2*w || m < j.mr*w
	j.units = (b.npan + j.group - 1) / j.group
	if !j.splitN {
		j.units = (m + j.mr - 1) / j.mr
	}
	w = min(w, j.units)
	j.chunks = min(j.units, 4*w)
	runChunks(w, j.chunks, d)
	runtime.KeepAlive(b)
}

// chunk runs chunk i of d's product (its runChunk).
func (j *lowpJob) chunk(i int, d lowpDriver) {
	if j.converting {
		d.convertRows(i*j.m/j.chunks, (i+1)*j.m/j.chunks)
		return
	}
	lo, hi := i*j.units/j.chunks, (i+1)*j.units/j.chunks
	if j.splitN {
		nr := j.group * j.b.nr
		d.block(0, j.m, lo*nr, min(j.b.n, hi*nr))
		return
	}
	d.block(lo*j.mr, min(j.m, hi*j.mr), 0, j.b.n)
}

// flags are the kernel flags of the first pass over K: add C (beta), the
// bias.
func (j *lowpJob) flags() int {
	flags := 0
	if j.beta {
		flags |= kern.FlagBeta
	}
	if j.bias != nil {
		flags |= kern.FlagBias
	}
	return flags
}

// finish applies the activation to the finished columns [j0, j1) of rows
// [i0, i1).
func (j *lowpJob) finish(i0, i1, j0, j1 int) {
	if j.act == nil {
		return
	}
	for i := i0; i < i1; i++ {
		j.act(j.c[i*j.ldc+j0 : i*j.ldc+j1])
	}
}

// rowsDone adapts done, which gets finished rows of the row-major weight
// src [n, k], to the packers' release of row ranges [r0, r1) (nil when
// done is nil).
func rowsDone[T any](src []T, k int, done func(rows []T)) func(r0, r1 int) {
	if done == nil {
		return nil
	}
	return func(r0, r1 int) { done(src[r0*k : r1*k]) }
}

// releaseRows hands release the rows [*released, rows) of an n×k weight
// being packed once they are many (256 Ki values) or the last ones.
func releaseRows(release func(r0, r1 int), released *int, rows, n, k int) {
	if release != nil && ((rows-*released)*k >= 1<<18 || rows == n) {
		release(*released, rows)
		*released = rows
	}
}
