package kern

import (
	"math"
	"math/rand"
	"slices"
	"testing"
)

const noBF16 = "skipping: missing CPU instruction: this CPU lacks AVX512-BF16 (VDPBF16PS, VCVTNEPS2BF16), so the assembly kernels under test cannot run (the pure-Go BF16Tile and RoundBF16Go, which compute the same bits, are tested everywhere)"

// randBF16 returns a bfloat16 value of a Gaussian of magnitude 2^±spread.
func randBF16(r *rand.Rand, spread int) uint16 {
	f := float32(r.NormFloat64() * math.Pow(2, float64(r.Intn(2*spread+1)-spread)))
	return BF16Of(f)
}

// sameBits reports whether x and y are the same float32 (any NaN matching
// any NaN: payloads are not specified).
func sameBits(x, y float32) bool {
	return math.Float32bits(x) == math.Float32bits(y) || (x != x && y != y)
}

// TestBF16Step checks the reference against values computed by hand: the
// order of the pair's two steps, their separate roundings, and the
// denormal rules.
func TestBF16Step(t *testing.T) {
	one, eps := BF16Of(1), BF16Of(0x1p-7) // 1 + 2^-7 is a bfloat16; 2^-24 products are not
	small := BF16Of(0x1p-12)
	a := []uint16{small, one} // pair: even (K=2t) small, odd (K=2t+1) 1
	b := []uint16{small, one}
	c := []float32{0x1p23}
	// Odd first: 2^23 + 1 = 2^23+1 exactly; then + 2^-24 rounds away.
	BF16Tile(1, 1, 1, padPanel(a), 2, padPanel(b), c, 1, nil, FlagBeta)
	if c[0] != 0x1p23+1 {
		t.Fatalf("2^23 + 1·1 + 2^-12·2^-12 = %g, want %g", c[0], float32(0x1p23+1))
	}
	// Even-first would differ here: 1 + 2^-7·2^-7 = 1 + 2^-14 (exact in
	// float32), then + (−1)·1 = 2^-14; odd first gives (1 − 1) + 2^-14.
	a = []uint16{eps, one ^ 0x8000}
	b = []uint16{eps, one}
	c = []float32{1}
	BF16Tile(1, 1, 1, padPanel(a), 2, padPanel(b), c, 1, nil, FlagBeta)
	if c[0] != 0x1p-14 {
		t.Fatalf("1 − 1 + 2^-14 = %g", c[0])
	}
	// Denormal inputs read as zero, denormal results flushed.
	den := uint16(0x0040)
	c = []float32{0}
	BF16Tile(1, 1, 1, padPanel([]uint16{den, 0}), 2, padPanel([]uint16{one, 0}), c, 1, nil, 0)
	if c[0] != 0 {
		t.Fatalf("denormal·1 = %g, want 0", c[0])
	}
	c = []float32{0}
	BF16Tile(1, 1, 1, padPanel([]uint16{0x0080, 0}), 2, padPanel([]uint16{BF16Of(0.5), 0}), c, 1, nil, 0)
	if c[0] != 0 {
		t.Fatalf("2^-126·0.5 = %g, want 0 (flushed)", c[0])
	}
	if BF16Of(1e-39) != 0 || BF16Of(-1e-39) != 0x8000 || BF16Of(float32(math.NaN()))&0x7fc0 != 0x7fc0 {
		t.Fatal("BF16Of: denormals must round to signed zeros, NaN stay NaN")
	}
	if BF16Of(1+0x1p-8) != 0x3f80 || BF16Of(1+3*0x1p-8) != 0x3f82 || BF16Of(math.MaxFloat32) != 0x7f80 {
		t.Fatal("BF16Of: not rounding to nearest even")
	}
}

// padPanel lays one column's pair out as a panel (column 0 of BNR).
func padPanel(pair []uint16) []uint16 {
	p := make([]uint16, 64)
	copy(p, pair)
	return p
}

