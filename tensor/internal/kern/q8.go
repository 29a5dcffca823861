package kern

import (
	"math"
	"unsafe"
)

// Int8 products (tensor.WeightQ8).
//
// Weights and activations are quantized to symmetric int8 in blocks of
// Q8Block values along K: a block of n floats x with m = max|x| gets the
// scale s = m/127 and the codes q = round(x·(127/m)) (to nearest even, in
// float32), so x ≈ s·q with |q| ≤ 127; a block with m ≤ 1e-30 (or NaN)
// gets s = 0 and q = 0. A product's block then is the exact integer Σ qa·qw
// scaled by sa·sw.
//
// The VNNI instruction VPDPBUSD multiplies unsigned by signed bytes, so
// weights are stored offset by 128 (u = qw + 128 ∈ [1, 255]) and
// activations stay signed: Σ x·u = Σ x·qw + 128·Σ x, and the correction
// 128·Σ x is one integer per (row, block) of the activations, computed when
// they are quantized (corr), instead of a per-column term.
//
// Packed weight panels hold Q8NR columns: for each quad t of K (4 values)
// the 4 bytes of column 0, then column 1, … (128 bytes per quad), so that a
// 512-bit load gives 16 columns × 4 K values, the VPDPBUSD lane layout.

// Q8Block is the number of K values sharing one scale (weights per output
// column, activations per row).
const Q8Block = 256

// Q8NR is the number of columns of a packed int8 panel.
const Q8NR = 32

// q8Tiny is the largest block maximum quantized as all zeros (127/m must
// stay finite).
const q8Tiny = float32(1e-30)

// Q8Kernel computes an mr×Q8NR tile of C from one K block:
//
//	f[i][j] = float32(float32(float32(Σ_t Σ_r a[i·lda+4t+r]·b[128t+4j+r] − corr[i·ss])·sw[j])·sa[i·ss])
//
// over kq quads t (a signed, b unsigned bytes), then f += bias[j] when
// flags&FlagBias, then f += C[i][j] when flags&FlagBeta, and C[i][j] = f for
// the columns set in mask. sw holds Q8NR scales (padded); sa and corr are
// read ss elements apart per row.
type Q8Kernel func(kq int, a *byte, lda int, b *byte, c *float32, ldc int, sa *float32, corr *int32, ss int, sw *float32, bias *float32, mask uint64, flags int)

// Q8WideKernel computes one row of C over np full int8 panels of one K
// block at once (np·Q8NR columns; see Q8Set.M1Wide): a is the row's kq
// quads, b the first panel's block (the other panels pstride bytes apart),
// sw the first panel's Q8NR scales of the block (the other panels'
// swstride bytes apart), sa and corr the row's scale and correction for
// the block, c and bias (when flags has FlagBias) the np·Q8NR columns. It
// computes what np calls of a one-row Q8Kernel compute, to the bit.
type Q8WideKernel func(kq int, a *byte, b *byte, pstride int, c *float32, sa *float32, corr *int32, sw *float32, swstride int, bias *float32, flags int)

// Q8Set is a family of int8 kernels for one instruction set.
type Q8Set struct {
	// Name identifies the set ("avx512vnni", "avx2").
	Name string
	// Masked reports whether the kernels honour the column mask; otherwise
	// they need full tiles (callers compute partial ones into a scratch
	// tile with flags 0 and finish them as Q8Tile does).
	Masked bool
	// MR is the tile height; M[mr] computes mr rows, 1 ≤ mr ≤ MR.
	MR int
	M  []Q8Kernel
	// M1Wide[np], when set, computes one row over np panels at once
	// (decoding's one-row products stream several panels side by side).
	M1Wide [9]Q8WideKernel
}

var q8sets []*Q8Set

// quantQ8 is the assembly quantizer (nil where there is none).
var quantQ8 func(x *float32, n int, q *byte, sa *float32, corr *int32, qk int)

// Q8Sets returns the int8 kernel sets this CPU can run, best first (empty
// where there are none: the pure-Go Q8Tile then computes the products).
func Q8Sets() []*Q8Set { return q8sets }

// BestQ8 returns the fastest int8 kernel set for this CPU, or nil.
func BestQ8() *Q8Set {
	if len(q8sets) == 0 {
		return nil
	}
	return q8sets[0]
}

