//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/goformer/goformer/tensor"
)

// Parity of every tensor.Backend operation on a CUDA device against the
// host kernels. The measure is normwise: max|got−want| / max|want| over
// the result. Bounds:
//
//   - exact (0): transfers, copies, gathers, concatenation, argmax, the
//     16-bit conversions (both sides round to nearest even);
//   - tolF32 (1e-5): float32 operations without a matrix product
//     (elementwise, activations, softmax, layer norm, convolution
//     columns) — only rounding order and exp/erf differ;
//   - tolGEMM (1e-4): products (MatMul, Linear, LinearPacked with F32 or
//     16-bit weights widened exactly, attention, Conv1d, PatchEmbed):
//     cuBLAS sums in another order than the host's kernels;
//   - tolTC16 (2e-3) and tolTCBF16 (2e-2): Options.TensorCores, where
//     activations are rounded to F16 (11-bit significand) or BF16 (8-bit)
//     before the product.
//
// The tests skip, saying why, where no CUDA device can be opened, unless
// GOFORMER_REQUIRE_CUDA=1 (the device check sets it), where they fail.
const (
	tolF32    = 1e-5
	tolGEMM   = 1e-4
	tolTC16   = 2e-3
	tolTCBF16 = 2e-2
)

var (
	devOnce sync.Once
	dev     *tensor.Device
	devErr  error
)

// device returns the shared test device (cuda:0), skipping or failing the
// test when there is none.
func device(t testing.TB) *tensor.Device {
	t.Helper()
	devOnce.Do(func() { dev, devErr = Open(0) })
	if devErr != nil {
		if os.Getenv("GOFORMER_REQUIRE_CUDA") == "1" {
			t.Fatalf("GOFORMER_REQUIRE_CUDA=1 but no CUDA device: %v", devErr)
		}
		t.Skipf("skipping: missing test hardware: no CUDA device (%v); GOFORMER_REQUIRE_CUDA=1 makes this a failure", devErr)
	}
	return dev
}

