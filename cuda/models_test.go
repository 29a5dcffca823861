//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/goformer/goformer/tensor"
)

// Parity of the family operations (tensor.ModelOps) with their host
// kernels. Where the device kernel does each step of the host's in the
// same order (bicubic resize, layer norm over channels, the gate) the
// results must be identical; where it sums in another order (a block
// reduction in float64: group norm, RMS norm) or takes the cosine and
// sine from CUDA's libm instead of Go's (rope), within tolF32.

func TestParity_UpsampleBicubic(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(3, 1))
	for _, c := range []struct {
		gh, gw, c, oh, ow int
		sh, sw            float64
	}{
		{7, 7, 16, 14, 14, 2, 2},                  // ViT at twice the size
		{14, 14, 8, 24, 24, 24.0 / 14, 24.0 / 14}, // a ratio that is not a whole number
		{3, 5, 4, 2, 9, 0.7, 1.8},                 // downsampling one way, taps clamped
		{1, 1, 3, 4, 4, 4, 4},                     // one source value
	} {
		x := randT(r, c.gh, c.gw, c.c)
		name := fmt.Sprintf("UpsampleBicubic %dx%dx%d to %dx%d", c.gh, c.gw, c.c, c.oh, c.ow)
		compare(t, name, must(tensor.UpsampleBicubic(x, c.oh, c.ow, c.sh, c.sw)),
			must(tensor.UpsampleBicubic(up(d, x), c.oh, c.ow, c.sh, c.sw)), 0)
	}
	// A strided grid (channels first, transposed to channels last).
	x := randT(r, 6, 5, 5)
	compare(t, "UpsampleBicubic of a permuted view", must(tensor.UpsampleBicubic(x.Permute(1, 2, 0), 8, 8, 1.6, 1.6)),
		must(tensor.UpsampleBicubic(up(d, x).Permute(1, 2, 0), 8, 8, 1.6, 1.6)), 0)
}

func TestParity_ChannelNorms(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(3, 2))
	for _, c := range []struct{ ch, t int }{{8, 1000}, {5, 3}, {512, 77}, {3, 4000}} {
		x, w, b := randT(r, c.ch, c.t), randT(r, c.ch), randT(r, c.ch)
		// Offset the channels so that the mean matters.
		for i, v := range x.Data() {
			x.Data()[i] = v*3 + float32(i/c.t)
		}
		dw, db := up(d, w), up(d, b)

		h, g := x.Clone(), up(d, x)
		noErr(t, tensor.GroupNormChannels(h, w, b, 1e-5))
		noErr(t, tensor.GroupNormChannels(g, dw, db, 1e-5))
		compare(t, fmt.Sprintf("GroupNormChannels [%d %d]", c.ch, c.t), h, g, tolF32)

		h, g = x.Clone(), up(d, x)
		noErr(t, tensor.LayerNormChannels(h, w, b, 1e-5))
		noErr(t, tensor.LayerNormChannels(g, dw, db, 1e-5))
		compare(t, fmt.Sprintf("LayerNormChannels [%d %d]", c.ch, c.t), h, g, 0)
	}
	// Strided weights are read through a contiguous copy.
	x, w := randT(r, 4, 50), randT(r, 2, 4)
	h, g := x.Clone(), up(d, x)
	noErr(t, tensor.LayerNormChannels(h, w.Index(1), w.Index(0), 1e-6))
	dw := up(d, w)
	noErr(t, tensor.LayerNormChannels(g, dw.Index(1), dw.Index(0), 1e-6))
	compare(t, "LayerNormChannels with views for weights", h, g, 0)
	// A non-contiguous x is refused, as on the host.
	if err := tensor.GroupNormChannels(up(d, randT(r, 6, 4)).Transpose(0, 1), dw.Index(0), dw.Index(1), 1e-5); !errors.Is(err, tensor.ErrShape) {
		t.Errorf("GroupNormChannels of a transpose: %v, want ErrShape", err)
	}
}

