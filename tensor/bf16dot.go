package tensor

import (
	"github.com/goformer/goformer/tensor/internal/kern"
)

// BFloat16 products (WeightBF16Dot).
//
// A weight is rounded to bfloat16 once, when it is packed (to nearest
// even; a BF16 checkpoint's values are kept as they are), and stored in
// panels of bfNR = 32 columns holding, for each pair of consecutive K
// values, the pair of every column: the operand layout of the AVX512-BF16
// instruction VDPBF16PS. The activations of each product are rounded to
// bfloat16 on the fly, row by row, as VCVTNEPS2BF16 does, and every output
// is one float32 chain over K of VDPBF16PS steps (two fused multiply-adds
// of exact bfloat16 products per pair), starting from the bias (and C when
// accumulating).
//
// Unlike WeightBF16, which only stores the weight in 16 bits and multiplies
// in float32, both operands lose their low 16 bits here: at most 2^-8
// relative rounding on each, about 2.4e-3 rms relative error for a
// product of Gaussian operands (see PERFORMANCE.md), for twice the
// multiply-adds per instruction of float32 FMAs and half of float32's
// weight traffic.
//
// Results do not depend on the machine, the threads or the tiling: the
// pure-Go path (kern.BF16Tile, kern.RoundBF16Go) computes bit for bit what
// the assembly does (the instruction's denormal and rounding rules
// included), and is what runs where the CPU lacks AVX512-BF16.

const (
	bfNR = kern.BNR
	// bfMC is the number of rows of A per cache block of the driver.
	bfMC = 112
)

// bf16Set is the bfloat16 kernel set in use (nil: the pure-Go reference).
var bf16Set = kern.BestBF16()

// BF16DotKernel names the kernels behind WeightBF16Dot products
// ("avx512bf16", or "go" for the portable reference).
func BF16DotKernel() string {
	if bf16Set == nil {
		return "go"
	}
	return bf16Set.Name
}

// packBF16Dot rounds the row-major weight src [n, k] into a WeightBF16Dot
// PackedB. done, when not nil, gets consecutive ranges of finished rows.
func packBF16Dot(src []float32, n, k int, done func(rows []float32)) *PackedB {
	return packBF16Rows(n, k, func(j int, buf []uint16) {
		kern.RoundBF16(buf, src[j*k:(j+1)*k], 1)
	}, rowsDone(src, k, done))
}

// packBF16Half packs a 16-bit weight w [n, k] of type src as
// WeightBF16Dot: BF16 values as they are (denormals, which the products
// read as zero, stored as zeros), F16 values rounded row by row.
func packBF16Half(w []uint16, src WeightType, n, k int, done func(rows []uint16)) *PackedB {
	var f []float32
	if src != WeightBF16 {
		f = make([]float32, k)
	}
	return packBF16Rows(n, k, func(j int, buf []uint16) {
		row := w[j*k : (j+1)*k]
		if src == WeightBF16 {
			copy(buf, row)
			kern.FlushBF16(buf)
			return
		}
		WidenHalf(f, row, src)
		kern.RoundBF16(buf, f, 1)
	}, rowsDone(w, k, done))
}

// packBF16Rows packs an n×k weight whose row j row(j, buf) writes as k
// bfloat16 values into buf. release, when not nil, gets consecutive ranges
// [r0, r1) of rows no longer needed.
func packBF16Rows(n, k int, row func(j int, buf []uint16), release func(r0, r1 int)) *PackedB {
	k2 := (k + 1) &^ 1
	npan := (n + bfNR - 1) / bfNR
	p := &PackedB{k: k, n: n, kc: k2, nr: bfNR, npan: npan, kind: WeightBF16Dot, set: fastSet}
	p.bf = allocWeights[uint16](npan*k2*bfNR, p) // zeroed: padding stays 0
	buf := make([]uint16, k)
	released := 0
	for jp := 0; jp < n; jp += bfNR {
		panel := p.bf[jp/bfNR*k2*bfNR : (jp/bfNR+1)*k2*bfNR]
		for jj := 0; jj < min(bfNR, n-jp); jj++ {
			row(jp+jj, buf)
			col := panel[2*jj:]
			for kk, v := range buf {
				col[(kk>>1)*(2*bfNR)+(kk&1)] = v
			}
		}
		releaseRows(release, &released, min(n, jp+bfNR), n, k)
	}
	return p
}

