package tensor

import (
	"fmt"

	"github.com/goformer/goformer/tensor/internal/kern"
)

// GemmFunc computes C = alpha·op(A)·op(B) + beta·C for row-major matrices,
// where op(X) is X or Xᵀ as transA/transB say. op(A) is m×k, op(B) is k×n,
// C is m×n; lda, ldb, ldc are the row strides of A, B and C as stored.
type GemmFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

// gemmImpl is the kernel every matrix product goes through. Fast
// implementations (assembly, other backends) replace it at init; the pure-Go
// reference below is always available as GemmRef.
var gemmImpl GemmFunc = GemmRef

// SetGemm replaces the GEMM kernel and returns the previous one. It exists for
// backends and benchmarks; nil restores the reference kernel. It governs
// Gemm and what is built on it (MatMul, Linear, convolutions); products with
// pre-packed weights (LinearPacked, nn.Linear) and Attention call the
// assembly kernels directly, since their operands are in the kernels' own
// layout.
func SetGemm(f GemmFunc) GemmFunc {
	old := gemmImpl
	gemmThreads = nil
	if f == nil {
		f, gemmThreads = GemmRef, gemmRef
	}
	gemmImpl = f
	return old
}

// gemmThreads is gemmImpl taking the number of goroutines it may use, for
// this package's kernels (nil for a kernel set with SetGemm, which
// chooses its own).
var gemmThreads = gemmRef