func TestParity_LLMOps(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(3, 3))
	for _, c := range []struct{ rows, width int }{{6, 16}, {3, 4096}, {1, 5}, {130, 300}} {
		x, w := randT(r, c.rows, c.width), randT(r, c.width)
		compare(t, fmt.Sprintf("RMSNorm [%d %d]", c.rows, c.width), must(tensor.RMSNorm(x, w, 1e-6)),
			must(tensor.RMSNorm(up(d, x), up(d, w), 1e-6)), tolF32)
	}
	xt, w := randT(r, 16, 4), randT(r, 16)
	dxt := up(d, xt)
	compare(t, "RMSNorm of a transpose", must(tensor.RMSNorm(xt.Transpose(0, 1), w, 1e-5)),
		must(tensor.RMSNorm(dxt.Transpose(0, 1), up(d, w), 1e-5)), tolF32)
	if got := must(tensor.ToHost(dxt)); !slices.Equal(got.Data(), xt.Data()) {
		t.Error("RMSNorm of a view changed its input")
	}

	for _, c := range []struct {
		b, t, heads, half int
		scale             float64
		pos               func(i int) int
	}{
		{2, 3, 2, 4, 0, func(i int) int { return []int{0, 1, 2, 7, 1, 0}[i] }},
		{1, 40, 4, 32, 1, func(i int) int { return i }},
		{3, 5, 8, 64, 2.5, func(i int) int { return 4000 + 37*i }},
		{1, 1, 32, 64, 8, func(int) int { return 131071 }},
	} {
		invFreq := make([]float32, c.half)
		for i := range invFreq {
			invFreq[i] = float32(1 / math.Pow(10000, float64(2*i)/float64(2*c.half)))
		}
		pos := make([]int, c.b*c.t)
		for i := range pos {
			pos[i] = c.pos(i)
		}
		x := randT(r, c.b, c.t, c.heads*2*c.half)
		h, g := x.Clone(), up(d, x)
		noErr(t, tensor.Rope(h, c.heads, invFreq, c.scale, pos))
		noErr(t, tensor.Rope(g, c.heads, invFreq, c.scale, pos))
		compare(t, fmt.Sprintf("Rope [%d %d %d×%d] scale %g", c.b, c.t, c.heads, 2*c.half, c.scale), h, g, tolF32)
	}

	for _, shape := range [][]int{{2, 3, 16}, {1, 1, 11008}, {0, 4}} {
		g, u := randT(r, shape...), randT(r, shape...)
		h, dg := g.Clone(), up(d, g)
		noErr(t, tensor.GateInPlace(h, u))
		noErr(t, tensor.GateInPlace(dg, up(d, u)))
		compare(t, fmt.Sprintf("GateInPlace %v", shape), h, dg, 0)
	}
	// A strided u is read through its strides.
	g, u := randT(r, 4, 6), randT(r, 6, 4)
	h, dg := g.Clone(), up(d, g)
	noErr(t, tensor.GateInPlace(h, u.Transpose(0, 1).Contiguous()))
	noErr(t, tensor.GateInPlace(dg, up(d, u).Transpose(0, 1)))
	compare(t, "GateInPlace of a transposed u", h, dg, 0)
}

