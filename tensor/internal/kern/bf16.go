package kern

import (
	"math"
	"unsafe"
)

// BF16 dot products (tensor.WeightBF16Dot).
//
// Weights and activations are rounded to bfloat16 and multiplied with the
// AVX512-BF16 instruction VDPBF16PS, which adds to each float32 lane the
// products of a pair of bfloat16 values (two consecutive K values):
//
//	acc = acc + a[2t+1]·b[2t+1]   (rounded to float32)
//	acc = acc + a[2t]·b[2t]       (rounded to float32)
//
// in that order, each step a fused multiply-add (a product of two bfloat16
// values is exact in float32 anyway) rounded to nearest even, with input
// denormals (of a, b and acc) read as zero and denormal results flushed to
// zero, whatever MXCSR says. BF16Tile, the portable reference, computes
// exactly that, so the assembly and the reference give the same bits.
//
// Rounding to bfloat16 (RoundBF16) is that of VCVTNEPS2BF16: to nearest
// even, denormals to a zero of the same sign, NaNs kept NaN (quiet bit set).
//
// Packed weight panels hold BNR columns: for each pair t of K values the
// two values of column 0 (K = 2t first), then column 1, …: 128 bytes per
// pair, so that a 512-bit load gives 16 columns × 2 K values, the
// VDPBF16PS lane layout. An odd K is padded with a zero pair element.
//
// Each output is one sequential chain over all the pairs of K, starting
// from C (FlagBeta), plus bias (FlagBias), or zero: the result does not
// depend on how products are tiled or threaded, and a chain split across
// calls (C holding the partial sums, FlagBeta on the later calls)
// continues exactly.

// BNR is the number of columns of a packed bfloat16 panel.
const BNR = 32

// BF16Kernel computes an mr×(np·BNR) tile of C, np being the number of
// panels of the kernel (1 for the masked ones):
//
//	f = C[i][j] (FlagBeta) or 0;  f += bias[j] (FlagBias; f = bias[j] without FlagBeta)
//	for each pair t < kp: the two VDPBF16PS steps of a[i·lda+2t..] and the panel's column j
//	C[i][j] = f
//
// a holds bfloat16 rows lda elements apart; panel p starts bstride bytes
// after panel p−1 (wide kernels); mask selects the stored columns of a
// single-panel kernel (bit j for column j; wide kernels compute full
// tiles and ignore it).
type BF16Kernel func(kp int, a *uint16, lda int, b *uint16, bstride int, c *float32, ldc int, bias *float32, mask uint64, flags int)

// BF16Wide is a kernel over NP consecutive panels.
type BF16Wide struct {
	NP int
	K  BF16Kernel
}

// BF16Set is a family of bfloat16 dot-product kernels for one instruction
// set.
type BF16Set struct {
	// Name identifies the set ("avx512bf16").
	Name string
	// MR is the tile height; M[mr] computes mr rows × BNR columns (masked),
	// 1 ≤ mr ≤ MR.
	MR int
	M  []BF16Kernel
	// Wide[mr], where its NP is not zero, computes mr rows of NP full
	// panels at once: more independent accumulators for few rows (the
	// results are those of NP calls of M[mr]).
	Wide []BF16Wide
}

var bf16sets []*BF16Set

// roundBF16 is the assembly converter (nil where there is none).
var roundBF16 func(dst *uint16, src *float32, n int, alpha float32)

// BF16Sets returns the bfloat16 kernel sets this CPU can run, best first
// (empty where there are none: the pure-Go BF16Tile then computes the
// products).
func BF16Sets() []*BF16Set { return bf16sets }

// BestBF16 returns the fastest bfloat16 kernel set for this CPU, or nil.
func BestBF16() *BF16Set {
	if len(bf16sets) == 0 {
		return nil
	}
	return bf16sets[0]
}

// RoundBF16 sets dst[i] to float32(alpha·src[i]) rounded to bfloat16 the
// way VCVTNEPS2BF16 does (see above); len(dst) must be at least len(src).
// It uses the assembly converter where there is one; the result is that of
// RoundBF16Go exactly.
func RoundBF16(dst []uint16, src []float32, alpha float32) {
	if len(src) == 0 {
		return
	}
	_ = dst[len(src)-1]
	if roundBF16 != nil {
		roundBF16(&dst[0], &src[0], len(src), alpha)
		return
	}
	RoundBF16Go(dst, src, alpha)
}

// RoundBF16Go is the portable reference of RoundBF16.
func RoundBF16Go(dst []uint16, src []float32, alpha float32) {
	for i, v := range src {
		if alpha != 1 {
			v = float32(alpha * v)
		}
		dst[i] = BF16Of(v)
	}
}

