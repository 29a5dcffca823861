//go:build cuda

package cuda

import (
	"fmt"
	"runtime"

	"github.com/goformer/goformer/tensor"
)

// Matrix products: row-major operands mapped onto column-major cuBLAS
// (C = A·B row-major is Cᵀ = Bᵀ·Aᵀ column-major, with the roles of the
// operands swapped and no data moved).

// gemmArgs is one row-major product C[m, n] = alpha·op(A)·op(B) + beta·C:
// A stored as [m, k] (transA false) or [k, m] (true) with leading
// dimension lda, B as [k, n] or [n, k] with ldb.
type gemmArgs struct {
	transA, transB bool
	m, n, k        int
	alpha          float32
	a              uintptr
	lda            int
	b              uintptr
	ldb            int
	beta           float32
	c              uintptr
	ldc            int
}

// cublasOps returns the column-major call's operations and sizes.
func (g *gemmArgs) cublasOps() (ta, tb int) {
	ta, tb = opN, opN
	if g.transB {
		ta = opT
	}
	if g.transA {
		tb = opT
	}
	return ta, tb
}

func checkGemmSizes(vs ...int) error {
	if !fitsInt32(vs...) {
		return fmt.Errorf("%w: a matrix product with a dimension of 2³¹ or more (%v)", ErrUnsupported, vs)
	}
	return nil
}

// sgemm runs one float32 product.
func (b *backend) sgemm(g gemmArgs) error {
	if g.m == 0 || g.n == 0 {
		return nil
	}
	if g.k == 0 {
		if g.beta == 0 {
			return b.zeroRows(g.c, g.m, g.n, g.ldc)
		}
		return nil
	}
	if err := checkGemmSizes(g.m, g.n, g.k, g.lda, g.ldb, g.ldc); err != nil {
		return err
	}
	ta, tb := g.cublasOps()
	return b.withBLAS(func() error {
		return b.c.sgemm(b.blas, ta, tb, g.n, g.m, g.k, g.alpha, g.b, g.ldb, g.a, g.lda, g.beta, g.c, g.ldc)
	})
}

// withBLAS runs a cuBLAS call (holding the handle's lock, on a live device)
// and checks its result with after.
func (b *backend) withBLAS(call func() error) error {
	b.blasMu.Lock()
	defer b.blasMu.Unlock()
	if err := b.live(); err != nil {
		return err
	}
	return b.after(call())
}

// after checks a cuBLAS result and, in sync mode, the work it queued.
func (b *backend) after(err error) error {
	if err == nil && b.sync {
		err = b.c.sync()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", b.d.Name(), err)
	}
	return nil
}

// zeroRows clears rows × n floats ld apart.
func (b *backend) zeroRows(c uintptr, rows, n, ld int) error {
	if ld == n {
		return b.c.memsetZero(c, 4*rows*n)
	}
	for r := 0; r < rows; r++ {
		if err := b.c.memsetZero(c+uintptr(4*r*ld), 4*n); err != nil {
			return err
		}
	}
	return nil
}

// matLayout reports how the last two dimensions of t are stored: as is
// (trans false: rows ld apart) or transposed (columns ld apart); ok is
// false when neither (the operand must be made contiguous).
func matLayout(t *tensor.Tensor) (trans bool, ld int, ok bool) {
	r := t.Rank()
	st := t.Strides()
	rs, cs := st[r-2], st[r-1]
	rows, cols := t.Dim(-2), t.Dim(-1)
	switch {
	case (cs == 1 || cols == 1) && (rs >= cols || rows == 1):
		return false, max(rs, cols, 1), true
	case (rs == 1 || rows == 1) && (cs >= rows || cols == 1):
		return true, max(cs, rows, 1), true
	}
	return false, 0, false
}

// matrixForm returns t when matLayout takes its last two dimensions as
// they are, else a contiguous copy (tmp set).
func (b *backend) matrixForm(t *tensor.Tensor) (*tensor.Tensor, bool, error) {
	if _, _, ok := matLayout(t); ok {
		return t, false, nil
	}
	c, err := b.clone(t)
	return c, err == nil, err
}

// uniformStep returns the constant difference of offs (ok false when
// there is none).
func uniformStep(offs []int) (step int, ok bool) {
	if len(offs) < 2 {
		return 0, true
	}
	step = offs[1] - offs[0]
	for i := 2; i < len(offs); i++ {
		if offs[i]-offs[i-1] != step {
			return 0, false
		}
	}
	return step, true
}