func TestMain(m *testing.M) {
	code := m.Run()
	if dev != nil {
		if err := Close(dev); err != nil {
			fmt.Fprintln(os.Stderr, "cuda: Close:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func randT(r *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	d := t.Data()
	for i := range d {
		d[i] = r.Float32()*2 - 1
	}
	return t
}

func must[T any](x T, err error) T {
	if err != nil {
		panic(err)
	}
	return x
}

// noErr fails the test on an error.
func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// up uploads a host tensor to d.
func up(d *tensor.Device, t *tensor.Tensor) *tensor.Tensor { return d.MustUpload(t) }

// compare checks the device result got against the host result want
// within tol (normwise, see the file comment) and logs the measure.
func compare(t *testing.T, what string, want, got *tensor.Tensor, tol float64) {
	t.Helper()
	if got == nil || want == nil {
		t.Fatalf("%s: nil result (want %v, got %v)", what, want, got)
	}
	if got.Device() == nil {
		t.Errorf("%s: result on the host, want on the device", what)
		return
	}
	h, err := tensor.ToHost(got)
	if err != nil {
		t.Fatalf("%s: download: %v", what, err)
	}
	if !tensor.SameShape(want, h) {
		t.Errorf("%s: shape %v, want %v", what, h.Shape(), want.Shape())
		return
	}
	compareData(t, what, want.Data(), h.Data(), tol)
}

func compareData(t *testing.T, what string, want, got []float32, tol float64) {
	t.Helper()
	var diff, scale float64
	for i, w := range want {
		g := got[i]
		wn, gn := math.IsNaN(float64(w)), math.IsNaN(float64(g))
		switch {
		case wn && gn:
			continue
		case wn != gn, math.IsInf(float64(w), 0) && w != g:
			t.Errorf("%s: element %d = %v, want %v", what, i, g, w)
			return
		case math.IsInf(float64(w), 0):
			continue
		}
		diff = max(diff, math.Abs(float64(g)-float64(w)))
		scale = max(scale, math.Abs(float64(w)))
	}
	rel := diff
	if scale > 0 {
		rel = diff / scale
	}
	t.Logf("%-48s max|Δ|/max|want| = %.2e (bound %.0e)", what, rel, tol)
	if rel > tol || (tol == 0 && diff != 0) {
		t.Errorf("%s: max|Δ|/max|want| = %.3e, bound %.0e", what, rel, tol)
	}
}

func TestParity_Transfers(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(1, 1))
	x := randT(r, 3, 5, 7)
	dx := up(d, x)
	compare(t, "Upload/Download", x, dx, 0)
	compare(t, "Upload of a transposed view", x.Transpose(0, 2).Clone(), up(d, x.Transpose(0, 2)), 0)
	compare(t, "Download of a strided view", x.Slice(1, 1, 4).Transpose(0, 1).Clone(), dx.Slice(1, 1, 4).Transpose(0, 1), 0)
	compare(t, "Zeros", tensor.New(4, 1000), d.New(4, 1000), 0)
	compare(t, "Zeros (empty)", tensor.New(0, 3), d.New(0, 3), 0)
	compare(t, "Clone of a permutation", x.Permute(2, 0, 1).Clone(), dx.Permute(2, 0, 1).Clone(), 0)
	compare(t, "Contiguous reshape", must(x.Transpose(1, 2).Reshape(3, 35)), must(dx.Transpose(1, 2).Reshape(3, 35)), 0)
	if tr := d.Transfers(); tr.Uploads == 0 || tr.Downloads == 0 {
		t.Errorf("transfers not counted: %+v", tr)
	}
}

func TestParity_Copy(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(1, 2))
	cache, dcache := randT(r, 2, 8, 16), (*tensor.Tensor)(nil)
	dcache = up(d, cache)
	row := randT(r, 16)
	src, dsrc := mustExpand(row, 2, 3, 16), mustExpand(up(d, row), 2, 3, 16)
	noErr(t, tensor.Copy(cache.Slice(1, 2, 5), src))
	noErr(t, tensor.Copy(dcache.Slice(1, 2, 5), dsrc))
	compare(t, "Copy of a broadcast row into a view", cache, dcache, 0)
	y := randT(r, 16, 8)
	noErr(t, tensor.Copy(cache.Index(1).Slice(0, 0, 8), y.Transpose(0, 1)))
	noErr(t, tensor.Copy(dcache.Index(1).Slice(0, 0, 8), up(d, y).Transpose(0, 1)))
	compare(t, "Copy of a transpose", cache, dcache, 0)
	z := randT(r, 2, 8, 16)
	noErr(t, tensor.Copy(cache, z))
	noErr(t, tensor.Copy(dcache, up(d, z)))
	compare(t, "Copy contiguous", cache, dcache, 0)
}

func TestParity_ConcatPositionGather(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(1, 3))
	a, b := randT(r, 2, 3, 4), randT(r, 2, 5, 4)
	da, db := up(d, a), up(d, b)
	compare(t, "Concat dim 1", must(tensor.Concat(1, a, b)), must(tensor.Concat(1, da, db)), 0)
	compare(t, "Concat dim -1", must(tensor.Concat(-1, a, a.Transpose(1, 2).Transpose(1, 2))), must(tensor.Concat(-1, da, da)), 0)
	compare(t, "Concat dim 0 of views", must(tensor.Concat(0, b.Slice(1, 0, 3), a)), must(tensor.Concat(0, db.Slice(1, 0, 3), da)), 0)
	compare(t, "Position", must(tensor.Position(b, 4)), must(tensor.Position(db, 4)), 0)
	compare(t, "Position of a transpose", must(tensor.Position(b.Transpose(0, 1).Transpose(0, 1), 0)), must(tensor.Position(db.Transpose(0, 1).Transpose(0, 1), 0)), 0)
	idx := []int{1, 0, 1, 1}
	compare(t, "Gather", must(tensor.Gather(b, idx)), must(tensor.Gather(db, idx)), 0)
	compare(t, "Gather of a transposed view", must(tensor.Gather(b.Transpose(0, 1), []int{4, 0, 2})), must(tensor.Gather(db.Transpose(0, 1), []int{4, 0, 2})), 0)
	compare(t, "Gather (none)", must(tensor.Gather(b, nil)), must(tensor.Gather(db, nil)), 0)
	tab := randT(r, 50, 24)
	ids := []int{3, 49, 0, 3}
	compare(t, "Embedding", must(tensor.Embedding(tab, ids)), must(tensor.Embedding(up(d, tab), ids)), 0)
}