// bfJob is one product with a WeightBF16Dot weight as its workers see it.
type bfJob struct {
	lowpJob
	set *kern.BF16Set
	ab  []uint16 // A rounded to bfloat16, rows ldb values apart
	ldb int
}

var bfJobs jobPool[bfJob]

// gemmBF16Dot computes C = act(alpha·A·B + beta·C (+ bias)) for a
// WeightBF16Dot B: each output is the VDPBF16PS chain over K of the rows
// of A rounded to bfloat16 (after scaling by alpha), starting from C + bias
// (another beta scales C first).
func gemmBF16Dot(threads, m int, alpha float32, a []float32, lda int, b *PackedB, beta float32, c []float32, ldc int, bias []float32, act func([]float32)) {
	lj, ok := newLowpJob(m, alpha, a, lda, b, beta, c, ldc, bias, act)
	if !ok {
		return
	}
	k2 := (b.k + 1) &^ 1
	// Rows of bfloat16 A: a multiple of 64 bytes, off multiples of 4 KiB
	// (rows that map to few L1 sets slow the kernel reading 14 at once).
	ldb := (k2 + 31) &^ 31
	if ldb%2048 == 0 {
		ldb += 32
	}
	abuf := getBuf((m*ldb + 1) / 2)
	defer putBuf(abuf)
	j := bfJobs.get()
	defer bfJobs.put(j)
	*j = bfJob{lowpJob: lj, set: bf16Set, ab: kern.Uint16s(*abuf)[:m*ldb], ldb: ldb}
	if s := j.set; s != nil {
		j.mr = s.MR
		// A few rows go through the wide kernels: hand panels out in
		// their groups.
		if m < len(s.Wide) && s.Wide[m].NP > 1 {
			j.group = s.Wide[m].NP
		}
	}
	j.run(threads, j)
}

func (j *bfJob) runChunk(i int) { j.chunk(i, j) }

// convertRows rounds rows [i0, i1) of alpha·A to bfloat16, zero-padded to
// an even length.
func (j *bfJob) convertRows(i0, i1 int) {
	k := j.b.k
	for i := i0; i < i1; i++ {
		row := j.ab[i*j.ldb : i*j.ldb+(k+1)&^1]
		kern.RoundBF16(row, j.a[i*j.lda:i*j.lda+k], j.alpha)
		clear(row[k:])
	}
}

// block computes rows [m0, m1) × columns [n0, n1) (n0 a multiple of bfNR)
// on the calling goroutine: for each MC-row block, each panel (or group of
// panels, for the wide kernels of a few rows) goes through all of K for
// all the rows, so that its weights are read from memory once per row
// block, and with one row, in order.
func (j *bfJob) block(m0, m1, n0, n1 int) {
	b := j.b
	k2 := (b.k + 1) &^ 1
	kp := k2 / 2
	psize := k2 * bfNR
	mr := j.mr
	flags := j.flags()
	for ic := m0; ic < m1; ic += bfMC {
		ie := min(m1, ic+bfMC)
		// Few rows: a wide kernel covers several panels per call.
		np := 1
		if j.set != nil && ie-ic < len(j.set.Wide) && j.set.Wide[ie-ic].NP > 1 {
			np = j.set.Wide[ie-ic].NP
		}
		for jp := n0; jp < n1; {
			pan := jp / bfNR
			if np > 1 && jp+np*bfNR <= n1 {
				var bias []float32
				if j.bias != nil {
					bias = j.bias[jp : jp+np*bfNR]
				}
				j.set.WideTile(ie-ic, kp, j.ab[ic*j.ldb:], j.ldb, b.bf[pan*psize:], psize, j.c[ic*j.ldc+jp:], j.ldc, bias, flags)
				j.finish(ic, ie, jp, jp+np*bfNR)
				jp += np * bfNR
				continue
			}
			jn := min(bfNR, n1-jp)
			var bias []float32
			if j.bias != nil {
				bias = j.bias[jp : jp+jn]
			}
			panel := b.bf[pan*psize : (pan+1)*psize]
			for ir := ic; ir < ie; ir += mr {
				r := min(mr, ie-ir)
				a := j.ab[ir*j.ldb:]
				c := j.c[ir*j.ldc+jp:]
				if j.set != nil {
					j.set.Tile(r, jn, kp, a, j.ldb, panel, c, j.ldc, bias, flags)
				} else {
					kern.BF16Tile(r, jn, kp, a, j.ldb, panel, c, j.ldc, bias, flags)
				}
			}
			j.finish(ic, ie, jp, jp+jn)
			jp += jn
		}
	}
}
