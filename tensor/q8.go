package tensor

import (
	"fmt"

	"github.com/goformer/goformer/tensor/internal/kern"
)

// Int8 weights (WeightQ8).
//
// A float weight is quantized once, when it is packed: each output column
// (row of the PyTorch weight) is cut into blocks of q8Block = 256 values
// along K, and each block is stored as symmetric int8 codes with one
// float32 scale (max|w|/127). Activations are quantized the same way on the
// fly, per row and block of 256, just before the product, so that each
// block of a product is an exact integer dot product (VPDPBUSD with
// AVX512-VNNI) scaled by the two blocks' scales and summed in float32.
//
// Why blocks of 256 along K: the cache-blocked driver already walks K in
// blocks (one micro-kernel call per block and panel), so the per-block
// scales cost one conversion and two multiplies per output per 256 K values
// (a few percent of the integer work) and no extra accumulators; a per-row
// or per-column scale over the whole of K would be marginally faster but
// lets one large activation (the outlier channels of transformer
// residual streams) flatten a whole row, while Q8_0-style blocks of 32 cost
// a float multiply-add per 8 VPDPBUSD and 12% more weight bytes for scales.
// 256-value blocks take 1.016 bytes per weight (scales included): a
// quarter of float32's traffic, which is what bounds decoding (one row).
//
// Results do not depend on the machine: the pure-Go path (kern.Q8Tile,
// kern.QuantQ8Go) computes bit for bit what the assembly does.

const (
	q8Block = kern.Q8Block
	q8NR    = kern.Q8NR
	// q8MC is the number of rows of A per cache block of the driver.
	q8MC = 112
)

// q8Set is the int8 kernel set in use (nil: the pure-Go reference).
var q8Set = kern.BestQ8()

// Q8Kernel names the kernels behind WeightQ8 products ("avx512vnni", or
// "go" for the portable reference).
func Q8Kernel() string {
	if q8Set == nil {
		return "go"
	}
	return q8Set.Name
}

// packQ8 quantizes the row-major weight src [n, k] into a WeightQ8 PackedB.
// done, when not nil, gets consecutive ranges of finished rows.
func packQ8(src []float32, n, k int, done func(rows []float32)) *PackedB {
	return packQ8Rows(n, k, func(j int, _ []float32) []float32 { return src[j*k : (j+1)*k] }, rowsDone(src, k, done))
}

// packQ8Rows quantizes an n×k weight whose row j row(j, buf) returns (buf
// is k floats of scratch it may use) into a WeightQ8 PackedB. release, when
// not nil, gets consecutive ranges [r0, r1) of rows no longer needed.
func packQ8Rows(n, k int, row func(j int, buf []float32) []float32, release func(r0, r1 int)) *PackedB {
	nblk := (k + q8Block - 1) / q8Block
	kp := (k + 3) &^ 3
	npan := (n + q8NR - 1) / q8NR
	p := &PackedB{k: k, n: n, kc: q8Block, nr: q8NR, npan: npan, kind: WeightQ8, set: fastSet}
	p.q8 = allocWeights[byte](npan*kp*q8NR, p)
	p.qsc = make([]float32, npan*nblk*q8NR)
	codes := make([]byte, k)
	buf := make([]float32, k)
	sc := make([]float32, nblk)
	corr := make([]int32, nblk)
	released := 0
	for jp := 0; jp < n; jp += q8NR {
		panel := p.q8[jp/q8NR*kp*q8NR : (jp/q8NR+1)*kp*q8NR]
		for i := range panel {
			panel[i] = 128 // code 0 in padding
		}
		for jj := 0; jj < min(q8NR, n-jp); jj++ {
			kern.QuantQ8(row(jp+jj, buf), codes, sc, corr)
			for b, s := range sc {
				p.qsc[(jp/q8NR*nblk+b)*q8NR+jj] = s
			}
			col := panel[4*jj:]
			for kk, c := range codes {
				col[(kk>>2)*(4*q8NR)+(kk&3)] = c + 128
			}
		}
		releaseRows(release, &released, min(n, jp+q8NR), n, k)
	}
	return p
}

// PackWeightHalfAs is PackWeightHalf for a weight of 16-bit type src
// (WeightF16 or WeightBF16) kept as t: src itself (PackWeightHalf), or
// WeightQ8 or WeightBF16Dot, converted row by row from the 16-bit values
// without a float32 copy of the whole weight; other types widen it first.
func PackWeightHalfAs(w []uint16, src WeightType, n, k int, t WeightType, done func(rows []uint16)) (*PackedB, error) {
	return PackWeightHalfOn(nil, w, src, n, k, t, done)
}

