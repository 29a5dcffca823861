package tensor

import (
	"fmt"
	"math"
	"runtime"

	"github.com/goformer/goformer/tensor/internal/kern"
)

// PackedB is the right-hand operand B (K×N) of matrix products, packed once
// into the layout the GEMM micro-kernels read (panels of KC×NR floats).
// Weights are constants: packing them at load time saves the packing pass
// of every product. A PackedB is immutable and safe for concurrent use.
//
// Where no assembly kernels exist (other architectures, the purego build
// tag) a PackedB simply refers to the matrix it was made from.
type PackedB struct {
	k, n   int
	kc, nr int
	npan   int
	data   []float32
	// half holds the panels as 16-bit floats instead of data (kind
	// WeightF16 or WeightBF16).
	half []uint16
	kind WeightType
	set  *kern.Set
	// q8 holds the panels of a WeightQ8 matrix (see q8.go): int8 codes
	// offset by 128, and qsc their scales per panel, K block and column.
	q8  []byte
	qsc []float32
	// bf holds the panels of a WeightBF16Dot matrix (see bf16dot.go):
	// bfloat16 pairs along K.
	bf []uint16
	// Without kernels: the source matrix, op(B) = raw or rawᵀ.
	raw      []float32
	rawTrans bool
	rawLd    int
	// dev is the device holding the packed weight (nil: the host); a
	// backend keeps its own form of it in devData.
	dev     *Device
	devData any
	// maps are the blocks allocWeights mapped for this weight.
	maps []*mapping
}

// Free releases the packed weight's memory now (host mappings, or the
// device memory its backend holds) instead of leaving it to the garbage
// collector: a model's Close calls it for the weights it packed. The
// weight must not be used afterwards; freeing twice does nothing.
func (p *PackedB) Free() {
	if p == nil {
		return
	}
	if p.dev != nil {
		if p.devData != nil || p.maps != nil {
			p.dev.be.FreePacked(p)
		}
	}
	for _, m := range p.maps {
		m.unmap()
	}
	p.maps = nil
	p.data, p.half, p.q8, p.qsc, p.bf, p.raw, p.devData = nil, nil, nil, nil, nil, nil, nil
}

// Device returns the device holding the packed weight (nil: the host).
func (p *PackedB) Device() *Device { return p.dev }

// DeviceData returns what the backend of the weight's device keeps for it
// (see SetDeviceData).
func (p *PackedB) DeviceData() any { return p.devData }

// NewDevicePacked returns a packed weight [n, k] of type t that lives on
// d as data: how a backend's PackWeight represents the weights it keeps.
func NewDevicePacked(d *Device, n, k int, t WeightType, data any) *PackedB {
	return &PackedB{k: k, n: n, kind: t, dev: d, devData: data}
}

// WeightType is the element type a packed weight is stored in.
type WeightType int

// Weight storage types. F16 and BF16 halve the memory a weight takes and
// the bandwidth a product with few rows (decoding) needs; values are
// widened to float32 in registers, so a weight that came from an F16 (or
// BF16) checkpoint gives exactly the float32 results, while rounding a
// float32 weight costs the precision of the 16-bit format.
//
// Q8 stores weights as int8 with a float32 scale per block of 256 values
// along K (see q8.go): about a quarter of float32's memory and bandwidth.
// Products with a Q8 weight quantize their activations to int8 as well
// (per row and block) and multiply in integers (AVX512-VNNI where the CPU
// has it, portable Go elsewhere, with identical results), at the cost of
// both roundings (see PERFORMANCE.md for the measured accuracy).
//
// BF16Dot stores weights as bfloat16 like BF16, but computes in bfloat16
// too (see bf16dot.go): products round their activations to bfloat16 on
// the fly and multiply pairs of them with AVX512-BF16 (VDPBF16PS) into
// float32 sums where the CPU has it, in portable Go with identical results
// elsewhere (much slower there). Both roundings cost precision: about
// 2.4e-3 rms relative error per product (see PERFORMANCE.md).
const (
	WeightF32 WeightType = iota
	WeightF16
	WeightBF16
	WeightQ8
	WeightBF16Dot
)