func (b *backend) MatMul(x, y *tensor.Tensor, transB bool) (*tensor.Tensor, error) {
	if err := b.own(x, y); err != nil {
		return nil, err
	}
	bshape, m, k, n, err := tensor.MatMulShape(x, y, transB)
	if err != nil {
		return nil, err
	}
	xs, ys := x.Shape(), y.Shape()
	done, err := replaceEach(b.matrixForm, &x, &y)
	if err != nil {
		return nil, err
	}
	defer done()
	ta, lda, _ := matLayout(x)
	tb, ldb, _ := matLayout(y)
	if transB {
		tb = !tb
	}
	out, err := b.newTensor(append(append([]int(nil), bshape...), m, n))
	if err != nil {
		return nil, err
	}
	if out.Len() == 0 {
		return out, nil
	}
	xst, yst := x.Strides(), y.Strides()
	aoffs := tensor.BatchOffsets(bshape, xs[:len(xs)-2], xst[:len(xst)-2], 0)
	boffs := tensor.BatchOffsets(bshape, ys[:len(ys)-2], yst[:len(yst)-2], 0)
	g := gemmArgs{transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1, a: x.DeviceAddr(), lda: lda, b: y.DeviceAddr(), ldb: ldb, c: out.DeviceAddr(), ldc: n}
	count := len(aoffs)
	switch sa, aok := uniformStep(aoffs); {
	case count == 1:
		err = b.sgemm(g)
	case y.Rank() == 2 && !ta && x.IsContiguous():
		// One tall product: the batch of A rows shares B.
		g.m = count * m
		err = b.sgemm(g)
	default:
		sb, bok := uniformStep(boffs)
		if aok && bok {
			err = b.sgemmStrided(g, sa, sb, m*n, count)
		} else {
			err = b.sgemmBatched(g, aoffs, boffs, count)
		}
	}
	if err != nil {
		tensor.Release(out)
		return nil, err
	}
	return out, nil
}

// sgemmStrided runs count products whose matrices are sa, sb, sc
// elements apart.
func (b *backend) sgemmStrided(g gemmArgs, sa, sb, sc, count int) error {
	if g.k == 0 {
		return b.zeroRows(g.c, count*g.m, g.n, g.n)
	}
	if err := checkGemmSizes(g.m, g.n, g.k, g.lda, g.ldb, g.ldc, count); err != nil {
		return err
	}
	ta, tb := g.cublasOps()
	return b.withBLAS(func() error {
		return b.c.sgemmStrided(b.blas, ta, tb, g.n, g.m, g.k, g.alpha, g.b, g.ldb, int64(sb), g.a, g.lda, int64(sa),
			g.beta, g.c, g.ldc, int64(sc), count)
	})
}

// sgemmBatched runs count products at the given element offsets (output
// matrices contiguous one after the other).
func (b *backend) sgemmBatched(g gemmArgs, aoffs, boffs []int, count int) error {
	if g.k == 0 {
		return b.zeroRows(g.c, count*g.m, g.n, g.n)
	}
	if err := checkGemmSizes(g.m, g.n, g.k, g.lda, g.ldb, g.ldc, count); err != nil {
		return err
	}
	// One array of pointers: count to A matrices, count to B, count to C.
	ptrs := make([]uintptr, 3*count)
	for i := range count {
		ptrs[i] = g.a + uintptr(4*aoffs[i])
		ptrs[count+i] = g.b + uintptr(4*boffs[i])
		ptrs[2*count+i] = g.c + uintptr(4*i*g.m*g.n)
	}
	dp, err := b.uploadPtrs(ptrs)
	if err != nil {
		return err
	}
	defer dp.free()
	da, db, dc := dp.addr, dp.addr+uintptr(8*count), dp.addr+uintptr(16*count)
	ta, tb := g.cublasOps()
	return b.withBLAS(func() error {
		return b.c.sgemmBatched(b.blas, ta, tb, g.n, g.m, g.k, g.alpha, db, g.ldb, da, g.lda, g.beta, dc, g.ldc, count)
	})
}

func (b *backend) Linear(x, w, bias *tensor.Tensor) (*tensor.Tensor, error) {
	if err := b.own(x, w, bias); err != nil {
		return nil, err
	}
	return b.linear(x, w, bias)
}