// TestBF16KernelsExact checks every assembly kernel against BF16Tile bit
// for bit: all row counts, the wide kernels, partial column masks, odd
// pair counts, all flag combinations and magnitudes from 2^-66 to 2^66
// (denormal and flushed products, cancellations).
func TestBF16KernelsExact(t *testing.T) {
	if len(bf16sets) == 0 {
		t.Skip(noBF16)
	}
	r := rand.New(rand.NewSource(3))
	for _, s := range bf16sets {
		for mr := 1; mr <= s.MR; mr++ {
			for _, kp := range []int{0, 1, 3, 4, 5, 17, 64} {
				for _, jn := range []int{32, 31, 17, 16, 1, 0} {
					wide := jn == 0 // the wide kernel of mr, if any
					if wide && s.Wide[mr].NP == 0 {
						continue
					}
					for flags := 0; flags < 4; flags++ {
						spread := []int{0, 8, 40, 66}[r.Intn(4)]
						np := 1
						if wide {
							np = s.Wide[mr].NP
						}
						lda := 2*kp + 2*r.Intn(3)
						ldc := np*BNR + 8
						bstride := 64*kp + 64*r.Intn(2)
						a := make([]uint16, mr*lda+1)
						for i := range a {
							a[i] = randBF16(r, spread)
						}
						b := make([]uint16, (np-1)*bstride+64*kp+1)
						for i := range b {
							b[i] = randBF16(r, spread)
						}
						if r.Intn(3) == 0 && kp > 0 { // cancelling pairs
							for i := 0; i < mr; i++ {
								for t := 0; t < kp; t++ {
									a[i*lda+2*t] = a[i*lda+2*t+1] ^ 0x8000
								}
							}
							for p := 0; p < np; p++ {
								for t := 0; t < kp; t++ {
									for j := 0; j < BNR; j++ {
										b[p*bstride+64*t+2*j] = b[p*bstride+64*t+2*j+1]
									}
								}
							}
						}
						bias := make([]float32, np*BNR)
						for j := range bias {
							bias[j] = float32(r.NormFloat64() * math.Pow(2, float64(r.Intn(2*spread+1)-spread)))
						}
						c0 := make([]float32, mr*ldc)
						for i := range c0 {
							c0[i] = float32(r.NormFloat64() * math.Pow(2, float64(r.Intn(2*spread+1)-spread)))
						}
						got, want := slices.Clone(c0), slices.Clone(c0)
						if wide {
							s.WideTile(mr, kp, a, lda, b, bstride, got, ldc, bias, flags)
							for p := 0; p < np; p++ {
								BF16Tile(mr, BNR, kp, a, lda, b[p*bstride:], want[p*BNR:], ldc, bias[p*BNR:], flags)
							}
						} else {
							s.Tile(mr, jn, kp, a, lda, b, got, ldc, bias, flags)
							BF16Tile(mr, jn, kp, a, lda, b, want, ldc, bias, flags)
						}
						for i := range got {
							if !sameBits(got[i], want[i]) {
								t.Fatalf("%s mr=%d np=%d kp=%d jn=%d flags=%d spread=%d: C[%d] = %g (%#x), want %g (%#x)",
									s.Name, mr, np, kp, jn, flags, spread, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
							}
						}
					}
				}
			}
		}
	}
}

// TestRoundBF16Exact checks the assembly converter against RoundBF16Go on
// every length up to 70 and on random bit patterns (denormals, NaNs,
// infinities, values that overflow when rounded).
func TestRoundBF16Exact(t *testing.T) {
	if roundBF16 == nil {
		t.Skip(noBF16)
	}
	r := rand.New(rand.NewSource(4))
	for n := 0; n <= 70; n++ {
		for _, alpha := range []float32{1, 0.37, -3} {
			x := make([]float32, n)
			for i := range x {
				switch r.Intn(5) {
				case 0:
					x[i] = math.Float32frombits(r.Uint32())
				case 1:
					x[i] = math.Float32frombits(r.Uint32() & 0x807fffff)
				case 2:
					x[i] = math.Float32frombits(0x7f7f8000 + uint32(r.Intn(0x8000)))
				default:
					x[i] = float32(r.NormFloat64())
				}
			}
			got, want := make([]uint16, n+1), make([]uint16, n+1)
			got[n], want[n] = 0x5555, 0x5555
			RoundBF16(got, x, alpha)
			RoundBF16Go(want, x, alpha)
			if !slices.Equal(got, want) {
				t.Fatalf("n=%d alpha=%g: assembly %x, want %x", n, alpha, got, want)
			}
		}
	}
}