func TestParity_Elementwise(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(1, 4))
	for _, c := range []struct{ a, b []int }{
		{[]int{4, 5, 6}, []int{4, 5, 6}},
		{[]int{4, 5, 6}, []int{6}},
		{[]int{4, 1, 6}, []int{5, 1}},
		{[]int{1}, []int{3, 2}},
		{[]int{2, 3, 4, 5, 6}, []int{3, 1, 5, 1}},
	} {
		x, y := randT(r, c.a...), randT(r, c.b...)
		dx, dy := up(d, x), up(d, y)
		for _, op := range []struct {
			name string
			f    func(a, b *tensor.Tensor) (*tensor.Tensor, error)
		}{{"Add", tensor.Add}, {"Sub", tensor.Sub}, {"Mul", tensor.Mul}, {"Div", tensor.Div}} {
			compare(t, fmt.Sprintf("%s %v %v", op.name, c.a, c.b), must(op.f(x, y)), must(op.f(dx, dy)), tolF32)
		}
	}
	x := randT(r, 6, 7)
	dx := up(d, x)
	compare(t, "Add of transposes", must(tensor.Add(x.Transpose(0, 1), x.Transpose(0, 1))), must(tensor.Add(dx.Transpose(0, 1), dx.Transpose(0, 1))), tolF32)
	if _, err := tensor.Add(up(d, randT(r, 3)), up(d, randT(r, 4))); !errors.Is(err, tensor.ErrShape) {
		t.Errorf("Add of unbroadcastable shapes: %v", err)
	}
	y, dy := x.Clone(), dx.Clone()
	noErr(t, tensor.AddInPlace(y, x.Transpose(0, 1).Transpose(0, 1)))
	noErr(t, tensor.AddInPlace(dy, dx))
	compare(t, "AddInPlace", y, dy, tolF32)
	z := randT(r, 7, 6)
	noErr(t, tensor.AddInPlace(y, z.Transpose(0, 1)))
	noErr(t, tensor.AddInPlace(dy, up(d, z).Transpose(0, 1)))
	compare(t, "AddInPlace of a strided operand", y, dy, tolF32)
	for _, c := range []struct{ a, b []int }{{[]int{3, 4, 5}, []int{4, 5}}, {[]int{3, 4, 5}, []int{1, 4, 5}}, {[]int{2, 50, 64}, []int{50, 64}}, {[]int{2, 3}, []int{1, 1, 3}}} {
		a, b := randT(r, c.a...), randT(r, c.b...)
		h, g := a.Clone(), up(d, a)
		noErr(t, tensor.AddInPlace(h, b))
		noErr(t, tensor.AddInPlace(g, up(d, b)))
		compare(t, fmt.Sprintf("AddInPlace broadcast %v += %v", c.a, c.b), h, g, 0)
	}
	pe := randT(r, 4, 6)
	h, g := randT(r, 2, 6, 4), (*tensor.Tensor)(nil)
	g = up(d, h)
	noErr(t, tensor.AddInPlace(h, pe.Transpose(0, 1)))
	noErr(t, tensor.AddInPlace(g, up(d, pe).Transpose(0, 1)))
	compare(t, "AddInPlace broadcast of a strided operand", h, g, 0)
	compare(t, "Scale", tensor.Scale(x, -2.5), tensor.Scale(dx, -2.5), tolF32)
	compare(t, "Scale of a transpose", tensor.Scale(x.Transpose(0, 1), 3), tensor.Scale(dx.Transpose(0, 1), 3), tolF32)
}

func TestParity_Activations(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(1, 5))
	x := randT(r, 3, 1000)
	tensor.MapInPlace(x, func(v float32) float32 { return 6 * v })
	x.Data()[0], x.Data()[1] = 0, float32(math.Copysign(0, -1))
	dx := up(d, x)
	for _, act := range []struct {
		name string
		f    func(float32) float32
	}{
		{"GELUExact", tensor.GELUExact}, {"GELUTanh", tensor.GELUTanh}, {"QuickGELU", tensor.QuickGELU},
		{"ReLU", tensor.ReLU}, {"Tanh", tensor.Tanh}, {"Sigmoid", tensor.Sigmoid}, {"SiLU", tensor.SiLU},
	} {
		// The host's Map uses vectorised kernels for some: compare with
		// the scalar formula, which the device computes.
		want := tensor.New(x.Shape()...)
		for i, v := range x.Data() {
			want.Data()[i] = act.f(v)
		}
		compare(t, "Map "+act.name, want, tensor.Map(dx, act.f), tolF32)
		y := dx.Clone()
		tensor.MapInPlace(y, act.f)
		compare(t, "MapInPlace "+act.name, want, y, tolF32)
	}
	compare(t, "Map of a transpose", tensor.Map(x.Transpose(0, 1), tensor.Tanh), tensor.Map(dx.Transpose(0, 1), tensor.Tanh), tolF32)
}