// String returns "F32", "F16", "BF16", "Q8" or "BF16Dot".
func (t WeightType) String() string {
	switch t {
	case WeightF16:
		return "F16"
	case WeightBF16:
		return "BF16"
	case WeightQ8:
		return "Q8"
	case WeightBF16Dot:
		return "BF16Dot"
	}
	return "F32"
}

// PackB packs op(B), a K×N matrix: B is stored row-major with leading
// dimension ldb, as K×N (transB false) or N×K (transB true).
func PackB(transB bool, k, n int, b []float32, ldb int) *PackedB {
	return packBWith(fastSet, transB, k, n, b, ldb)
}

// PackWeight packs a PyTorch-layout weight w [N, K] for products x·wᵀ (as
// Linear computes them).
func PackWeight(w *Tensor) (*PackedB, error) {
	return PackWeightAs(w, WeightF32)
}

// PackWeightAs is PackWeight storing the weight as t. Without assembly
// kernels the weight stays float32.
func PackWeightAs(w *Tensor, t WeightType) (*PackedB, error) {
	return PackWeightWith(w, t, nil)
}

// PackWeightWith is PackWeightAs that reports progress: done is called with
// consecutive row ranges of w's storage (as returned by w.Data()) once they
// are packed, so that a caller holding w in memory it can release (a file
// mapping) can let the packed rows go while the rest is packed, instead of
// holding both copies of a large weight at once.
//
// A weight on a device is packed there (done is not called).
func PackWeightWith(w *Tensor, t WeightType, done func(rows []float32)) (*PackedB, error) {
	if w.Rank() != 2 {
		return nil, fmt.Errorf("%w: packing weight %v: want [out, in]", ErrShape, w.shape)
	}
	if w.dev != nil {
		return w.dev.be.PackWeight(w, t)
	}
	wc := w.Contiguous()
	k, n := w.shape[1], w.shape[0]
	src := wc.data[wc.offset : wc.offset+n*k]
	switch t {
	case WeightF32, WeightF16, WeightBF16:
	case WeightQ8:
		return packQ8(src, n, k, done), nil
	case WeightBF16Dot:
		return packBF16Dot(src, n, k, done), nil
	default:
		return nil, fmt.Errorf("tensor: packing weight as unknown type %v", t)
	}
	if fastSet == nil {
		p := PackB(true, k, n, src, k)
		if done != nil {
			done(src)
		}
		return p, nil
	}
	s := fastSet
	p := &PackedB{k: k, n: n, set: s, kc: s.KC, nr: s.NR, npan: (n + s.NR - 1) / s.NR, kind: t}
	size := packedLen(s, k, n)
	if t == WeightF32 {
		p.data = allocWeights[float32](size, p)
	} else {
		p.half = allocWeights[uint16](size, p)
	}
	// Panel by panel (NR rows of w, all K blocks), so that rows are finished
	// in order; 16-bit panels are narrowed from a float32 scratch panel.
	var tmp []float32
	if t != WeightF32 {
		tmp = make([]float32, p.kc*p.nr)
	}
	released := 0
	for jp := 0; jp < n; jp += p.nr {
		for pc := 0; pc < k; pc += p.kc {
			kc := min(p.kc, k-pc)
			off := p.panelOff(pc, jp)
			if t == WeightF32 {
				packB(true, src, k, pc, kc, jp, min(n, jp+p.nr), p.nr, p.data[off:off+kc*p.nr])
				continue
			}
			panel := tmp[:kc*p.nr]
			packB(true, src, k, pc, kc, jp, min(n, jp+p.nr), p.nr, panel)
			if t == WeightF16 {
				kern.NarrowF16(p.half[off:off+len(panel)], panel)
			} else {
				kern.NarrowBF16(p.half[off:off+len(panel)], panel)
			}
		}
		if rows := min(n, jp+p.nr); done != nil && (rows-released)*k >= 1<<18 || rows == n {
			if done != nil && rows > released {
				done(src[released*k : rows*k])
			}
			released = rows
		}
	}
	return p, nil
}

