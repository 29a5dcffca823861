package jpeg

import (
	"math/rand/v2"
	"testing"
)

// idctReference is the SIMD arithmetic straight from idct1D, without
// idctBlock's shortcuts.
func idctReference(in *[64]int16, mult *[64]int16) (out [64]byte) {
	var ws [64]int16
	acZero := true
	for _, v := range in[8:] {
		if v != 0 {
			acZero = false
		}
	}
	for c := 0; c < 8; c++ {
		if acZero {
			v := (in[c] * mult[c]) << pass1Bits
			for r := 0; r < 8; r++ {
				ws[8*r+c] = v
			}
			continue
		}
		o := [8]int32{}
		o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7] = idct1D(
			in[c]*mult[c], in[8+c]*mult[8+c], in[16+c]*mult[16+c], in[24+c]*mult[24+c],
			in[32+c]*mult[32+c], in[40+c]*mult[40+c], in[48+c]*mult[48+c], in[56+c]*mult[56+c],
			constBits-pass1Bits)
		for r := 0; r < 8; r++ {
			ws[8*r+c] = sat16(o[r])
		}
	}
	for r := 0; r < 8; r++ {
		w := ws[8*r : 8*r+8]
		o := [8]int32{}
		o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7] = idct1D(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], constBits+pass1Bits+3)
		for c := 0; c < 8; c++ {
			out[8*r+c] = sample(int32(sat16(o[c])))
		}
	}
	return out
}

// TestIDCTShortcuts checks idctBlock against the plain SIMD arithmetic on
// random blocks from sparse to dense and from tiny to overflowing values.
func TestIDCTShortcuts(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var ws [64]int16
	out := make([]byte, 8*8)
	for it := 0; it < 20000; it++ {
		var in, mult [64]int16
		density := rng.IntN(64)
		scale := []int{2, 50, 1000, 40000}[rng.IntN(4)]
		for i := range in {
			mult[i] = int16(1 + rng.IntN(255))
			if rng.IntN(64) < density || i == 0 {
				in[i] = int16(rng.IntN(2*scale+1) - scale)
			}
		}
		if it%4 == 0 {
			for i := range mult {
				mult[i] = int16(rng.IntN(65536) - 32768)
			}
		}
		idctBlock(&in, &mult, out, 8, &ws)
		want := idctReference(&in, &mult)
		for i := range want {
			if out[i] != want[i] {
				t.Fatalf("block %d: sample %d = %d, want %d", it, i, out[i], want[i])
			}
		}
	}
}
