package tensor

import (
	"fmt"
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/goformer/goformer/tensor/internal/kern"
	"github.com/x448/float16"
)

// bf16Of rounds v to bfloat16 the way VCVTNEPS2BF16 does, written out
// again from the instruction's definition (not kern's): to nearest even,
// denormals to signed zeros, NaN quieted.
func bf16Of(v float32) float64 {
	b := math.Float32bits(v)
	switch {
	case b&0x7f800000 == 0:
		b &= 0x80000000
	case v != v:
		b |= 0x400000
	default:
		b += 0x7fff + (b>>16)&1
	}
	return float64(math.Float32frombits(b &^ 0xffff))
}

// bfStep is one VDPBF16PS lane step from the instruction's definition:
// acc + x·y (x, y bfloat16 values, the product exact) rounded once to
// float32, denormal accumulators read as zero, denormal results flushed.
func bfStep(acc float32, x, y float64) float32 {
	flush := func(f float32) float32 {
		if f != 0 && math.Abs(float64(f)) < 0x1p-126 {
			return float32(math.Copysign(0, float64(f)))
		}
		return f
	}
	return flush(float32(float64(flush(acc)) + x*y))
}

// bfWant computes C = alpha·A·Wᵀ + beta·C (+ bias) the way WeightBF16Dot
// products are defined, straight from the rows (no packing, no blocking,
// no kernels): for each output, f = C (beta) + bias, then for each pair
// of K values the odd one's product, then the even one's (an odd K padded
// with a zero).
func bfWant(m, n, k int, alpha float32, a []float32, lda int, w []float32, beta float32, c []float32, ldc int, bias []float32) []float32 {
	out := slices.Clone(c)
	k2 := (k + 1) &^ 1
	wb := make([][]float64, n)
	for j := range wb {
		wb[j] = make([]float64, k2)
		for p := 0; p < k; p++ {
			wb[j][p] = bf16Of(w[j*k+p])
		}
	}
	ab := make([]float64, k2)
	for i := 0; i < m; i++ {
		for p := 0; p < k; p++ {
			ab[p] = bf16Of(float32(alpha * a[i*lda+p]))
		}
		for j := 0; j < n; j++ {
			var f float32
			if beta != 0 {
				f = out[i*ldc+j]
				if beta != 1 {
					f *= beta
				}
				if bias != nil {
					f += bias[j]
				}
			} else if bias != nil {
				f = bias[j]
			}
			if k > 0 && alpha != 0 {
				for p := 0; p < k2; p += 2 {
					f = bfStep(f, ab[p+1], wb[j][p+1])
					f = bfStep(f, ab[p], wb[j][p])
				}
			}
			out[i*ldc+j] = f
		}
	}
	return out
}

// TestBF16DotGemmExact checks GemmPacked with WeightBF16Dot weights, with
// every kernel set (assembly and pure Go), the wide kernels of few rows,
// and threading, bit for bit against bfWant.
func TestBF16DotGemmExact(t *testing.T) {
	vs := kernelVariants(t, "AVX512-BF16", &bf16Set, kern.BF16Sets(), func(s *kern.BF16Set) string { return s.Name })
	testGemmExact(t, WeightBF16Dot, 15, lowpCases, vs, bfWant)
}

// TestBF16DotAccuracy bounds the rounding error of a product against the
// float64 product of the unrounded operands, and checks that it is the
// error of bfloat16 rounding (well above float32's, so that the type
// cannot silently compute in float32).
func TestBF16DotAccuracy(t *testing.T) {
	testAccuracy(t, WeightBF16Dot, 16, BF16DotKernel(), func(rel, rms float64) error {
		// Gaussian operands: each bfloat16 rounding (at most 2^-8
		// relative) adds ≈ 0.17% rms relative noise per product term,
		// ≈ 0.24% for both.
		if rel > 0.01 || rms > 0.004 {
			return fmt.Errorf("relative error %.5f (rms %.5f) above 0.01 (0.004)", rel, rms)
		}
		if rms < 0.0005 {
			return fmt.Errorf("rms relative error %.5f: not bfloat16 rounding", rms)
		}
		return nil
	})
}