// PackWeightHalf packs a PyTorch-layout weight [n, k] given as 16-bit
// floats w (t is WeightF16 or WeightBF16, as stored in a checkpoint) and
// keeps it in that type: the result computes exactly what
// PackWeightAs(widened w, t) does, without a float32 copy of the weight
// ever existing. done, when not nil, is called with consecutive row ranges
// of w once they are packed (see PackWeightWith). Without assembly kernels
// the weight is widened to float32.
func PackWeightHalf(w []uint16, t WeightType, n, k int, done func(rows []uint16)) (*PackedB, error) {
	if t != WeightF16 && t != WeightBF16 {
		return nil, fmt.Errorf("tensor: PackWeightHalf: element type %v is not 16-bit", t)
	}
	if n <= 0 || k <= 0 || k > len(w) || n > len(w)/k {
		return nil, fmt.Errorf("%w: packing a [%d, %d] weight from %d values", ErrShape, n, k, len(w))
	}
	src := w[:n*k]
	if fastSet == nil {
		f := make([]float32, n*k)
		WidenHalf(f, src, t)
		if done != nil {
			done(src)
		}
		return PackB(true, k, n, f, k), nil
	}
	s := fastSet
	p := &PackedB{k: k, n: n, set: s, kc: s.KC, nr: s.NR, npan: (n + s.NR - 1) / s.NR, kind: t}
	p.half = allocWeights[uint16](packedLen(s, k, n), p)
	released := 0
	for jp := 0; jp < n; jp += p.nr {
		for pc := 0; pc < k; pc += p.kc {
			kc := min(p.kc, k-pc)
			off := p.panelOff(pc, jp)
			packB(true, src, k, pc, kc, jp, min(n, jp+p.nr), p.nr, p.half[off:off+kc*p.nr])
		}
		if rows := min(n, jp+p.nr); done != nil && ((rows-released)*k >= 1<<18 || rows == n) {
			done(src[released*k : rows*k])
			released = rows
		}
	}
	return p, nil
}

// WidenHalf converts 16-bit floats of type t (WeightF16 or WeightBF16) to
// float32, exactly; len(src) must be at least len(dst).
func WidenHalf(dst []float32, src []uint16, t WeightType) {
	if t == WeightBF16 {
		kern.WidenBF16(dst, src)
		return
	}
	kern.WidenF16(dst, src)
}

// Type returns the element type the packed matrix is stored in.
func (p *PackedB) Type() WeightType { return p.kind }

// Bytes returns the memory the packed matrix takes.
func (p *PackedB) Bytes() int {
	if p.kind == WeightQ8 {
		return len(p.q8) + 4*len(p.qsc)
	}
	if p.kind == WeightBF16Dot {
		return 2 * len(p.bf)
	}
	if p.half != nil {
		return 2 * len(p.half)
	}
	return 4 * len(p.data)
}

func packBWith(s *kern.Set, transB bool, k, n int, b []float32, ldb int) *PackedB {
	if transB {
		gemmNeed("B", b, n, k, ldb)
	} else {
		gemmNeed("B", b, k, n, ldb)
	}
	if s == nil {
		return &PackedB{k: k, n: n, raw: b, rawTrans: transB, rawLd: ldb}
	}
	p := &PackedB{}
	if transB && ldb == k && k*n >= 1<<18 {
		// A weight: keep it outside the Go heap (see allocWeights).
		buf := allocWeights[float32](packedLen(s, k, n), p)
		p.packInto(s, transB, k, n, b, ldb, buf)
		return p
	}
	p.packInto(s, transB, k, n, b, ldb, make([]float32, packedLen(s, k, n)))
	return p
}

// packedLen is the number of floats a packed K×N operand takes.
func packedLen(s *kern.Set, k, n int) int {
	return k * ((n + s.NR - 1) / s.NR) * s.NR
}

// packInto packs op(B) into buf (packedLen floats) and makes p describe it.
func (p *PackedB) packInto(s *kern.Set, transB bool, k, n int, b []float32, ldb int, buf []float32) {
	*p = PackedB{k: k, n: n, set: s, kc: s.KC, nr: s.NR, npan: (n + s.NR - 1) / s.NR, data: buf}
	for pc := 0; pc < k; pc += p.kc {
		kc := min(p.kc, k-pc)
		packB(transB, b, ldb, pc, kc, 0, n, p.nr, p.data[pc*p.npan*p.nr:])
	}
}