func TestParity_SoftmaxLayerNorm(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(1, 6))
	for _, w := range []int{1, 7, 64, 1000, 51865} {
		x := randT(r, 3, w)
		tensor.MapInPlace(x, func(v float32) float32 { return 8 * v })
		dx := up(d, x)
		compare(t, fmt.Sprintf("Softmax width %d", w), tensor.Softmax(x), tensor.Softmax(dx), tolF32)
		compare(t, fmt.Sprintf("LogSoftmax width %d", w), tensor.LogSoftmax(x), tensor.LogSoftmax(dx), tolF32)
		y, dy := x.Clone(), dx.Clone()
		tensor.SoftmaxInPlace(y)
		tensor.SoftmaxInPlace(dy)
		compare(t, fmt.Sprintf("SoftmaxInPlace width %d", w), y, dy, tolF32)
		g, b := randT(r, w), randT(r, w)
		dg, db := up(d, g), up(d, b)
		compare(t, fmt.Sprintf("LayerNorm width %d", w), must(tensor.LayerNorm(x, g, b, 1e-5)), must(tensor.LayerNorm(dx, dg, db, 1e-5)), tolF32)
		compare(t, fmt.Sprintf("LayerNorm width %d, no bias", w), must(tensor.LayerNorm(x, g, nil, 1e-6)), must(tensor.LayerNorm(dx, dg, nil, 1e-6)), tolF32)
		compare(t, fmt.Sprintf("LayerNorm width %d, no affine", w), must(tensor.LayerNorm(x, nil, nil, 1e-5)), must(tensor.LayerNorm(dx, nil, nil, 1e-5)), tolF32)
		y, dy = x.Clone(), dx.Clone()
		noErr(t, tensor.LayerNormInPlace(y, g, b, 1e-5))
		noErr(t, tensor.LayerNormInPlace(dy, dg, db, 1e-5))
		compare(t, fmt.Sprintf("LayerNormInPlace width %d", w), y, dy, tolF32)
	}
	// Masks, a fully masked row, a strided input.
	x := randT(r, 2, 4, 9)
	dx := up(d, x)
	mask := tensor.New(2, 1, 9)
	for i := range mask.Data() {
		if i%4 == 3 {
			mask.Data()[i] = float32(math.Inf(-1))
		}
	}
	compare(t, "SoftmaxMasked [2 1 9]", must(tensor.SoftmaxMasked(x, mask)), must(tensor.SoftmaxMasked(dx, up(d, mask))), tolF32)
	full := tensor.New(9)
	for i := range full.Data() {
		full.Data()[i] = float32(math.Inf(-1))
	}
	compare(t, "Softmax of -Inf rows", must(tensor.SoftmaxMasked(x, full)), must(tensor.SoftmaxMasked(dx, up(d, full))), 0)
	compare(t, "Softmax of a transpose", tensor.Softmax(x.Transpose(1, 2)), tensor.Softmax(dx.Transpose(1, 2)), tolF32)
	compare(t, "LayerNorm of a transpose", must(tensor.LayerNorm(x.Transpose(1, 2), nil, nil, 1e-5)), must(tensor.LayerNorm(dx.Transpose(1, 2), nil, nil, 1e-5)), tolF32)
	if _, err := tensor.LayerNorm(dx, up(d, randT(r, 8)), nil, 1e-5); !errors.Is(err, tensor.ErrShape) {
		t.Errorf("LayerNorm with a weight of the wrong size: %v", err)
	}
}

func TestParity_ArgmaxRows(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(1, 7))
	x := randT(r, 5, 3000)
	xd := x.Data()
	xd[10], xd[20] = 5, 5 // tie: the first wins
	xd[3000] = float32(math.NaN())
	for i := 2 * 3000; i < 3*3000; i++ {
		xd[i] = float32(math.NaN())
	}
	xd[4*3000+2999] = 9
	want := tensor.ArgmaxRows(x)
	got := tensor.ArgmaxRows(up(d, x))
	if fmt.Sprint(want) != fmt.Sprint(got) {
		t.Fatalf("ArgmaxRows = %v, want %v", got, want)
	}
	t.Logf("ArgmaxRows %v", got)
	y := randT(r, 7, 3)
	if w, g := tensor.ArgmaxRows(y.Transpose(0, 1)), tensor.ArgmaxRows(up(d, y).Transpose(0, 1)); fmt.Sprint(w) != fmt.Sprint(g) {
		t.Fatalf("ArgmaxRows of a transpose = %v, want %v", g, w)
	}
}