// PackWeightHalfOn is PackWeightHalfAs making the packed weight resident on
// d (the host when d is nil; on a device, done is not called).
func PackWeightHalfOn(d *Device, w []uint16, src WeightType, n, k int, t WeightType, done func(rows []uint16)) (*PackedB, error) {
	if d != nil {
		if n <= 0 || k <= 0 || k > len(w) || n > len(w)/k {
			return nil, fmt.Errorf("%w: packing a [%d, %d] weight from %d values", ErrShape, n, k, len(w))
		}
		d.countUpload(2 * n * k)
		return d.be.PackWeightHalf(d, w, src, n, k, t)
	}
	if t == src {
		return PackWeightHalf(w, src, n, k, done)
	}
	if src != WeightF16 && src != WeightBF16 {
		return nil, fmt.Errorf("tensor: PackWeightHalfAs: element type %v is not 16-bit", src)
	}
	if n <= 0 || k <= 0 || k > len(w) || n > len(w)/k {
		return nil, fmt.Errorf("%w: packing a [%d, %d] weight from %d values", ErrShape, n, k, len(w))
	}
	if t == WeightBF16Dot {
		return packBF16Half(w, src, n, k, done), nil
	}
	if t != WeightQ8 {
		f := make([]float32, n*k)
		WidenHalf(f, w[:n*k], src)
		if done != nil {
			done(w[:n*k])
		}
		return PackWeightAs(MustFromData(f, n, k), t)
	}
	return packQ8Rows(n, k, func(j int, buf []float32) []float32 {
		WidenHalf(buf, w[j*k:(j+1)*k], src)
		return buf
	}, rowsDone(w, k, done)), nil
}

// q8Job is one product with an int8 weight as its workers see it.
type q8Job struct {
	lowpJob
	set  *kern.Q8Set
	aq   []byte // quantized A, rows ldq bytes apart
	ldq  int
	sa   []float32 // per row and block: scale, ss apart
	corr []int32   // per row and block: 128·Σ codes
	ss   int
}

var q8Jobs jobPool[q8Job]

// gemmQ8 computes C = act(alpha·A·B + beta·C (+ bias)) for a WeightQ8 B
// (the kernels add C itself: another beta scales C first).
func gemmQ8(threads, m int, alpha float32, a []float32, lda int, b *PackedB, beta float32, c []float32, ldc int, bias []float32, act func([]float32)) {
	lj, ok := newLowpJob(m, alpha, a, lda, b, beta, c, ldc, bias, act)
	if !ok {
		return
	}
	k := b.k
	nblk := (k + q8Block - 1) / q8Block
	kp := (k + 3) &^ 3
	// Rows of quantized A: a multiple of 64 bytes, off multiples of 512
	// (rows that map to few L1 sets slow the kernel reading 14 at once).
	ldq := (kp + 63) &^ 63
	if ldq%512 == 0 {
		ldq += 64
	}
	qbuf := getBuf((m*ldq + 3) / 4)
	sbuf := getBuf(2 * m * nblk)
	defer putBuf(qbuf)
	defer putBuf(sbuf)
	j := q8Jobs.get()
	defer q8Jobs.put(j)
	*j = q8Job{lowpJob: lj, set: q8Set, aq: kern.Bytes(*qbuf)[:m*ldq], ldq: ldq, sa: (*sbuf)[:m*nblk], corr: kern.Int32s((*sbuf)[m*nblk : 2*m*nblk]), ss: nblk}
	if j.set != nil {
		j.mr = j.set.MR
		if m == 1 && j.set.M1Wide[q8WideNP] != nil {
			j.group = q8WideNP // workers take whole groups of panels
		}
	}
	j.run(threads, j)
}

// q8WideNP is how many panels a one-row product reads side by side
// (kern.Q8Set.M1Wide): 4 measured faster than 8 on the decoder's 512- and
// 2048-wide products, where 8 leaves too few groups per worker.
const q8WideNP = 4

func (j *q8Job) runChunk(i int) { j.chunk(i, j) }

// convertRows quantizes rows [i0, i1) of A.
func (j *q8Job) convertRows(i0, i1 int) {
	k, kp := j.b.k, (j.b.k+3)&^3
	for i := i0; i < i1; i++ {
		row := j.aq[i*j.ldq : i*j.ldq+kp]
		sa := j.sa[i*j.ss : (i+1)*j.ss]
		kern.QuantQ8(j.a[i*j.lda:i*j.lda+k], row, sa, j.corr[i*j.ss:(i+1)*j.ss])
		clear(row[k:])
		if j.alpha != 1 {
			for b := range sa {
				sa[b] *= j.alpha
			}
		}
	}
}