// K returns the number of rows of B (the inner dimension of products).
func (p *PackedB) K() int { return p.k }

// N returns the number of columns of B (outputs of products).
func (p *PackedB) N() int { return p.n }

// panelOff returns the offset of the packed panel of K block pc (a
// multiple of kc) and column jp (a multiple of nr).
func (p *PackedB) panelOff(pc, jp int) int {
	kc := min(p.kc, p.k-pc)
	return pc*p.npan*p.nr + jp/p.nr*kc*p.nr
}

// panel returns the float32 packed panel at (pc, jp).
func (p *PackedB) panel(pc, jp int) *float32 { return &p.data[p.panelOff(pc, jp)] }

// GemmPacked computes C = alpha·A·B + beta·C (+ bias[j] added to every row
// when bias is non-nil) for A m×K row-major with leading dimension lda, B
// pre-packed, C m×N with leading dimension ldc.
func GemmPacked(m int, alpha float32, a []float32, lda int, b *PackedB, beta float32, c []float32, ldc int, bias []float32) {
	gemmPacked(Threads(), m, alpha, a, lda, b, beta, c, ldc, bias, nil)
}

func gemmPacked(threads, m int, alpha float32, a []float32, lda int, b *PackedB, beta float32, c []float32, ldc int, bias []float32, act func([]float32)) {
	if bias != nil && len(bias) < b.n {
		panic(fmt.Sprintf("tensor: gemm bias of %d elements for %d columns", len(bias), b.n))
	}
	if b.kind == WeightQ8 {
		gemmQ8(threads, m, alpha, a, lda, b, beta, c, ldc, bias, act)
		return
	}
	if b.kind == WeightBF16Dot {
		gemmBF16Dot(threads, m, alpha, a, lda, b, beta, c, ldc, bias, act)
		return
	}
	if b.set == nil {
		gemmCheckArgs(false, b.rawTrans, m, b.n, b.k, a, lda, b.raw, b.rawLd, c, ldc)
		if bias != nil && beta != 0 {
			scaleC(m, b.n, beta, c, ldc, bias)
			beta = 1
		} else if bias != nil {
			scaleC(m, b.n, 0, c, ldc, bias)
			beta = 1
		}
		GemmRef(false, b.rawTrans, m, b.n, b.k, alpha, a, lda, b.raw, b.rawLd, beta, c, ldc)
		if act != nil {
			for i := 0; i < m; i++ {
				act(c[i*ldc : i*ldc+b.n])
			}
		}
		runtime.KeepAlive(b)
		return
	}
	if m == 1 && gemv1(threads, alpha, a, b, beta, c, bias, act) {
		runtime.KeepAlive(b)
		return
	}
	gemmNeed("A", a, m, b.k, lda)
	gemmNeed("C", c, m, b.n, ldc)
	gemmDrive(b.set, threads, false, false, m, b.n, b.k, alpha, a, lda, nil, 0, b, beta, c, ldc, bias, act)
	// The packed data may live outside the Go heap, released by a cleanup
	// on b: keep b reachable until the kernels are done with it.
	runtime.KeepAlive(b)
}

// LinearPacked returns x·Wᵀ + bias like Linear, with the weight pre-packed
// by PackWeight (w.K() = in, w.N() = out).
func LinearPacked(x *Tensor, w *PackedB, bias *Tensor) (*Tensor, error) {
	if d := packedDev(x, w, bias); d != nil {
		return d.be.LinearPacked(x, w, bias, Epilogue{})
	}
	return linearPacked(nil, x, w, bias, nil)
}

// packedDev is the device of a packed product's operands (nil: the host).
func packedDev(x *Tensor, w *PackedB, bias *Tensor) *Device {
	if d := dev2(x, bias); d != nil {
		return d
	}
	if w != nil {
		return w.dev
	}
	return nil
}

// LinearPackedAct returns act(x·Wᵀ + bias), applying the activation to each
// output tile while it is still in cache (SIMD kernels for the activations
// of Activation).
func LinearPackedAct(x *Tensor, w *PackedB, bias *Tensor, act func(float32) float32) (*Tensor, error) {
	if d := packedDev(x, w, bias); d != nil {
		return d.be.LinearPacked(x, w, bias, Epilogue{Act: mustAct(d, act)})
	}
	return linearPacked(nil, x, w, bias, sliceAct(act))
}