func TestParity_MatMulLinear(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(1, 8))
	a, b := randT(r, 2, 3, 17, 33), randT(r, 2, 3, 33, 9)
	da, db := up(d, a), up(d, b)
	compare(t, "MatMul batched", must(tensor.MatMul(a, b)), must(tensor.MatMul(da, db)), tolGEMM)
	compare(t, "MatMulT", must(tensor.MatMulT(a, a)), must(tensor.MatMulT(da, da)), tolGEMM)
	compare(t, "MatMul by a 2-D matrix", must(tensor.MatMul(a, b.Index(0).Index(1))), must(tensor.MatMul(da, db.Index(0).Index(1))), tolGEMM)
	b1 := randT(r, 3, 33, 9)
	compare(t, "MatMul broadcast batch", must(tensor.MatMul(a, b1)), must(tensor.MatMul(da, up(d, b1))), tolGEMM)
	b2 := randT(r, 2, 1, 33, 9)
	compare(t, "MatMul broadcast inner batch", must(tensor.MatMul(a, b2)), must(tensor.MatMul(da, up(d, b2))), tolGEMM)
	compare(t, "MatMul of transposed views", must(tensor.MatMul(b.Transpose(2, 3), a.Transpose(2, 3))), must(tensor.MatMul(db.Transpose(2, 3), da.Transpose(2, 3))), tolGEMM)
	// Attention-style head views [B, T, H, Dh] → [B, H, T, Dh].
	qkv := randT(r, 2, 11, 4, 16)
	q := qkv.Permute(0, 2, 1, 3)
	dq := up(d, qkv).Permute(0, 2, 1, 3)
	compare(t, "MatMulT of head views", must(tensor.MatMulT(q, q)), must(tensor.MatMulT(dq, dq)), tolGEMM)
	u, v := randT(r, 1, 5), randT(r, 5, 1)
	compare(t, "MatMul 1×K·K×1", must(tensor.MatMul(u, v)), must(tensor.MatMul(up(d, u), up(d, v))), tolGEMM)
	x, w, bias := randT(r, 3, 7, 48), randT(r, 80, 48), randT(r, 80)
	dx, dw, dbias := up(d, x), up(d, w), up(d, bias)
	compare(t, "Linear", must(tensor.Linear(x, w, bias)), must(tensor.Linear(dx, dw, dbias)), tolGEMM)
	compare(t, "Linear without bias", must(tensor.Linear(x, w, nil)), must(tensor.Linear(dx, dw, nil)), tolGEMM)
	compare(t, "Linear of strided operands", must(tensor.Linear(x.Slice(2, 0, 40), w.Slice(1, 0, 40), nil)), must(tensor.Linear(dx.Slice(2, 0, 40), dw.Slice(1, 0, 40), nil)), tolGEMM)
	if _, err := tensor.MatMul(da, da); !errors.Is(err, tensor.ErrShape) {
		t.Errorf("MatMul with mismatched inner dimensions: %v", err)
	}
}

// halfBits returns w rounded to 16-bit type t, as raw bits, via the host
// packing (the reference for PackWeightHalf inputs).
func halfBits(w *tensor.Tensor, t tensor.WeightType) []uint16 {
	out := make([]uint16, w.Len())
	for i, v := range w.Data() {
		b := math.Float32bits(v)
		if t == tensor.WeightBF16 {
			b += 0x7fff + (b>>16)&1
			out[i] = uint16(b >> 16)
			continue
		}
		out[i] = f16bits(v)
	}
	return out
}

// f16bits rounds v to IEEE half precision (to nearest even; normal range
// only, which the tests' values stay in).
func f16bits(v float32) uint16 {
	b := math.Float32bits(v)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23&0xff) - 127 + 15
	mant := b & 0x7fffff
	if exp <= 0 { // flush tiny values (not produced by the tests) to ±0
		return sign
	}
	h := uint32(exp)<<10 | mant>>13
	rest := mant & 0x1fff
	if rest > 0x1000 || (rest == 0x1000 && h&1 == 1) {
		h++
	}
	return sign | uint16(h)
}

func TestParity_LinearPacked(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(1, 9))
	for _, k := range []int{64, 37} { // 64: the GEMV kernel's vector path; 37: its scalar path
		w, bias := randT(r, 96, k), randT(r, 96)
		dw, dbias := up(d, w), up(d, bias)
		for _, wt := range []tensor.WeightType{tensor.WeightF32, tensor.WeightF16, tensor.WeightBF16} {
			p := must(tensor.PackWeightAs(w, wt))
			dp := must(tensor.PackWeightAs(dw, wt))
			if dp.Device() != d || dp.Type() != wt {
				t.Fatalf("packed %v weight on %v as %v", wt, dp.Device(), dp.Type())
			}
			for _, m := range []int{1, 5, 8, 9, 33, 70} { // GEMV chunks of 8 up to 32 rows, then cuBLAS
				x := randT(r, m, k)
				dx := up(d, x)
				name := fmt.Sprintf("LinearPacked %v k=%d m=%d", wt, k, m)
				compare(t, name, must(tensor.LinearPacked(x, p, bias)), must(tensor.LinearPacked(dx, dp, dbias)), tolGEMM)
				compare(t, name+" GELUTanh", must(tensor.LinearPackedAct(x, p, bias, tensor.GELUTanh)), must(tensor.LinearPackedAct(dx, dp, dbias, tensor.GELUTanh)), tolGEMM)
				compare(t, name+" padded SiLU", must(tensor.LinearPackedActPadded(x, p, nil, tensor.SiLU)), must(tensor.LinearPackedActPadded(dx, dp, nil, tensor.SiLU)), tolGEMM)
				acc := randT(r, m, 96)
				dacc := up(d, acc)
				noErr(t, tensor.LinearPackedAdd(acc, x, p, bias))
				noErr(t, tensor.LinearPackedAdd(dacc, dx, dp, dbias))
				compare(t, name+" Add", acc, dacc, tolGEMM)
			}
			ids := []int{0, 95, 7, 7}
			compare(t, fmt.Sprintf("GatherPacked %v k=%d", wt, k), must(tensor.GatherPacked(p, ids)), must(tensor.GatherPacked(dp, ids)), 0)
		}
		// 16-bit checkpoint data, kept or converted.
		for _, src := range []tensor.WeightType{tensor.WeightF16, tensor.WeightBF16} {
			bits := halfBits(w, src)
			for _, wt := range []tensor.WeightType{tensor.WeightF32, tensor.WeightF16, tensor.WeightBF16} {
				p := must(tensor.PackWeightHalfAs(bits, src, 96, k, wt, nil))
				dp := must(tensor.PackWeightHalfOn(d, bits, src, 96, k, wt, nil))
				x := randT(r, 3, k)
				name := fmt.Sprintf("PackWeightHalf %v→%v k=%d", src, wt, k)
				compare(t, name, must(tensor.LinearPacked(x, p, nil)), must(tensor.LinearPacked(up(d, x), dp, nil)), tolGEMM)
				compare(t, name+" rows", must(tensor.GatherPacked(p, []int{1, 50})), must(tensor.GatherPacked(dp, []int{1, 50})), 0)
			}
		}
		if _, err := tensor.PackWeightAs(dw, tensor.WeightQ8); !errors.Is(err, ErrUnsupported) || !errors.Is(err, tensor.ErrDevice) {
			t.Errorf("Q8 on cuda: %v, want ErrUnsupported", err)
		}
	}
}