// TestFree: PackedB.Free and PackedKV.Free (what a model's Close calls)
// return device memory at once; freeing twice does nothing; the garbage
// collector's cleanups do not free again what Free freed (which would
// hand a block in use to the next allocation); reordered keys and values
// stay valid after the packed keys and values they came from are freed,
// and their store is released with the last of them.
func TestFree(t *testing.T) {
	device(t)         // skips or fails as the other tests do
	d, err := Open(0) // a device of its own: its memory figures are this test's
	if err != nil {
		t.Fatal(err)
	}
	defer Close(d)
	r := rand.New(rand.NewPCG(3, 4))
	inUse := func() int64 {
		t.Helper()
		s, err := Memory(d)
		if err != nil {
			t.Fatal(err)
		}
		return s.InUse
	}
	// upload and pack, releasing the uploaded tensor.
	pack := func(w *tensor.Tensor, wt tensor.WeightType) *tensor.PackedB {
		dw := up(d, w)
		defer tensor.Release(dw)
		return must(tensor.PackWeightAs(dw, wt))
	}
	base := inUse()

	w := randT(r, 256, 512)
	x := randT(r, 3, 512)
	p := pack(w, tensor.WeightF16)
	if got := inUse() - base; got != 256*512*2 {
		t.Fatalf("a packed [256 512] F16 weight takes %d bytes", got)
	}
	dx := up(d, x)
	y := must(tensor.LinearPacked(dx, p, nil))
	compare(t, "LinearPacked before Free", must(tensor.LinearPacked(x, must(tensor.PackWeightAs(w, tensor.WeightF16)), nil)), y, tolGEMM)
	release(dx, y)
	p.Free()
	if got := inUse(); got != base {
		t.Errorf("in use %d after PackedB.Free, %d before packing", got, base)
	}
	p.Free() // a second Free does nothing
	dx = up(d, x)
	if _, err := tensor.LinearPacked(dx, p, nil); err == nil {
		t.Error("LinearPacked with a freed weight succeeded")
	}
	release(dx)

	// Free, then garbage collection: the cleanups must not free again.
	for i := range 8 {
		pack(randT(r, 64+i, 32), tensor.WeightF32).Free()
	}
	runtime.GC()
	runtime.GC()
	keep := make([]*tensor.Tensor, 8)
	for i := range keep {
		keep[i] = up(d, randT(r, 64, 32))
	}
	before := inUse()
	runtime.GC()
	runtime.GC()
	if got := inUse(); got != before {
		t.Errorf("in use %d after collecting freed weights, %d before (a cleanup freed again)", got, before)
	}
	release(keep...)

	// Packed keys and values: the store lives while a reorder of it does.
	k, v := randT(r, 2, 30, 64), randT(r, 2, 30, 64)
	q := randT(r, 3, 1, 64)
	opt := tensor.AttentionOptions{Heads: 4}
	kvBase := inUse()
	dk, dv := up(d, k), up(d, v)
	dkv := must(tensor.PackKV(dk, dv, 4, tensor.WeightF32))
	release(dk, dv)
	store := inUse() - kvBase
	if store != 2*2*30*64*4 {
		t.Errorf("packed keys and values [2 30 64] take %d bytes", store)
	}
	idx := []int{1, 0, 1}
	dkv2 := must(dkv.Reorder(idx))
	withReorder := inUse()
	dkv.Free()
	dkv.Free()
	if got := inUse(); got != withReorder {
		t.Errorf("in use %d after freeing the source of a live reorder, %d before", got, withReorder)
	}
	dq := up(d, randT(r, 2, 1, 64))
	if _, err := tensor.AttentionPacked(dq, dkv, opt); err == nil {
		t.Error("AttentionPacked with freed keys and values succeeded")
	}
	release(dq)
	kv := must(tensor.PackKV(k, v, 4, tensor.WeightF32))
	dq = up(d, q)
	got := must(tensor.AttentionPacked(dq, dkv2, opt))
	compare(t, "AttentionPacked of a reorder after Free of its source", must(tensor.AttentionPacked(q, must(kv.Reorder(idx)), opt)), got, tolGEMM)
	release(dq, got)
	dkv3 := must(dkv2.Reorder([]int{2}))
	dkv2.Free()
	dkv3.Free()
	if got := inUse(); got != kvBase {
		t.Errorf("in use %d after freeing all packed keys and values, %d before packing", got, kvBase)
	}
	runtime.GC()
	runtime.GC()
	if got := inUse(); got != kvBase {
		t.Errorf("in use %d after collecting freed keys and values, %d before packing", got, kvBase)
	}

	// A weight dropped without Free is freed by its cleanup (when the
	// garbage collector gets to it; cleanups run on their own goroutine).
	func() { pack(randT(r, 128, 128), tensor.WeightF32) }()
	for range 50 {
		runtime.GC()
		if inUse() == kvBase {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("in use %d after collecting a weight dropped without Free, %d before", inUse(), kvBase)
}