// block computes rows [m0, m1) × columns [n0, n1) (n0 a multiple of q8NR)
// on the calling goroutine: for each MC-row block, each panel goes through
// all K blocks for all the rows (its weights are read from memory once per
// row block, and with one row, in order).
func (j *q8Job) block(m0, m1, n0, n1 int) {
	b := j.b
	k := b.k
	kp := (k + 3) &^ 3
	nblk := j.ss
	mr := j.mr
	var tile []float32
	if m1-m0 == 1 && j.set != nil && j.set.M1Wide[q8WideNP] != nil {
		n0 = j.wideRow(m0, n0, n1)
	}
	for ic := m0; ic < m1; ic += q8MC {
		ie := min(m1, ic+q8MC)
		for jp := n0; jp < n1; jp += q8NR {
			jn := min(q8NR, n1-jp)
			pan := jp / q8NR
			panel := b.q8[pan*kp*q8NR : (pan+1)*kp*q8NR]
			for blk := 0; blk < nblk; blk++ {
				pc, kq, flags := j.kBlock(blk)
				var bias []float32
				if flags&kern.FlagBias != 0 {
					bias = j.bias[jp : jp+jn]
				}
				sw := b.qsc[(pan*nblk+blk)*q8NR : (pan*nblk+blk+1)*q8NR]
				bq := panel[pc*q8NR : (pc+4*kq)*q8NR]
				for ir := ic; ir < ie; ir += mr {
					r := min(mr, ie-ir)
					aq := j.aq[ir*j.ldq+pc:]
					c := j.c[ir*j.ldc+jp:]
					sa, corr := j.sa[ir*nblk+blk:], j.corr[ir*nblk+blk:]
					switch {
					case j.set != nil && (j.set.Masked || jn == q8NR):
						j.set.Tile(r, jn, kq, aq, j.ldq, bq, c, j.ldc, sa, corr, nblk, sw, bias, flags)
					case j.set != nil:
						// A partial tile for kernels without masks: into a
						// scratch tile, then finished as the kernels do.
						if tile == nil {
							tile = make([]float32, mr*q8NR)
						}
						j.set.Tile(r, q8NR, kq, aq, j.ldq, bq, tile, q8NR, sa, corr, nblk, sw, nil, 0)
						for i := 0; i < r; i++ {
							crow := c[i*j.ldc : i*j.ldc+jn]
							for jj, v := range tile[i*q8NR : i*q8NR+jn] {
								if flags&kern.FlagBias != 0 {
									v = float32(v + bias[jj])
								}
								if flags&kern.FlagBeta != 0 {
									v = float32(v + crow[jj])
								}
								crow[jj] = v
							}
						}
					default:
						kern.Q8Tile(r, jn, kq, aq, j.ldq, bq, c, j.ldc, sa, nblk, sw, bias, flags)
					}
				}
			}
			j.finish(ic, ie, jp, jp+jn)
		}
	}
}

// wideRow computes row i over the full groups of q8WideNP panels from
// column n0 on (decoding: the panels stream side by side, see
// kern.Q8WideKernel) and returns where the columns it left (a partial
// group at the end) start.
func (j *q8Job) wideRow(i, n0, n1 int) int {
	b := j.b
	k, nblk := b.k, j.ss
	kp := (k + 3) &^ 3
	wide := j.set.M1Wide[q8WideNP]
	gw := q8WideNP * q8NR
	for ; n0+gw <= n1; n0 += gw {
		pan := n0 / q8NR
		for blk := 0; blk < nblk; blk++ {
			pc, kq, flags := j.kBlock(blk)
			var bias *float32
			if flags&kern.FlagBias != 0 {
				bias = &j.bias[n0]
			}
			wide(kq, &j.aq[i*j.ldq+pc], &b.q8[(pan*kp+pc)*q8NR], kp*q8NR, &j.c[i*j.ldc+n0],
				&j.sa[i*nblk+blk], &j.corr[i*nblk+blk], &b.qsc[(pan*nblk+blk)*q8NR], 4*nblk*q8NR, bias, flags)
		}
		j.finish(i, i+1, n0, n0+gw)
	}
	return n0
}

// kBlock returns where K block blk starts, its length in quads and the
// kernel flags of a pass over it (the first adds C and the bias, the
// others their own partial sums).
func (j *q8Job) kBlock(blk int) (pc, kq, flags int) {
	pc = blk * q8Block
	kq = (min(q8Block, j.b.k-pc) + 3) / 4
	flags = kern.FlagBeta
	if blk == 0 {
		flags = j.flags()
	}
	return pc, kq, flags
}