func TestParity_TensorCores(t *testing.T) {
	device(t)
	d, err := OpenWith(0, Options{TensorCores: true})
	if err != nil {
		t.Fatal(err)
	}
	defer Close(d)
	r := rand.New(rand.NewPCG(1, 10))
	w := randT(r, 256, 512)
	dw := up(d, w)
	x := randT(r, 100, 512)
	for _, c := range []struct {
		t   tensor.WeightType
		tol float64
	}{{tensor.WeightF16, tolTC16}, {tensor.WeightBF16, tolTCBF16}, {tensor.WeightF32, tolTC16}} {
		p := must(tensor.PackWeightAs(w, c.t))
		dp := must(tensor.PackWeightAs(dw, c.t))
		compare(t, fmt.Sprintf("TensorCores LinearPacked %v m=100", c.t), must(tensor.LinearPacked(x, p, nil)), must(tensor.LinearPacked(up(d, x), dp, nil)), c.tol)
	}
}

func TestParity_Attention(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(1, 11))
	for _, c := range []struct {
		name            string
		b, tq, tk, h, g int
		dh              int
		causal          bool
		mask            []int
		scale           float32
		probs           bool
	}{
		{"self", 2, 9, 9, 4, 0, 16, false, nil, 0, false},
		{"causal", 2, 9, 9, 4, 0, 16, true, nil, 0, true},
		{"decode causal", 3, 1, 40, 2, 0, 64, true, nil, 0, false},
		{"prefix causal", 1, 5, 70, 2, 0, 32, true, nil, 0, true},
		{"key padding mask", 2, 7, 33, 3, 0, 24, false, []int{2, 1, 33}, 0, true},
		{"full mask", 2, 7, 33, 3, 0, 24, true, []int{2, 7, 33}, 0.3, false},
		{"grouped query", 2, 6, 6, 8, 2, 16, true, nil, 0, true},
		{"head dim 80", 1, 20, 37, 2, 0, 80, false, nil, 0, false},
		{"head dim 256", 1, 3, 50, 1, 0, 256, false, []int{50}, 0, false},
		{"long keys", 1, 4, 1500, 2, 0, 64, false, nil, 0, true},
	} {
		kvh := c.h
		if c.g > 0 {
			kvh = c.g
		}
		q, k, v := randT(r, c.b, c.tq, c.h*c.dh), randT(r, c.b, c.tk, kvh*c.dh), randT(r, c.b, c.tk, kvh*c.dh)
		opt := tensor.AttentionOptions{Heads: c.h, KVHeads: c.g, Causal: c.causal, Scale: c.scale}
		dopt := opt
		if c.mask != nil {
			m := randT(r, c.mask...)
			for i, v := range m.Data() {
				if v < -0.6 {
					m.Data()[i] = float32(math.Inf(-1))
				}
			}
			opt.Mask, dopt.Mask = m, up(d, m)
		}
		if c.probs {
			opt.Probs, dopt.Probs = tensor.New(c.b, c.h, c.tq, c.tk), d.New(c.b, c.h, c.tq, c.tk)
		}
		want := must(tensor.Attention(q, k, v, opt))
		got := must(tensor.Attention(up(d, q), up(d, k), up(d, v), dopt))
		compare(t, "Attention "+c.name, want, got, tolGEMM)
		if c.probs {
			compare(t, "Attention probs "+c.name, opt.Probs, dopt.Probs, tolGEMM)
		}
	}
	// Operands that are views of a fused projection.
	qkv := randT(r, 2, 10, 3*64)
	dqkv := up(d, qkv)
	view := func(t *tensor.Tensor, i int) *tensor.Tensor { return t.Slice(2, i*64, (i+1)*64) }
	opt := tensor.AttentionOptions{Heads: 4, Causal: true}
	compare(t, "Attention of fused-projection views", must(tensor.Attention(view(qkv, 0), view(qkv, 1), view(qkv, 2), opt)),
		must(tensor.Attention(view(dqkv, 0), view(dqkv, 1), view(dqkv, 2), opt)), tolGEMM)
	if _, err := tensor.Attention(up(d, randT(r, 1, 2, 8)), up(d, randT(r, 1, 2, 8)), up(d, randT(r, 1, 2, 8)), tensor.AttentionOptions{Heads: 3}); !errors.Is(err, tensor.ErrShape) {
		t.Errorf("Attention with heads not dividing the width: %v", err)
	}
}