// linear is x·wᵀ + bias for x [..., K], w [N, K].
func (b *backend) linear(x, w, bias *tensor.Tensor) (*tensor.Tensor, error) {
	n, k := w.Dim(0), w.Dim(1)
	done, err := b.contiguousAll(&x, &w)
	if err != nil {
		return nil, err
	}
	defer done()
	xs := x.Shape()
	m := numel(xs[:len(xs)-1])
	out, err := b.newTensor(append(xs[:len(xs)-1:len(xs)-1], n))
	if err != nil {
		return nil, err
	}
	err = b.sgemm(gemmArgs{transB: true, m: m, n: n, k: k, alpha: 1, a: x.DeviceAddr(), lda: max(k, 1), b: w.DeviceAddr(), ldb: max(k, 1), c: out.DeviceAddr(), ldc: max(n, 1)})
	if err == nil {
		err = b.biasAct(out.DeviceAddr(), m, n, n, bias, tensor.ActNone)
	}
	if err != nil {
		tensor.Release(out)
		return nil, err
	}
	return out, nil
}

// packedWeight is what a packed weight keeps on the device: its [N, K]
// matrix, row-major, as float32 or 16-bit floats.
type packedWeight struct {
	addr     uintptr
	t        tensor.WeightType
	n, k     int
	freeOnce // FreePacked returns the memory, or the cleanup does
}

// newPacked wraps a block holding a packed weight: FreePacked
// (tensor.PackedB.Free, which a model's Close calls) returns it to the
// driver; a weight garbage collected without that is freed by a cleanup
// (and everything is freed by Close of the device).
func (b *backend) newPacked(addr uintptr, t tensor.WeightType, n, k int) *tensor.PackedB {
	pw := &packedWeight{addr: addr, t: t, n: n, k: k}
	mem := b.mem
	pw.cleanup = runtime.AddCleanup(pw, func(a uintptr) { mem.freeNow(a) }, addr)
	return tensor.NewDevicePacked(b.d, n, k, t, pw)
}

// FreePacked returns a packed weight's device memory to the driver now.
// Freeing twice (or a weight of another device) does nothing; the
// garbage collector's cleanup of a freed weight does not run.
func (b *backend) FreePacked(w *tensor.PackedB) {
	if w == nil || w.Device() != b.d {
		return
	}
	pw, ok := w.DeviceData().(*packedWeight)
	if !ok || pw == nil || !pw.takeFree() {
		return
	}
	b.mem.freeNow(pw.addr)
}

// packedOf returns the device form of a packed weight of this device.
func (b *backend) packedOf(w *tensor.PackedB) (*packedWeight, error) {
	if w == nil {
		return nil, fmt.Errorf("%w: nil packed weight", tensor.ErrShape)
	}
	return deviceState[*packedWeight](b, w.Device(), w.DeviceData(), "packed weight")
}

func elemSize(t tensor.WeightType) int64 {
	if t == tensor.WeightF32 {
		return 4
	}
	return 2
}

func isHalf(t tensor.WeightType) bool { return t == tensor.WeightF16 || t == tensor.WeightBF16 }

func bf16Flag(t tensor.WeightType) int {
	if t == tensor.WeightBF16 {
		return 1
	}
	return 0
}

// checkWeightType rejects the types the device does not keep.
func checkWeightType(t tensor.WeightType) error {
	switch t {
	case tensor.WeightF32, tensor.WeightF16, tensor.WeightBF16:
		return nil
	case tensor.WeightQ8:
		return fmt.Errorf("%w: %v weights are not supported on cuda (use F16, BF16 or F32)", ErrUnsupported, t)
	}
	return fmt.Errorf("%w: unknown weight type %v", tensor.ErrDevice, t)
}

// narrowInto rounds n floats at src to 16-bit type t at dst.
func (b *backend) narrowInto(dst, src uintptr, n int, t tensor.WeightType) error {
	return b.convertHalf(kNarrowHalf, dst, src, n, t)
}

// widenInto converts n 16-bit floats of type t at src to float32 at dst.
func (b *backend) widenInto(dst, src uintptr, n int, t tensor.WeightType) error {
	return b.convertHalf(kWidenHalf, dst, src, n, t)
}

// convertHalf runs the elementwise conversion kernel k (kNarrowHalf or
// kWidenHalf) over n values between float32 and 16-bit type t.
func (b *backend) convertHalf(k int, dst, src uintptr, n int, t tensor.WeightType) error {
	if n == 0 {
		return nil
	}
	var p params
	p.ptr(dst).ptr(src).i64(n).i32(bf16Flag(t))
	return b.launch(k, gridFor(int64(n), 256), 256, &p)
}