// QuantQ8 quantizes x in blocks of Q8Block (see above): q[i] gets the code
// of x[i], sa[b] the scale of block b and corr[b] 128·Σ of its codes. q must
// hold len(x) bytes and sa, corr one entry per block. It uses the assembly
// quantizer where there is one; the result is that of QuantQ8Go exactly.
func QuantQ8(x []float32, q []byte, sa []float32, corr []int32) {
	nb := (len(x) + Q8Block - 1) / Q8Block
	if len(x) == 0 {
		return
	}
	_, _, _ = q[len(x)-1], sa[nb-1], corr[nb-1]
	if quantQ8 != nil {
		quantQ8(&x[0], len(x), &q[0], &sa[0], &corr[0], Q8Block)
		return
	}
	QuantQ8Go(x, q, sa, corr)
}

// QuantQ8Go is the portable reference of QuantQ8.
func QuantQ8Go(x []float32, q []byte, sa []float32, corr []int32) {
	for b := 0; b*Q8Block < len(x); b++ {
		blk := x[b*Q8Block : min(len(x), (b+1)*Q8Block)]
		var m float32
		for _, v := range blk {
			m = max(m, math.Float32frombits(math.Float32bits(v)&0x7fffffff))
		}
		var inv, s float32
		if m > q8Tiny {
			inv = 127 / m
			s = m / 127
		}
		sa[b] = s
		var sum int32
		out := q[b*Q8Block:]
		for i, v := range blk {
			c := int32(math.RoundToEven(float64(v * inv)))
			c = max(-127, min(127, c))
			out[i] = byte(int8(c))
			sum += c
		}
		corr[b] = sum << 7
	}
}

// Q8Tile is the portable reference of a Q8Kernel call for an mr-row tile of
// which the first jn columns are stored (the others are neither read nor
// written): slices start where the kernel's pointers point. It computes the
// integer sums directly (Σ a·(b−128)), which equals the kernels' Σ a·b −
// corr.
func Q8Tile(mr, jn, kq int, a []byte, lda int, b []byte, c []float32, ldc int, sa []float32, ss int, sw, bias []float32, flags int) {
	for i := 0; i < mr; i++ {
		arow := a[i*lda : i*lda+4*kq]
		crow := c[i*ldc : i*ldc+jn]
		for j := range crow {
			var d int32
			for t := 0; t < kq; t++ {
				bq := b[128*t+4*j : 128*t+4*j+4]
				aq := arow[4*t : 4*t+4]
				d += int32(int8(aq[0]))*(int32(bq[0])-128) + int32(int8(aq[1]))*(int32(bq[1])-128) +
					int32(int8(aq[2]))*(int32(bq[2])-128) + int32(int8(aq[3]))*(int32(bq[3])-128)
			}
			f := float32(float32(float32(d)*sw[j]) * sa[i*ss])
			if flags&FlagBias != 0 {
				f = float32(f + bias[j])
			}
			if flags&FlagBeta != 0 {
				f = float32(f + crow[j])
			}
			crow[j] = f
		}
	}
}

// Tile runs the set's kernel for an mr-row tile on slices, checking the
// extents it reads and writes: jn ≤ Q8NR stored columns (exactly Q8NR for
// a set without masks), b must hold kq·128 bytes and sw Q8NR scales.
func (s *Q8Set) Tile(mr, jn, kq int, a []byte, lda int, b []byte, c []float32, ldc int, sa []float32, corr []int32, ss int, sw, bias []float32, flags int) {
	if !s.Masked && jn != Q8NR {
		panic("kern: partial tile for an int8 kernel set without masks")
	}
	_ = a[(mr-1)*lda+4*kq-1]
	_ = b[128*kq-1]
	_ = c[(mr-1)*ldc+jn-1]
	_, _ = sa[(mr-1)*ss], corr[(mr-1)*ss]
	_ = sw[Q8NR-1]
	var bp *float32
	if flags&FlagBias != 0 {
		bp = &bias[:jn][0]
	}
	s.M[mr](kq, &a[0], lda, &b[0], &c[0], ldc, &sa[0], &corr[0], ss, &sw[0], bp, Mask(jn), flags)
}

// Bytes returns the bytes of a float32 slice's storage (for scratch buffers
// from float32 pools).
func Bytes(f []float32) []byte {
	if cap(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[:1][0])), 4*len(f))
}

// Int32s returns the storage of a float32 slice as int32 values.
func Int32s(f []float32) []int32 {
	if cap(f) == 0 {
		return nil
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(&f[:1][0])), len(f))
}
