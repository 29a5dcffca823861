//go:build amd64 && !purego

package kern

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/x448/float16"
	"golang.org/x/sys/cpu"
)

func needAVX512(t *testing.T) {
	if !cpu.X86.HasAVX512F || !cpu.X86.HasAVX512DQ {
		t.Skip("skipping: missing CPU instruction: this CPU has no AVX-512, so the AVX-512 kernels under test cannot run (the AVX2 and Go paths are tested elsewhere)")
	}
}

func TestVecMath512(t *testing.T) {
	needAVX512(t)
	r := rand.New(rand.NewSource(1))
	for _, n := range []int{0, 1, 5, 15, 16, 17, 63, 64, 65, 200, 1500} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 4)
		}
		// reductions
		mx, sum, sq := math.Inf(-1), 0.0, 0.0
		for _, v := range x {
			mx = math.Max(mx, float64(v))
			sum += float64(v)
		}
		for _, v := range x {
			sq += (float64(v) - 0.25) * (float64(v) - 0.25)
		}
		if got := Max512(x); float64(got) != mx {
			t.Fatalf("Max512 n=%d: %g want %g", n, got, mx)
		}
		if got := Sum512(x); math.Abs(float64(got)-sum) > 1e-5*(1+math.Abs(sum)+float64(n)) {
			t.Fatalf("Sum512 n=%d: %g want %g", n, got, sum)
		}
		if got := SqDev512(x, 0.25); math.Abs(float64(got)-sq) > 1e-6*(1+sq) {
			t.Fatalf("SqDev512 n=%d: %g want %g", n, got, sq)
		}
		// exp-sum
		y := append([]float32(nil), x...)
		var es float64
		for _, v := range x {
			es += math.Exp(float64(v - 3))
		}
		if got := ExpSum512(y, 3); math.Abs(float64(got)-es) > 1e-6*es {
			t.Fatalf("ExpSum512 n=%d: %g want %g", n, got, es)
		}
		for i, v := range x {
			if w := math.Exp(float64(v - 3)); math.Abs(float64(y[i])-w) > 2e-7*w {
				t.Fatalf("ExpSum512 exp(%g) = %g want %g", v-3, y[i], w)
			}
		}
		check := func(name string, f func([]float32), ref func(float64) float64, tol float64) {
			y := append([]float32(nil), x...)
			f(y)
			for i, v := range x {
				w := ref(float64(v))
				if d := math.Abs(float64(y[i]) - w); d > tol*math.Max(1, math.Abs(w)) {
					t.Fatalf("%s(%g) = %g want %g (diff %g)", name, v, y[i], w, d)
				}
			}
		}
		check("GeluErf512", GeluErf512, func(v float64) float64 { return 0.5 * v * (1 + math.Erf(v/math.Sqrt2)) }, 3e-7)
		check("GeluTanh512", GeluTanh512, func(v float64) float64 {
			return 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
		}, 3e-7)
		check("QuickGelu", func(y []float32) { SigmoidMul512(y, 1.702) }, func(v float64) float64 { return v / (1 + math.Exp(-1.702*v)) }, 3e-7)
		check("Exp512", Exp512, math.Exp, 3e-7)
		check("Scale512", func(y []float32) { Scale512(y, 3) }, func(v float64) float64 { return 3 * v }, 1e-7)
		// norm and add
		w := make([]float32, n)
		b := make([]float32, n)
		for i := range w {
			w[i], b[i] = r.Float32(), r.Float32()
		}
		y = append([]float32(nil), x...)
		Norm512(y, w, b, 0.5, 2)
		for i, v := range x {
			want := (float64(v)-0.5)*2*float64(w[i]) + float64(b[i])
			if math.Abs(float64(y[i])-want) > 1e-5*(1+math.Abs(want)) {
				t.Fatalf("Norm512 n=%d i=%d: %g want %g", n, i, y[i], want)
			}
		}
		y = append([]float32(nil), x...)
		Add512(y, w)
		for i, v := range x {
			if y[i] != v+w[i] {
				t.Fatalf("Add512")
			}
		}
	}
	// special values
	x := []float32{float32(math.Inf(-1)), -1e9, -200, 0, 200, float32(math.Inf(1))}
	Exp512(x)
	want := []float32{0, 0, 0, 1, float32(math.Inf(1)), float32(math.Inf(1))}
	for i := range x {
		if x[i] != want[i] && !(i == 4 && x[i] > 1e38) {
			t.Fatalf("Exp512 special %d: %g want %g", i, x[i], want[i])
		}
	}
	g := []float32{float32(math.Inf(-1)), -1e6, -30, 30, 1e6}
	GeluErf512(g)
	if g[1] != 0 || g[2] != 0 || g[3] != 30 || g[4] != 1e6 {
		t.Fatalf("GeluErf512 extremes: %v", g)
	}
	q := []float32{-1e6, -100, 100, 1e6}
	SigmoidMul512(q, 1.702)
	if math.Abs(float64(q[0])) > 1e-20 || math.Abs(float64(q[1])) > 1e-20 || q[2] != 100 || q[3] != 1e6 {
		t.Fatalf("SigmoidMul512 extremes: %v", q)
	}
}

