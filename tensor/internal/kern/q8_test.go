package kern

import (
	"math"
	"math/rand"
	"slices"
	"testing"
)

func TestQuantQ8Exact(t *testing.T) {
	if quantQ8 == nil {
		t.Skip("skipping: missing CPU instruction: this CPU has no AVX-512, so the assembly int8 quantizer cannot run (QuantQ8Go, which it replaces, is tested by TestQuantQ8Go)")
	}
	r := rand.New(rand.NewSource(1))
	for _, n := range []int{1, 3, 15, 16, 17, 100, 255, 256, 257, 511, 512, 700, 2048, 2051} {
		for trial := 0; trial < 4; trial++ {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(r.NormFloat64()) * float32(math.Pow(10, float64(r.Intn(7)-3)))
			}
			switch trial {
			case 1: // a zero block and a tiny one
				clear(x[:min(n, Q8Block)])
				if n > Q8Block {
					for i := Q8Block; i < min(n, 2*Q8Block); i++ {
						x[i] *= 1e-32
					}
				}
			case 2: // halves: ties of the rounding
				for i := range x {
					x[i] = float32(r.Intn(509)-254) / 2
				}
			}
			nb := (n + Q8Block - 1) / Q8Block
			q1, q2 := make([]byte, n+1), make([]byte, n+1)
			q1[n], q2[n] = 0x55, 0x55
			sa1, sa2 := make([]float32, nb), make([]float32, nb)
			c1, c2 := make([]int32, nb), make([]int32, nb)
			QuantQ8(x, q1, sa1, c1)
			QuantQ8Go(x, q2, sa2, c2)
			if !slices.Equal(q1, q2) || !slices.Equal(c1, c2) {
				t.Fatalf("n=%d trial %d: assembly codes differ from QuantQ8Go", n, trial)
			}
			for b := range sa1 {
				if math.Float32bits(sa1[b]) != math.Float32bits(sa2[b]) {
					t.Fatalf("n=%d trial %d block %d: scale %g, want %g", n, trial, b, sa1[b], sa2[b])
				}
			}
		}
	}
}

func TestQuantQ8Go(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	x := make([]float32, 600)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	clear(x[256:512])
	q := make([]byte, len(x))
	sa, corr := make([]float32, 3), make([]int32, 3)
	QuantQ8Go(x, q, sa, corr)
	if sa[1] != 0 || corr[1] != 0 {
		t.Fatalf("zero block: scale %g, corr %d", sa[1], corr[1])
	}
	for b := 0; b < 3; b++ {
		var sum int32
		for i := b * Q8Block; i < min(len(x), (b+1)*Q8Block); i++ {
			c := int8(q[i])
			if c < -127 {
				t.Fatalf("code %d out of range", c)
			}
			sum += int32(c)
			if d := math.Abs(float64(x[i]) - float64(sa[b])*float64(c)); d > float64(sa[b])*0.5001 {
				t.Fatalf("x[%d] = %g quantized to %d·%g (error %g)", i, x[i], c, sa[b], d)
			}
		}
		if corr[b] != 128*sum {
			t.Fatalf("block %d: corr %d, want %d", b, corr[b], 128*sum)
		}
	}
}