func TestParity_PackedKV(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(1, 12))
	for _, wt := range []tensor.WeightType{tensor.WeightF32, tensor.WeightF16, tensor.WeightBF16} {
		k, v := randT(r, 2, 30, 4*16), randT(r, 2, 30, 4*16)
		kv := must(tensor.PackKV(k, v, 4, wt))
		dkv := must(tensor.PackKV(up(d, k), up(d, v), 4, wt))
		if dkv.Device() != d || dkv.Type() != wt || dkv.Batch() != 2 || dkv.Len() != 30 {
			t.Fatalf("packed KV %v: device %v type %v batch %d len %d", wt, dkv.Device(), dkv.Type(), dkv.Batch(), dkv.Len())
		}
		q := randT(r, 2, 3, 64)
		dq := up(d, q)
		opt := tensor.AttentionOptions{Heads: 4}
		compare(t, fmt.Sprintf("AttentionPacked %v", wt), must(tensor.AttentionPacked(q, kv, opt)), must(tensor.AttentionPacked(dq, dkv, opt)), tolGEMM)
		mask := randT(r, 2, 1, 30)
		probs, dprobs := tensor.New(2, 4, 3, 30), d.New(2, 4, 3, 30)
		mopt := tensor.AttentionOptions{Mask: mask, Probs: probs}
		dmopt := tensor.AttentionOptions{Mask: up(d, mask), Probs: dprobs}
		compare(t, fmt.Sprintf("AttentionPacked %v masked", wt), must(tensor.AttentionPacked(q, kv, mopt)), must(tensor.AttentionPacked(dq, dkv, dmopt)), tolGEMM)
		compare(t, fmt.Sprintf("AttentionPacked %v probs", wt), probs, dprobs, tolGEMM)
		idx := []int{1, 1, 0}
		kv2, dkv2 := must(kv.Reorder(idx)), must(dkv.Reorder(idx))
		q3 := randT(r, 3, 1, 64)
		compare(t, fmt.Sprintf("ReorderKV %v", wt), must(tensor.AttentionPacked(q3, kv2, opt)), must(tensor.AttentionPacked(up(d, q3), dkv2, opt)), tolGEMM)
		idx2 := []int{2, 0}
		kv3, dkv3 := must(kv2.Reorder(idx2)), must(dkv2.Reorder(idx2))
		q2 := randT(r, 2, 2, 64)
		compare(t, fmt.Sprintf("ReorderKV twice %v", wt), must(tensor.AttentionPacked(q2, kv3, tensor.AttentionOptions{Causal: true})), must(tensor.AttentionPacked(up(d, q2), dkv3, tensor.AttentionOptions{Causal: true})), tolGEMM)
	}
	if _, err := tensor.PackKV(up(d, randT(r, 1, 2, 8)), up(d, randT(r, 1, 2, 8)), 2, tensor.WeightQ8); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Q8 keys on cuda: %v", err)
	}
}