// BF16Of rounds v to bfloat16 as VCVTNEPS2BF16 does.
func BF16Of(v float32) uint16 {
	b := math.Float32bits(v)
	switch {
	case b&0x7f800000 == 0: // zero or denormal
		return uint16(b>>16) & 0x8000
	case v != v:
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// FlushBF16 replaces denormal bfloat16 values of x by zeros of the same
// sign (the values VDPBF16PS reads them as).
func FlushBF16(x []uint16) {
	for i, h := range x {
		if h&0x7f80 == 0 {
			x[i] = h & 0x8000
		}
	}
}

// bf16Step is one VDPBF16PS step of one lane: acc + a·b with one rounding,
// denormal inputs read as zero, a denormal result flushed to zero. The
// float64 product is exact (8-bit significands) and the float64 sum rounded
// again to float32 is the correctly rounded float32 sum (53 ≥ 2·24+2).
func bf16Step(acc float32, a, b uint16) float32 {
	if a&0x7f80 == 0 {
		a &= 0x8000
	}
	if b&0x7f80 == 0 {
		b &= 0x8000
	}
	p := float64(math.Float32frombits(uint32(a)<<16)) * float64(math.Float32frombits(uint32(b)<<16))
	return flushF32(float32(float64(acc) + p))
}

// flushF32 returns f, or a zero of its sign when f is denormal.
func flushF32(f float32) float32 {
	if b := math.Float32bits(f); b&0x7f800000 == 0 {
		return math.Float32frombits(b & 0x80000000)
	}
	return f
}

// BF16Tile is the portable reference of a BF16Kernel call for an mr-row
// tile of one panel of which the first jn columns are stored (the others
// are neither read nor written): slices start where the kernel's pointers
// point.
func BF16Tile(mr, jn, kp int, a []uint16, lda int, b []uint16, c []float32, ldc int, bias []float32, flags int) {
	for i := 0; i < mr; i++ {
		arow := a[i*lda : i*lda+2*kp]
		crow := c[i*ldc : i*ldc+jn]
		for j := range crow {
			var f float32
			if flags&FlagBeta != 0 {
				f = crow[j]
				if flags&FlagBias != 0 {
					f = float32(f + bias[j])
				}
			} else if flags&FlagBias != 0 {
				f = bias[j]
			}
			if kp > 0 {
				f = flushF32(f)
			}
			for t := 0; t < kp; t++ {
				w := b[64*t+2*j : 64*t+2*j+2]
				x := arow[2*t : 2*t+2]
				f = bf16Step(f, x[1], w[1])
				f = bf16Step(f, x[0], w[0])
			}
			crow[j] = f
		}
	}
}

// Tile runs the set's single-panel kernel for an mr-row tile on slices,
// checking the extents it reads and writes: jn ≤ BNR stored columns, b
// must hold kp·64 values.
func (s *BF16Set) Tile(mr, jn, kp int, a []uint16, lda int, b []uint16, c []float32, ldc int, bias []float32, flags int) {
	if kp > 0 {
		_ = a[(mr-1)*lda+2*kp-1]
		_ = b[64*kp-1]
	}
	_ = c[(mr-1)*ldc+jn-1]
	var bp *float32
	if flags&FlagBias != 0 {
		bp = &bias[:jn][0]
	}
	s.M[mr](kp, ptr(a), lda, ptr(b), 0, &c[0], ldc, bp, Mask(jn), flags)
}

// WideTile runs the set's kernel over np = s.Wide[mr].NP full panels, the
// panels bstride values apart in b.
func (s *BF16Set) WideTile(mr, kp int, a []uint16, lda int, b []uint16, bstride int, c []float32, ldc int, bias []float32, flags int) {
	w := s.Wide[mr]
	if kp > 0 {
		_ = a[(mr-1)*lda+2*kp-1]
		_ = b[(w.NP-1)*bstride+64*kp-1]
	}
	_ = c[(mr-1)*ldc+w.NP*BNR-1]
	var bp *float32
	if flags&FlagBias != 0 {
		bp = &bias[:w.NP*BNR][0]
	}
	w.K(kp, ptr(a), lda, ptr(b), 2*bstride, &c[0], ldc, bp, ^uint64(0), flags)
}

// ptr returns the address of x's first element, or nil when x has no
// storage (a product with K = 0 reads nothing).
func ptr(x []uint16) *uint16 {
	if cap(x) == 0 {
		return nil
	}
	return &x[:1][0]
}

// Uint16s returns the storage of a float32 slice as 2·len(f) uint16
// values (bfloat16 scratch rows from float32 pools).
func Uint16s(f []float32) []uint16 {
	if cap(f) == 0 {
		return nil
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&f[:1][0])), 2*len(f))
}