// TestQ8KernelsExact checks every assembly int8 kernel against Q8Tile bit
// for bit: all row counts, partial column masks, odd quad counts and all
// flag combinations.
func TestQ8KernelsExact(t *testing.T) {
	if len(q8sets) == 0 {
		t.Skip("skipping: missing CPU instruction: this CPU has neither AVX512-VNNI nor AVX2, so the int8 assembly kernels cannot run (the pure-Go Q8Tile, tested everywhere, computes the products)")
	}
	r := rand.New(rand.NewSource(3))
	for _, s := range q8sets {
		for mr := 1; mr <= s.MR; mr++ {
			for _, kq := range []int{1, 3, 4, 5, 17, 64} {
				for _, jn := range []int{32, 31, 17, 16, 1} {
					if !s.Masked && jn != Q8NR {
						continue
					}
					for flags := 0; flags < 4; flags++ {
						lda := 4*kq + 4*r.Intn(3)
						ldc := 40
						ss := 3
						a := make([]byte, mr*lda)
						for i := range a {
							a[i] = byte(r.Intn(255) - 127)
						}
						b := make([]byte, 128*kq)
						for i := range b {
							b[i] = byte(1 + r.Intn(255))
						}
						sa := make([]float32, mr*ss)
						corr := make([]int32, mr*ss)
						for i := 0; i < mr; i++ {
							sa[i*ss] = r.Float32() * 0.01
							var sum int32
							for p := 0; p < 4*kq; p++ {
								sum += int32(int8(a[i*lda+p]))
							}
							corr[i*ss] = 128 * sum
						}
						sw := make([]float32, Q8NR)
						for j := range sw {
							sw[j] = r.Float32() * 0.02
						}
						bias := make([]float32, Q8NR)
						for j := range bias {
							bias[j] = float32(r.NormFloat64())
						}
						c0 := make([]float32, mr*ldc)
						for i := range c0 {
							c0[i] = float32(r.NormFloat64())
						}
						got, want := slices.Clone(c0), slices.Clone(c0)
						s.Tile(mr, jn, kq, a, lda, b, got, ldc, sa, corr, ss, sw, bias, flags)
						Q8Tile(mr, jn, kq, a, lda, b, want, ldc, sa, ss, sw, bias, flags)
						for i := range got {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s mr=%d kq=%d jn=%d flags=%d: C[%d] = %g, want %g", s.Name, mr, kq, jn, flags, i, got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}

// TestQ8Extremes drives the integer sums to their largest magnitudes
// (codes ±127 against weights 1 and 255) over a long block.
func TestQ8Extremes(t *testing.T) {
	if len(q8sets) == 0 {
		t.Skip("skipping: missing CPU instruction: this CPU has neither AVX512-VNNI nor AVX2, so the int8 assembly kernels under test cannot run (the pure-Go path is tested everywhere)")
	}
	for _, s := range q8sets {
		q8Extremes(t, s)
	}
}

func q8Extremes(t *testing.T, s *Q8Set) {
	kq := Q8Block / 4
	for _, av := range []int8{127, -127} {
		for _, bv := range []byte{1, 255} {
			a := make([]byte, 4*kq)
			for i := range a {
				a[i] = byte(av)
			}
			b := make([]byte, 128*kq)
			for i := range b {
				b[i] = bv
			}
			sa, corr := []float32{1}, []int32{128 * int32(av) * int32(4*kq)}
			sw := make([]float32, Q8NR)
			for j := range sw {
				sw[j] = 1
			}
			got, want := make([]float32, Q8NR), make([]float32, Q8NR)
			s.Tile(1, Q8NR, kq, a, 4*kq, b, got, Q8NR, sa, corr, 1, sw, nil, 0)
			Q8Tile(1, Q8NR, kq, a, 4*kq, b, want, Q8NR, sa, 1, sw, nil, 0)
			exact := float32(int32(av) * (int32(bv) - 128) * int32(4*kq))
			if !slices.Equal(got, want) || want[0] != exact {
				t.Fatalf("%s a=%d b=%d: got %g, reference %g, want %g", s.Name, av, bv, got[0], want[0], exact)
			}
		}
	}
}

// TestQ8Wide checks the wide one-row int8 kernels bit for bit against
// np calls of the set's one-row kernel, for every flag combination and
// block lengths around the unrolling.
func TestQ8Wide(t *testing.T) {
	tested := false
	r := rand.New(rand.NewSource(3))
	for _, s := range Q8Sets() {
		for np, wide := range s.M1Wide {
			if wide == nil {
				continue
			}
			tested = true
			for _, kq := range []int{1, 3, 4, 5, 17, 64} {
				for flags := 0; flags < 4; flags++ {
					pstride := 128*kq + 64*r.Intn(3) // panels need not be adjacent
					a := make([]byte, 4*kq)
					b := make([]byte, pstride*np)
					for i := range a {
						a[i] = byte(r.Intn(255) - 127)
					}
					for i := range b {
						b[i] = byte(r.Intn(256))
					}
					swstride := Q8NR + 16*r.Intn(3)
					sw := make([]float32, swstride*np)
					for i := range sw {
						sw[i] = float32(r.NormFloat64()) * 1e-2
					}
					sa := []float32{float32(r.Float64()) * 0.1}
					corr := []int32{int32(r.Intn(1 << 16))}
					bias := make([]float32, Q8NR*np)
					c0 := make([]float32, Q8NR*np)
					for i := range bias {
						bias[i], c0[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
					}
					want, got := slices.Clone(c0), slices.Clone(c0)
					for p := 0; p < np; p++ {
						s.M[1](kq, &a[0], 4*kq, &b[p*pstride], &want[p*Q8NR], Q8NR, &sa[0], &corr[0], 1, &sw[p*swstride], &bias[p*Q8NR], Mask(Q8NR), flags)
					}
					wide(kq, &a[0], &b[0], pstride, &got[0], &sa[0], &corr[0], &sw[0], 4*swstride, &bias[0], flags)
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s M1Wide[%d], kq %d, flags %d: column %d = %v, want %v", s.Name, np, kq, flags, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
	if !tested {
		t.Skip("skipping: missing CPU instruction: no wide one-row int8 kernel on this CPU (AVX512-VNNI); the one-row kernels they replace are tested by the Q8 tests")
	}
}