// LinearPackedAdd adds x·Wᵀ + bias into dst (a contiguous tensor with x's
// leading dimensions and w.N() columns): the residual connection fused with
// the projection that feeds it.
func LinearPackedAdd(dst, x *Tensor, w *PackedB, bias *Tensor) error {
	if dst == nil || !dst.IsContiguous() {
		return fmt.Errorf("%w: linear accumulation needs a contiguous destination", ErrShape)
	}
	if d := packedDev(x, w, bias); d != nil || dst.dev != nil {
		if d == nil {
			d = dst.dev
		}
		_, err := d.be.LinearPacked(x, w, bias, Epilogue{Add: dst})
		return err
	}
	_, err := linearPacked(dst, x, w, bias, nil)
	return err
}

// sliceAct returns the slice form of an elementwise activation.
func sliceAct(f func(float32) float32) func([]float32) {
	if f == nil {
		return nil
	}
	if v := vectorised(f); v != nil {
		return v
	}
	return func(s []float32) {
		for i, v := range s {
			s[i] = f(v)
		}
	}
}

func linearPacked(dst, x *Tensor, w *PackedB, bias *Tensor, act func([]float32)) (*Tensor, error) {
	return linearPackedPad(dst, x, w, bias, act, false)
}

// rowStride returns the uniform distance between consecutive rows of t
// viewed as a matrix [numel/last, last] when its last dimension is dense, or
// false (t then needs a contiguous copy).
func rowStride(t *Tensor) (int, bool) {
	r := t.Rank()
	if r == 0 || (t.strides[r-1] != 1 && t.shape[r-1] > 1) {
		return 0, false
	}
	ld := t.shape[r-1]
	if r >= 2 {
		ld = t.strides[r-2]
		if t.shape[r-2] == 1 {
			ld = t.shape[r-1]
		}
	}
	// Leading dimensions must collapse: stride[d] = shape[d+1]·stride[d+1].
	step := ld
	for d := r - 2; d >= 0; d-- {
		if t.shape[d] != 1 && t.strides[d] != step {
			return 0, false
		}
		step *= t.shape[d]
	}
	if ld < t.shape[r-1] && numel(t.shape[:r-1]) > 1 {
		return 0, false
	}
	return max(ld, t.shape[r-1]), true
}

// conflictStride reports whether rows ld floats apart fall into few L1 sets
// (a row stride close to a multiple of 4 KiB), which slows a kernel reading
// MR rows at once.
func conflictStride(ld int) bool {
	if ld*4%64 != 0 {
		return false
	}
	lines := ld * 4 / 64
	g := 64
	for g > 1 && lines%g != 0 {
		g /= 2
	}
	return 64/g < 4
}

// paddedCols returns the row stride to store rows of n floats with so that
// they do not conflict.
func paddedCols(n int) int {
	if !conflictStride(n) {
		return n
	}
	return n + 16
}

// LinearPackedActPadded is LinearPackedAct for results that only feed
// another product (an MLP's hidden layer): when the output width would put
// consecutive rows in the same cache sets, the rows are stored with a few
// floats of padding and the result is a non-contiguous view [..., N] of
// that storage, which LinearPacked and its variants read in place. Use it
// only as such an operand (or Release it); Data() of a view copies.
func LinearPackedActPadded(x *Tensor, w *PackedB, bias *Tensor, act func(float32) float32) (*Tensor, error) {
	if d := packedDev(x, w, bias); d != nil {
		return d.be.LinearPacked(x, w, bias, Epilogue{Act: mustAct(d, act), Padded: true})
	}
	return linearPackedPad(nil, x, w, bias, sliceAct(act), true)
}