func (b *backend) PackWeight(w *tensor.Tensor, t tensor.WeightType) (*tensor.PackedB, error) {
	if err := b.own(w); err != nil {
		return nil, err
	}
	if err := checkWeightType(t); err != nil {
		return nil, err
	}
	n, k := w.Dim(0), w.Dim(1)
	wc, tmp, err := b.contiguous(w)
	if err != nil {
		return nil, err
	}
	defer releaseIf(wc, tmp)
	addr, err := b.mem.alloc(max(int64(n*k)*elemSize(t), 1), true)
	if err != nil {
		return nil, fmt.Errorf("%s: packing a [%d %d] weight: %w", b.d.Name(), n, k, err)
	}
	if t == tensor.WeightF32 {
		err = b.c.dtod(addr, wc.DeviceAddr(), 4*n*k)
	} else {
		err = b.narrowInto(addr, wc.DeviceAddr(), n*k, t)
	}
	if err != nil {
		b.mem.release(addr)
		return nil, err
	}
	return b.newPacked(addr, t, n, k), nil
}

func (b *backend) PackWeightHalf(d *tensor.Device, w []uint16, src tensor.WeightType, n, k int, t tensor.WeightType) (*tensor.PackedB, error) {
	if err := b.live(); err != nil {
		return nil, err
	}
	if !isHalf(src) {
		return nil, fmt.Errorf("cuda: PackWeightHalf: element type %v is not 16-bit", src)
	}
	if err := checkWeightType(t); err != nil {
		return nil, err
	}
	nk := n * k
	addr, err := b.mem.alloc(max(int64(nk)*elemSize(t), 1), true)
	if err != nil {
		return nil, fmt.Errorf("%s: packing a [%d %d] weight: %w", b.d.Name(), n, k, err)
	}
	if t == src {
		err = htodSlice(b, addr, w[:nk])
	} else {
		err = b.repackHalf(addr, w[:nk], src, t)
	}
	if err != nil {
		b.mem.release(addr)
		return nil, err
	}
	return b.newPacked(addr, t, n, k), nil
}

// repackHalf uploads 16-bit floats of type src and stores them at dst as
// type t: widened (exactly) to float32, then narrowed when t is 16-bit.
func (b *backend) repackHalf(dst uintptr, w []uint16, src, t tensor.WeightType) error {
	h, err := uploadScratch(b, w)
	if err != nil {
		return err
	}
	defer h.free()
	if t == tensor.WeightF32 {
		return b.widenInto(dst, h.addr, len(w), src)
	}
	f, err := b.scratch(int64(4 * len(w)))
	if err != nil {
		return err
	}
	defer f.free()
	if err := b.widenInto(f.addr, h.addr, len(w), src); err != nil {
		return err
	}
	return b.narrowInto(dst, f.addr, len(w), t)
}

// gemvMaxRows is the most rows a product with a 16-bit weight runs with
// the GEMV kernel (8 rows a launch), which reads the weight in its 16-bit
// form; more rows go to cuBLAS.
const gemvMaxRows = 32

func (b *backend) LinearPacked(x *tensor.Tensor, w *tensor.PackedB, bias *tensor.Tensor, ep tensor.Epilogue) (*tensor.Tensor, error) {
	if err := b.own(x, bias, ep.Add); err != nil {
		return nil, err
	}
	pw, err := b.packedOf(w)
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(pw)
	n, k := pw.n, pw.k
	if x.Rank() < 1 || x.Dim(-1) != k {
		return nil, fmt.Errorf("%w: linear input %v with packed weight [%d %d]", tensor.ErrShape, x.Shape(), n, k)
	}
	if bias != nil && bias.Len() != n {
		return nil, fmt.Errorf("%w: linear bias %v for %d outputs", tensor.ErrShape, bias.Shape(), n)
	}
	if ep.Act > tensor.ActSiLU {
		return nil, fmt.Errorf("%w: unknown activation %d", tensor.ErrDevice, ep.Act)
	}
	xs := x.Shape()
	m := numel(xs[:len(xs)-1])
	dst := ep.Add
	if dst != nil {
		if !dst.IsContiguous() || dst.Len() != m*n || (dst.Rank() > 0 && dst.Dim(-1) != n) {
			return nil, fmt.Errorf("%w: linear output %v for input %v and %d outputs", tensor.ErrShape, dst.Shape(), xs, n)
		}
	}
	xc, xtmp, err := b.contiguous(x)
	if err != nil {
		return nil, err
	}
	defer releaseIf(xc, xtmp)
	var out *tensor.Tensor
	beta := float32(0)
	if dst != nil {
		out, beta = dst, 1
	} else if out, err = b.newTensor(append(xs[:len(xs)-1:len(xs)-1], n)); err != nil {
		return nil, err
	}
	fail := func(err error) (*tensor.Tensor, error) {
		if dst == nil {
			tensor.Release(out)
		}
		return nil, err
	}
	if m > 0 && n > 0 {
		if err := b.packedProduct(pw, xc.DeviceAddr(), m, beta, out.DeviceAddr()); err != nil {
			return fail(err)
		}
	}
	act := ep.Act
	if dst != nil {
		act = tensor.ActNone
	}
	if err := b.biasAct(out.DeviceAddr(), m, n, n, bias, act); err != nil {
		return fail(err)
	}
	if dst != nil {
		return nil, nil
	}
	return out, nil
}