// TestBF16DotPack checks the packed layout and size, the release of
// packed rows, the packing of 16-bit checkpoints without a float32 copy
// (BF16 values kept exactly, F16 rounded like their float32 values), and
// GatherPacked.
func TestBF16DotPack(t *testing.T) {
	r := rand.New(rand.NewSource(17))
	n, k := 45, 515
	w := randSlice(r, n*k)
	w[3] = 1e-39 // denormal: a zero for the products
	p := testPackReleases(t, WeightBF16Dot, w, n, k)
	k2 := (k + 1) &^ 1
	if got, want := p.Bytes(), 2*2*k2*bfNR; got != want {
		t.Fatalf("Bytes() = %d, want %d", got, want)
	}
	for j := 0; j < n; j++ {
		pan, jj := j/bfNR, j%bfNR
		for kk := 0; kk < k2; kk++ {
			got := p.bf[pan*k2*bfNR+kk/2*2*bfNR+2*jj+kk%2]
			want := uint16(0)
			if kk < k {
				want = uint16(math.Float32bits(float32(bf16Of(w[j*k+kk]))) >> 16)
			}
			if got != want {
				t.Fatalf("w[%d][%d]: packed %#x, want %#x", j, kk, got, want)
			}
		}
	}
	g, err := GatherPacked(p, []int{44, 0, 3})
	if err != nil {
		t.Fatal(err)
	}
	for r, j := range []int{44, 0, 3} {
		for kk := 0; kk < k; kk++ {
			if got, want := g.At(r, kk), float32(bf16Of(w[j*k+kk])); got != want {
				t.Fatalf("GatherPacked row %d [%d] = %g, want %g", j, kk, got, want)
			}
		}
	}

	p.Free()
	p.Free() // a second Free does nothing
	if p.bf != nil || p.Bytes() != 0 {
		t.Fatalf("freed weight still holds %d bytes", p.Bytes())
	}

	// 16-bit checkpoints.
	x := MustFromData(randSlice(r, 3*k), 3, k)
	for _, src := range []WeightType{WeightBF16, WeightF16} {
		h := make([]uint16, n*k)
		wide := make([]float32, n*k)
		for i, v := range w {
			if src == WeightBF16 {
				h[i] = uint16(math.Float32bits(v) >> 16)
			} else {
				h[i] = float16.Fromfloat32(v).Bits()
			}
		}
		h[7] = 0x0001 // a denormal of either type
		WidenHalf(wide, h, src)
		var hreleased int
		ph, err := PackWeightHalfAs(h, src, n, k, WeightBF16Dot, func(rows []uint16) { hreleased += len(rows) })
		if err != nil {
			t.Fatal(err)
		}
		if hreleased != n*k || ph.Type() != WeightBF16Dot {
			t.Fatalf("%v: released %d values, type %v", src, hreleased, ph.Type())
		}
		pw := mustP(PackWeightAs(MustFromData(wide, n, k), WeightBF16Dot))
		// A BF16 value rounds to itself (denormals to zero): the panels
		// are those of the widened weight.
		if !slices.Equal(ph.bf, pw.bf) {
			t.Fatalf("%v checkpoint: panels differ from those of the widened weight", src)
		}
		a, b := mustT(LinearPacked(x, pw, nil)).Data(), mustT(LinearPacked(x, ph, nil)).Data()
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				t.Fatalf("%v checkpoint: LinearPacked[%d] = %g, want %g", src, i, b[i], a[i])
			}
		}
	}
}

// TestBF16DotLinearAct checks the fused activation and accumulation entry
// points with a WeightBF16Dot weight against their unfused form, and the
// checking device against the host, bit for bit.
func TestBF16DotLinearAct(t *testing.T) {
	c := testLinearAct(t, WeightBF16Dot, 18, 20, 70, 301)
	// Accumulating starts each chain from C + bias: the same bits as
	// computing C + bias first and adding the chain of the products.
	want := bfWant(c.m, c.n, c.k, 1, c.x.Data(), c.k, c.w.Data(), 1, c.base, c.n, c.bias.Data())
	for i, v := range c.dst.Data() {
		if math.Float32bits(v) != math.Float32bits(want[i]) {
			t.Fatalf("add[%d] = %g, want %g", i, v, want[i])
		}
	}

	d := NewCheckingDevice()
	dp := mustP(PackWeightAs(d.MustUpload(c.w), WeightBF16Dot))
	if dp.Device() != d || dp.Type() != WeightBF16Dot {
		t.Fatalf("packed on %v as %v", dp.Device(), dp.Type())
	}
	sameBits(t, "LinearPacked on the checking device", c.plain, mustT(LinearPacked(d.MustUpload(c.x), dp, d.MustUpload(c.bias))))
}