func linearPackedPad(dst, x *Tensor, w *PackedB, bias *Tensor, act func([]float32), pad bool) (*Tensor, error) {
	if x.Rank() < 1 || x.Dim(-1) != w.k {
		return nil, fmt.Errorf("%w: linear input %v with packed weight [%d %d]", ErrShape, x.shape, w.n, w.k)
	}
	var bd []float32
	if bias != nil {
		if bias.Len() != w.n {
			return nil, fmt.Errorf("%w: linear bias %v for %d outputs", ErrShape, bias.shape, w.n)
		}
		bd = bias.Data()
	}
	lda, ok := rowStride(x)
	if !ok {
		x = x.Contiguous()
		lda = w.k
	}
	m := numel(x.shape[:x.Rank()-1])
	beta := float32(0)
	out := dst
	ldc := w.n
	var shapeBuf [inlineRank]int
	outShape := append(append(shapeBuf[:0], x.shape[:x.Rank()-1]...), w.n)
	switch {
	case dst != nil:
		if dst.Len() != m*w.n || (dst.Rank() > 0 && dst.Dim(-1) != w.n) {
			return nil, fmt.Errorf("%w: linear output %v for input %v and %d outputs", ErrShape, dst.shape, x.shape, w.n)
		}
		beta = 1
	case pad && paddedCols(w.n) != w.n && m > 1:
		ldc = paddedCols(w.n)
		buf := newUninit(m, ldc)
		out = header(outShape, nil)
		out.data, out.owned, out.box = buf.data, true, buf.box
		freeHeader(buf)
		if r := len(outShape); r >= 2 {
			st := ldc
			for d := r - 2; d >= 0; d-- {
				out.strides[d] = st
				st *= outShape[d]
			}
		}
	default:
		out = newUninit(outShape...)
	}
	if m == 0 {
		return out, nil
	}
	var xd []float32
	if w.k > 0 {
		xd = x.data[x.offset:]
	}
	gemmPacked(workers(int(x.threads)), m, 1, xd, lda, w, beta, out.data[out.offset:], ldc, bd, act)
	return out, nil
}

// GatherPacked returns rows ids of the [N, K] weight w holds (output
// columns of the product) as a new float32 tensor [len(ids), K]: a
// projection tied to an embedding table looks tokens up in the one
// resident copy. F32 and 16-bit weights (WeightBF16Dot included) give
// their stored values exactly; a WeightQ8 weight is not supported (its
// codes are not the table).
func GatherPacked(w *PackedB, ids []int) (*Tensor, error) {
	if w == nil {
		return nil, fmt.Errorf("%w: gather from a nil packed weight", ErrShape)
	}
	for _, id := range ids {
		if id < 0 || id >= w.n {
			return nil, fmt.Errorf("%w: row %d of a packed weight with %d rows", ErrShape, id, w.n)
		}
	}
	if w.kind == WeightQ8 {
		return nil, fmt.Errorf("tensor: rows of a %v packed weight are not stored exactly", w.kind)
	}
	if w.dev != nil {
		return w.dev.be.GatherPacked(w, ids)
	}
	k := w.k
	out := newUninit(len(ids), k)
	for r, j := range ids {
		dst := out.data[r*k : (r+1)*k]
		if w.kind == WeightBF16Dot {
			k2 := (k + 1) &^ 1
			col := w.bf[j/bfNR*k2*bfNR+2*(j%bfNR):]
			for kk := range dst {
				dst[kk] = math.Float32frombits(uint32(col[(kk>>1)*(2*bfNR)+(kk&1)]) << 16)
			}
			continue
		}
		if w.raw != nil {
			if w.rawTrans {
				copy(dst, w.raw[j*w.rawLd:j*w.rawLd+k])
			} else {
				for kk := range dst {
					dst[kk] = w.raw[kk*w.rawLd+j]
				}
			}
			continue
		}
		jp := j / w.nr * w.nr
		for pc := 0; pc < k; pc += w.kc {
			kc := min(w.kc, k-pc)
			off := w.panelOff(pc, jp) + (j - jp)
			if w.kind == WeightF32 {
				for kk := 0; kk < kc; kk++ {
					dst[pc+kk] = w.data[off+kk*w.nr]
				}
				continue
			}
			for kk := 0; kk < kc; kk++ {
				h := w.half[off+kk*w.nr : off+kk*w.nr+1]
				WidenHalf(dst[pc+kk:pc+kk+1], h, w.kind)
			}
		}
	}
	return out, nil
}