// packedProduct computes C[m, n] = X[m, k]·Wᵀ + beta·C (X, C contiguous).
func (b *backend) packedProduct(pw *packedWeight, x uintptr, m int, beta float32, c uintptr) error {
	n, k := pw.n, pw.k
	g := gemmArgs{transB: true, m: m, n: n, k: k, alpha: 1, a: x, lda: max(k, 1), b: pw.addr, ldb: max(k, 1), beta: beta, c: c, ldc: n}
	if pw.t == tensor.WeightF32 {
		return b.sgemm(g)
	}
	if k == 0 {
		return b.sgemm(g) // clears C (beta 0) or leaves it
	}
	if m <= gemvMaxRows {
		if !fitsInt32(n, k) {
			return fmt.Errorf("%w: a [%d %d] 16-bit weight", ErrUnsupported, n, k)
		}
		acc := 0
		if beta != 0 {
			acc = 1
		}
		for r0 := 0; r0 < m; r0 += 8 {
			rows := min(8, m-r0)
			var p params
			p.ptr(c + uintptr(4*r0*n)).i64(n).ptr(x + uintptr(4*r0*k)).i64(k).i32(rows).ptr(pw.addr).
				i32(n).i32(k).i32(bf16Flag(pw.t)).i32(acc)
			if err := b.launch(kGemvHalf, (n+7)/8, 256, &p); err != nil {
				return err
			}
		}
		return nil
	}
	if b.opts.TensorCores {
		// Round the activations to the weight's type; FP32 accumulation.
		h, err := b.scratch(int64(2 * m * k))
		if err != nil {
			return err
		}
		defer h.free()
		if err := b.narrowInto(h.addr, x, m*k, pw.t); err != nil {
			return err
		}
		if err := checkGemmSizes(m, n, k); err != nil {
			return err
		}
		typ := cudaR16F
		if pw.t == tensor.WeightBF16 {
			typ = cudaR16BF
		}
		return b.withBLAS(func() error {
			return b.c.gemmEx(b.blas, opT, opN, n, m, k, 1, pw.addr, typ, k, h.addr, typ, k, beta, c, cudaR32F, n, computeF32)
		})
	}
	// Exact: widen the weight to float32 scratch, then SGEMM.
	f, err := b.scratch(int64(4 * n * k))
	if err != nil {
		return err
	}
	defer f.free()
	if err := b.widenInto(f.addr, pw.addr, n*k, pw.t); err != nil {
		return err
	}
	g.b = f.addr
	return b.sgemm(g)
}

func (b *backend) GatherPacked(w *tensor.PackedB, ids []int) (*tensor.Tensor, error) {
	if err := b.live(); err != nil {
		return nil, err
	}
	pw, err := b.packedOf(w)
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(pw)
	out, err := b.newTensor([]int{len(ids), pw.k})
	if err != nil {
		return nil, err
	}
	if out.Len() == 0 {
		return out, nil
	}
	ix, err := b.uploadInt64(ids)
	if err != nil {
		tensor.Release(out)
		return nil, err
	}
	defer ix.free()
	var p params
	if pw.t == tensor.WeightF32 {
		var sh, st dims
		sh[0], st[0] = int64(pw.k), 1
		p.ptr(out.DeviceAddr()).ptr(pw.addr).ptr(ix.addr).i64(len(ids)).i64(pw.k).i64(pw.k).dims(&sh).dims(&st).i32(1)
		err = b.launch(kGatherRows, gridFor(int64(out.Len()), 256), 256, &p)
	} else {
		p.ptr(out.DeviceAddr()).ptr(pw.addr).ptr(ix.addr).i64(len(ids)).i32(pw.k).i32(bf16Flag(pw.t))
		err = b.launch(kGatherHalfRows, gridFor(int64(out.Len()), 256), 256, &p)
	}
	if err != nil {
		tensor.Release(out)
		return nil, err
	}
	return out, nil
}