func TestParity_Conv(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(1, 13))
	for _, c := range []struct {
		b, cin, l, cout, k, stride, pad, groups int
		bias, flat                              bool
	}{
		{1, 4, 20, 8, 3, 1, 1, 1, true, false},
		{2, 4, 20, 8, 3, 2, 1, 1, true, false},
		{3, 8, 50, 8, 5, 1, 2, 4, false, false},
		{2, 16, 33, 16, 16, 1, 8, 16, true, false},
		{1, 6, 11, 4, 1, 1, 0, 2, true, true},
		{2, 1, 400, 6, 10, 5, 0, 1, false, false},
	} {
		var x *tensor.Tensor
		if c.flat {
			x = randT(r, c.cin, c.l)
		} else {
			x = randT(r, c.b, c.cin, c.l)
		}
		w := randT(r, c.cout, c.cin/c.groups, c.k)
		var bias, dbias *tensor.Tensor
		if c.bias {
			bias = randT(r, c.cout)
			dbias = up(d, bias)
		}
		compare(t, fmt.Sprintf("Conv1d %+v", c), must(tensor.Conv1d(x, w, bias, c.stride, c.pad, c.groups)),
			must(tensor.Conv1d(up(d, x), up(d, w), dbias, c.stride, c.pad, c.groups)), tolGEMM)
	}
	img := randT(r, 2, 3, 32, 30)
	pw, pb := randT(r, 12, 3, 8, 8), randT(r, 12)
	compare(t, "PatchEmbed", must(tensor.PatchEmbed(img, pw, pb)), must(tensor.PatchEmbed(up(d, img), up(d, pw), up(d, pb))), tolGEMM)
	pw2 := randT(r, 4, 3, 5, 5)
	compare(t, "PatchEmbed of a strided image", must(tensor.PatchEmbed(img.Transpose(2, 3), pw2, nil)), must(tensor.PatchEmbed(up(d, img).Transpose(2, 3), up(d, pw2), nil)), tolGEMM)
}

// TestDevices: two devices in one process, their tensors do not mix;
// memory is returned by Release and Close; running out of memory is an
// error that leaves the device usable.
func TestDevices(t *testing.T) {
	d := device(t)
	d2, err := Open(0)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 14))
	x := randT(r, 4, 4)
	a, b := up(d, x), up(d2, x)
	compare(t, "second device", tensor.Scale(x, 2), tensor.Scale(b, 2), 0)
	if _, err := tensor.Add(a, b); !errors.Is(err, tensor.ErrDevice) {
		t.Errorf("Add across devices: %v, want ErrDevice", err)
	}
	before, err := Memory(d2)
	if err != nil {
		t.Fatal(err)
	}
	big := d2.New(1024, 1024)
	mid, _ := Memory(d2)
	tensor.Release(big)
	after, _ := Memory(d2)
	if mid.InUse < before.InUse+4<<20 || after.InUse != before.InUse || after.Cached < 4<<20 {
		t.Errorf("memory before %+v, with a 4 MiB tensor %+v, after Release %+v", before, mid, after)
	}
	if err := Close(d2); err != nil {
		t.Fatal(err)
	}
	if s, err := Memory(d2); err == nil {
		t.Errorf("Memory after Close = %+v", s)
	}
	compare(t, "first device after closing the second", x, a, 0)

	// Out of memory: a clear error, and the device still works.
	st, _ := Memory(d)
	huge := int(min(st.Total/4*2, 1<<40)) // twice the GPU's memory, in floats
	func() {
		defer func() {
			rec := recover()
			e, _ := rec.(error)
			if !errors.Is(e, ErrOutOfMemory) || !errors.Is(e, tensor.ErrDevice) {
				t.Errorf("allocating %d floats: %v, want ErrOutOfMemory", huge, rec)
			}
			t.Logf("out of memory: %v", e)
		}()
		d.New(huge)
	}()
	compare(t, "device after running out of memory", tensor.Scale(x, 3), tensor.Scale(a, 3), 0)
}

// TestConcurrentUse runs operations on one device from several
// goroutines (a Backend must be safe for concurrent use).
func TestConcurrentUse(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(1, 15))
	w, bias := randT(r, 64, 32), randT(r, 64)
	p := must(tensor.PackWeightAs(up(d, w), tensor.WeightF16))
	hp := must(tensor.PackWeightAs(w, tensor.WeightF16))
	dbias := up(d, bias)
	xs := make([]*tensor.Tensor, 6)
	for i := range xs {
		xs[i] = randT(r, 3+i, 32)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(xs))
	for i, x := range xs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				want := tensor.Softmax(must(tensor.LinearPackedAct(x, hp, bias, tensor.GELUExact)))
				y, err := tensor.LinearPackedAct(up(d, x), p, dbias, tensor.GELUExact)
				if err != nil {
					errs[i] = err
					return
				}
				s := tensor.Softmax(y)
				tensor.Release(y)
				got, err := tensor.HostData(s)
				tensor.Release(s)
				if err != nil {
					errs[i] = err
					return
				}
				for j, v := range want.Data() {
					if math.Abs(float64(got[j]-v)) > tolGEMM {
						errs[i] = fmt.Errorf("goroutine %d: element %d = %v, want %v", i, j, got[j], v)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