// TestVecMathSweep checks the transcendental kernels on a dense grid.
func TestVecMathSweep(t *testing.T) {
	needAVX512(t)
	var x []float32
	for v := -12.0; v <= 12; v += 0.00173 {
		x = append(x, float32(v))
	}
	cases := []struct {
		name string
		f    func([]float32)
		ref  func(float64) float64
		tol  float64
	}{
		{"GeluErf512", GeluErf512, func(v float64) float64 { return 0.5 * v * (1 + math.Erf(v/math.Sqrt2)) }, 2.5e-7},
		{"GeluTanh512", GeluTanh512, func(v float64) float64 {
			return 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
		}, 2.5e-7},
		{"QuickGelu", func(y []float32) { SigmoidMul512(y, 1.702) }, func(v float64) float64 { return v / (1 + math.Exp(-1.702*v)) }, 2.5e-7},
		{"Exp512", Exp512, math.Exp, 2.5e-7},
	}
	for _, c := range cases {
		y := append([]float32(nil), x...)
		c.f(y)
		var worst float64
		for i, v := range x {
			w := c.ref(float64(v))
			d := math.Abs(float64(y[i])-w) / math.Max(1, math.Abs(w))
			if c.name == "Exp512" {
				d = math.Abs(float64(y[i])-w) / w
			}
			worst = math.Max(worst, d)
		}
		if worst > c.tol {
			t.Errorf("%s: worst error %g > %g", c.name, worst, c.tol)
		}
		t.Logf("%s: worst scaled error %.3g", c.name, worst)
	}
}

// randStrided returns a vector x of k values and n rows of k values, ld
// apart, in w; all uniform in [−0.5, 0.5), drawn x first.
func randStrided(r *rand.Rand, k, n, ld int) (x, w []float32) {
	x = make([]float32, k)
	w = make([]float32, (n-1)*ld+k)
	for i := range x {
		x[i] = r.Float32() - 0.5
	}
	for i := range w {
		w[i] = r.Float32() - 0.5
	}
	return x, w
}

// checkDots fails t unless each out[j] is scale·(x · row j of w, rows ld
// apart) within tol of the float64 product.
func checkDots(t *testing.T, what string, x, w []float32, ld int, scale float64, out []float32, tol float64) {
	t.Helper()
	for j := range out {
		var s float64
		for p := range x {
			s += float64(x[p]) * float64(w[j*ld+p])
		}
		if math.Abs(scale*s-float64(out[j])) > tol {
			t.Fatalf("%s j=%d: %g want %g", what, j, out[j], scale*s)
		}
	}
}

func TestVecDots(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for _, d := range []int{16, 48, 64, 128, 20} {
		for _, n := range []int{1, 7, 100} {
			ldk := d + 3
			q, k := randStrided(r, d, n, ldk)
			out := make([]float32, n)
			VecDots(q, k, ldk, 0.5, out)
			checkDots(t, fmt.Sprintf("VecDots d=%d n=%d", d, n), q, k, ldk, 0.5, out, 1e-5)
		}
	}
}

func TestWidenAll(t *testing.T) {
	needAVX512(t)
	src := make([]uint16, 1<<16+5)
	for i := range src {
		src[i] = uint16(i)
	}
	got := make([]float32, len(src))
	F16ToF32x512(got, src)
	for i, h := range src {
		w := float16.Frombits(h).Float32()
		if math.Float32bits(got[i]) != math.Float32bits(w) && !(w != w && got[i] != got[i]) {
			t.Fatalf("F16 %#x: %g want %g", h, got[i], w)
		}
	}
	BF16ToF32x512(got, src)
	for i, h := range src {
		if w := math.Float32frombits(uint32(h) << 16); math.Float32bits(got[i]) != math.Float32bits(w) {
			t.Fatalf("BF16 %#x: %g want %g", h, got[i], w)
		}
	}
	// Narrowing round-trips every representable value.
	back := make([]uint16, len(src))
	NarrowBF16(back, got)
	for i, h := range src {
		if back[i] != h && got[i] == got[i] {
			t.Fatalf("BF16 round trip %#x -> %#x", h, back[i])
		}
	}
}

func TestVecDotRows(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, k := range []int{1, 15, 16, 17, 100, 768} {
		for _, n := range []int{1, 3, 4, 5, 9} {
			ldw := k + 5
			x, w := randStrided(r, k, n, ldw)
			out := make([]float32, n)
			VecDotRows(x, w, ldw, 2, out)
			checkDots(t, fmt.Sprintf("VecDotRows k=%d n=%d", k, n), x, w, ldw, 2, out, 1e-5*(1+math.Sqrt(float64(k))))
			if d := VecDot(x, w); math.Abs(float64(d)-float64(out[0])/2) > 1e-5*(1+math.Sqrt(float64(k))) {
				t.Fatalf("VecDot k=%d: %g want %g", k, d, out[0]/2)
			}
		}
	}
}