// gemmWith is Gemm on up to workers(th) goroutines.
func gemmWith(th int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if gemmThreads == nil {
		gemmImpl(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	gemmThreads(workers(th), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Gemm computes C = alpha·op(A)·op(B) + beta·C with the active kernel.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	gemmImpl(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// GemmRef is the portable pure-Go GEMM: row-parallel, with the inner loops
// arranged for sequential memory access.
func GemmRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemmRef(Threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmRef is GemmRef on up to threads goroutines.
func gemmRef(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	grain := 1
	if work := n * k; work < 1<<14 {
		grain = max(1, (1<<14)/max(work, 1))
	}
	parallelRange(threads, m, grain, rangeFunc(func(lo, hi int) {
		var arow []float32
		if transA {
			arow = make([]float32, k)
		}
		for i := lo; i < hi; i++ {
			crow := c[i*ldc : i*ldc+n]
			if beta == 0 {
				clear(crow)
			} else if beta != 1 {
				for j := range crow {
					crow[j] *= beta
				}
			}
			if transA {
				for p := 0; p < k; p++ {
					arow[p] = a[p*lda+i]
				}
			} else {
				arow = a[i*lda : i*lda+k]
			}
			if transB {
				for j := 0; j < n; j++ {
					crow[j] += alpha * dot(arow, b[j*ldb:j*ldb+k])
				}
			} else {
				for p := 0; p < k; p++ {
					s := alpha * arow[p]
					if s == 0 {
						continue
					}
					axpy(s, b[p*ldb:p*ldb+n], crow)
				}
			}
		}
	}))
}

// dot returns Σ x[i]·y[i] with four partial sums.
func dot(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpy computes y += s·x.
func axpy(s float32, x, y []float32) {
	y = y[:len(x)]
	i := 0
	for ; i+4 <= len(x); i += 4 {
		y[i] += s * x[i]
		y[i+1] += s * x[i+1]
		y[i+2] += s * x[i+2]
		y[i+3] += s * x[i+3]
	}
	for ; i < len(x); i++ {
		y[i] += s * x[i]
	}
}

// Dot returns the inner product of two equal-length vectors.
func Dot(x, y []float32) float32 {
	if len(y) < len(x) {
		panic("tensor: Dot of vectors of different lengths")
	}
	return kern.VecDot(x, y)
}

// batchDims checks two operands of a batched product and returns the
// broadcast batch shape. Batch dimensions broadcast numpy-style.
func batchDims(a, b []int) ([]int, error) {
	return broadcastShapes(a, b)
}

// batchOffsets returns, for each flattened batch index of shape out, the
// element offset into a tensor of batch shape in with the given strides
// (broadcast dimensions have size 1).
func batchOffsets(out, in, strides []int, offset int) []int {
	n := numel(out)
	offs := make([]int, n)
	pad := len(out) - len(in)
	idx := make([]int, len(out))
	for f := 0; f < n; f++ {
		o := offset
		for d := range out {
			if d >= pad && in[d-pad] != 1 {
				o += idx[d] * strides[d-pad]
			}
		}
		offs[f] = o
		for d := len(out) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < out[d] {
				break
			}
			idx[d] = 0
		}
	}
	return offs
}

// matmul is the shared body of MatMul and MatMulT.
func matmul(a, b *Tensor, transB bool) (*Tensor, error) {
	if a.Rank() < 2 || b.Rank() < 2 {
		return nil, fmt.Errorf("%w: matmul needs rank ≥ 2, got %v and %v", ErrShape, a.shape, b.shape)
	}
	if d := dev2(a, b); d != nil {
		return d.be.MatMul(a, b, transB)
	}
	bshape, m, k, n, err := matmulShape(a, b, transB)
	if err != nil {
		return nil, err
	}
	out := newUninit(append(cloneInts(bshape), m, n)...)
	// Each operand's matrices must have a unit stride in one of the last two
	// dimensions; otherwise make it contiguous.
	a = gemmOperand(a)
	b = gemmOperand(b)
	ta, lda := matLayout(a)
	tb, ldb := matLayout(b)
	if transB {
		tb = !tb
	}
	aoffs := batchOffsets(bshape, a.shape[:a.Rank()-2], a.strides[:a.Rank()-2], a.offset)
	boffs := batchOffsets(bshape, b.shape[:b.Rank()-2], b.strides[:b.Rank()-2], b.offset)
	// A batch of products that share B (b is 2-D) and a contiguous A can be
	// done as one tall GEMM.
	if b.Rank() == 2 && !ta && a.IsContiguous() && len(aoffs) > 1 {
		gemmWith(int(a.threads), false, tb, len(aoffs)*m, n, k, 1, a.data[a.offset:], lda, b.data[b.offset:], ldb, 0, out.data, n)
		return out, nil
	}
	for f := range aoffs {
		gemmWith(int(a.threads), ta, tb, m, n, k, 1, a.data[aoffs[f]:], lda, b.data[boffs[f]:], ldb, 0, out.data[f*m*n:], n)
	}
	return out, nil
}

// matmulShape checks the operands of a product a·b (a·bᵀ with transB),
// both of rank ≥ 2, and returns the broadcast batch shape and the sizes
// m×k by k×n of each matrix product.
func matmulShape(a, b *Tensor, transB bool) (batch []int, m, k, n int, err error) {
	m, k = a.Dim(-2), a.Dim(-1)
	var kb int
	if transB {
		n, kb = b.Dim(-2), b.Dim(-1)
	} else {
		kb, n = b.Dim(-2), b.Dim(-1)
	}
	if k != kb {
		op := "·"
		if transB {
			op = "·ᵀ"
		}
		return nil, 0, 0, 0, fmt.Errorf("%w: matmul %v %s %v: inner dimensions %d and %d differ", ErrShape, a.shape, op, b.shape, k, kb)
	}
	batch, err = batchDims(a.shape[:a.Rank()-2], b.shape[:b.Rank()-2])
	if err != nil {
		return nil, 0, 0, 0, err
	}
	return batch, m, k, n, nil
}

// gemmOperand returns t, or a contiguous copy when its last two dimensions
// are not laid out as a (possibly transposed) dense matrix.
func gemmOperand(t *Tensor) *Tensor {
	r := t.Rank()
	rs, cs := t.strides[r-2], t.strides[r-1]
	rows, cols := t.shape[r-2], t.shape[r-1]
	if (cs == 1 || cols == 1) && (rs >= cols || rows == 1) {
		return t
	}
	if (rs == 1 || rows == 1) && cs >= rows {
		return t
	}
	return t.Contiguous()
}

// matLayout reports whether the last two dimensions are stored transposed,
// and the leading dimension of the stored matrix.
func matLayout(t *Tensor) (trans bool, ld int) {
	r := t.Rank()
	rs, cs := t.strides[r-2], t.strides[r-1]
	if cs == 1 || t.shape[r-1] == 1 {
		return false, max(rs, 1)
	}
	return true, max(cs, 1)
}

// MatMul returns a·b for a of shape [..., M, K] and b of shape [..., K, N];
// batch dimensions broadcast. Views (e.g. transposes) are used without
// copying where their layout allows.
func MatMul(a, b *Tensor) (*Tensor, error) { return matmul(a, b, false) }

// MatMulT returns a·bᵀ for a of shape [..., M, K] and b of shape [..., N, K]
// without materialising the transpose.
func MatMulT(a, b *Tensor) (*Tensor, error) { return matmul(a, b, true) }

// Linear returns x·wᵀ + bias for x of shape [..., K], w of shape [N, K] (the
// PyTorch nn.Linear layout) and bias of shape [N] or nil.
func Linear(x, w, bias *Tensor) (*Tensor, error) {
	if w.Rank() != 2 || x.Rank() < 1 || x.Dim(-1) != w.Dim(1) {
		return nil, fmt.Errorf("%w: linear input %v with weight %v", ErrShape, x.shape, w.shape)
	}
	n, k := w.Dim(0), w.Dim(1)
	if bias != nil && (bias.Len() != n) {
		return nil, fmt.Errorf("%w: linear bias %v for %d outputs", ErrShape, bias.shape, n)
	}
	if d := dev3(x, w, bias); d != nil {
		return d.be.Linear(x, w, bias)
	}
	if !x.IsContiguous() {
		x = x.Contiguous()
		defer Release(x)
	}
	m := x.Len() / max(k, 1)
	if k == 0 {
		m = numel(x.shape[:x.Rank()-1])
	}
	var shapeBuf [inlineRank]int
	outShape := append(append(shapeBuf[:0], x.shape[:x.Rank()-1]...), n)
	out := newUninit(outShape...)
	wc := w
	if !w.IsContiguous() {
		wc = w.Contiguous()
		defer Release(wc)
	}
	beta := float32(0)
	if bias != nil {
		bd := bias.Data()
		for i := 0; i < m; i++ {
			copy(out.data[i*n:(i+1)*n], bd)
		}
		beta = 1
	}
	gemmWith(int(x.threads), false, true, m, n, k, 1, x.data[x.offset:], k, wc.data[wc.offset:], k, beta, out.data, n)
	return out, nil
}
