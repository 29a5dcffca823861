package tensor

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/goformer/goformer/tensor/internal/kern"
)

// halfKVCase is a decoding session against a HalfKV: a prompt of steps[0]
// positions, then steps of steps[i] positions, a beam reorder after
// reorderAt steps (none when 0).
type halfKVCase struct {
	b, h, dh  int
	steps     []int
	causal    bool
	mask      string
	reorderAt int
	idx       []int
	strided   bool // append views of a wider tensor (a fused QKV product)
}

var halfKVCases = []halfKVCase{
	{b: 1, h: 8, dh: 64, steps: []int{4, 1, 1, 1, 1, 1}, causal: true},
	{b: 2, h: 3, dh: 64, steps: []int{3, 1, 1, 2, 1}, causal: true, mask: "key", reorderAt: 2, idx: []int{1, 1, 0}},
	{b: 1, h: 2, dh: 20, steps: []int{70, 1, 1}, causal: true, strided: true},
	{b: 3, h: 2, dh: 16, steps: []int{5, 1, 5, 1}, causal: false, mask: "full", reorderAt: 1, idx: []int{2, 0}},
	{b: 1, h: 1, dh: 64, steps: []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 20}, causal: true, strided: true},
	{b: 4, h: 4, dh: 8, steps: []int{9, 1, 1, 1}, causal: true, mask: "row", reorderAt: 3, idx: []int{3, 2, 1, 0, 0}},
	{b: 2, h: 2, dh: 64, steps: []int{130, 1}, causal: true},
	{b: 1, h: 2, dh: 64, steps: []int{300, 1, 2}, causal: true, mask: "key", reorderAt: 2, idx: []int{0, 0}},
	{b: 1, h: 2, dh: 48, steps: []int{257, 4, 1}, causal: true, strided: true},
}

// TestHalfKV appends keys and values to 16-bit caches step by step
// (prompts longer than a query block, single-token steps, beam reorders
// that change the batch size, strided inputs) with every kernel set and
// checks each step's attention bit for bit against Attention over all
// the keys and values so far rounded to the cache's type (and so against
// the float64 reference within Attention's tolerance), probabilities
// included.
func TestHalfKV(t *testing.T) {
	r := rand.New(rand.NewSource(41))
	for ci, c := range halfKVCases {
		for _, kind := range []WeightType{WeightF16, WeightBF16} {
			for _, s := range kernelSets() {
				name := fmt.Sprintf("case %d %v/%s", ci, kind, setName(s))
				saved := fastSet
				fastSet = s
				runHalfKVCase(t, name, r, c, kind, nil)
				fastSet = saved
			}
		}
	}
}

// runHalfKVCase runs c on d (nil: the host). On the host it compares with
// Attention over rounded keys and values; on a device with the host cache
// fed the same inputs.
func runHalfKVCase(t *testing.T, name string, r *rand.Rand, c halfKVCase, kind WeightType, d *Device) {
	t.Helper()
	dm := c.h * c.dh
	b := c.b
	cache, err := NewHalfKV(nil, b, c.h, c.dh, kind)
	if err != nil {
		t.Fatal(err)
	}
	var dcache *HalfKV
	if d != nil {
		if dcache, err = NewHalfKV(d, b, c.h, c.dh, kind); err != nil {
			t.Fatal(err)
		}
		if dcache.Device() != d {
			t.Fatalf("%s: cache on %v, want %v", name, dcache.Device(), d)
		}
	}
	var kAll, vAll *Tensor
	up := func(x *Tensor) *Tensor {
		if x == nil {
			return nil
		}
		return d.MustUpload(x)
	}
	for si, tq := range c.steps {
		if c.reorderAt > 0 && si == c.reorderAt {
			if err := cache.Reorder(c.idx); err != nil {
				t.Fatal(err)
			}
			if dcache != nil {
				if err := dcache.Reorder(c.idx); err != nil {
					t.Fatal(err)
				}
			}
			kAll, vAll = mustT(Gather(kAll, c.idx)), mustT(Gather(vAll, c.idx))
			b = len(c.idx)
		}
		var k, v *Tensor
		if c.strided {
			qkv := randT(r, b, tq, 3*dm)
			k, v = qkv.Slice(-1, dm, 2*dm), qkv.Slice(-1, 2*dm, 3*dm)
		} else {
			k, v = randT(r, b, tq, dm), randT(r, b, tq, dm)
		}
		if err := cache.Append(k, v); err != nil {
			t.Fatalf("%s: step %d: %v", name, si, err)
		}
		if dcache != nil {
			if err := dcache.Append(up(k), up(v)); err != nil {
				t.Fatalf("%s: step %d: %v", name, si, err)
			}
		}
		if kAll == nil {
			kAll, vAll = k.Contiguous(), v.Contiguous()
		} else {
			kAll, vAll = mustT(Concat(1, kAll, k)), mustT(Concat(1, vAll, v))
		}
		tk := kAll.Dim(1)
		if cache.Len() != tk || cache.Batch() != b {
			t.Fatalf("%s: step %d: cache of %d rows × %d positions, want %d × %d", name, si, cache.Batch(), cache.Len(), b, tk)
		}
		q := randT(r, b, tq, dm)
		mask := testMask(r, c.mask, b, tq, tk)
		probs := New(b, c.h, tq, tk)
		opt := AttentionOptions{Heads: c.h, Causal: c.causal, Mask: mask, Probs: probs}
		got, err := AttentionHalfKV(q, cache, opt)
		if err != nil {
			t.Fatalf("%s: step %d: %v", name, si, err)
		}
		if d != nil {
			dprobs := d.New(b, c.h, tq, tk)
			dopt := AttentionOptions{Heads: c.h, Causal: c.causal, Mask: up(mask), Probs: dprobs}
			dgot, err := AttentionHalfKV(up(q), dcache, dopt)
			if err != nil {
				t.Fatalf("%s: step %d: %v", name, si, err)
			}
			sameBits(t, name+" attention", got, dgot)
			sameBits(t, name+" probs", probs, dprobs)
			continue
		}
		wantP := New(b, c.h, tq, tk)
		kr, vr := roundTo(kAll, kind), roundTo(vAll, kind)
		want, err := Attention(q, kr, vr, AttentionOptions{Heads: c.h, Causal: c.causal, Mask: mask, Probs: wantP})
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range want.data {
			if math.Float32bits(w) != math.Float32bits(got.data[i]) {
				t.Fatalf("%s: step %d: output %d = %v, Attention over rounded keys/values gives %v", name, si, i, got.data[i], w)
			}
		}
		for i, w := range wantP.data {
			if math.Float32bits(w) != math.Float32bits(probs.data[i]) {
				t.Fatalf("%s: step %d: probability %d = %v, want %v", name, si, i, probs.data[i], w)
			}
		}
		ref, _ := attnWant(q, kr, vr, c.h, 1/math.Sqrt(float64(c.dh)), c.causal, mask)
		for i, w := range ref {
			if diff := math.Abs(float64(got.data[i]) - w); diff > 2e-5*(1+math.Abs(w)) {
				t.Fatalf("%s: step %d: output %d = %v, float64 reference %v", name, si, i, got.data[i], w)
			}
		}
	}
	cache.Free()
	cache.Free()
	dcache.Free()
}

// TestHalfKVErrors checks the errors of bad shapes, types and indices,
// and that Reset and Free leave a cache that takes appends again.
func TestHalfKVErrors(t *testing.T) {
	if _, err := NewHalfKV(nil, 1, 2, 4, WeightF32); err == nil {
		t.Error("NewHalfKV of F32 succeeded")
	}
	if _, err := NewHalfKV(nil, 0, 2, 4, WeightF16); !errors.Is(err, ErrShape) {
		t.Errorf("NewHalfKV of no rows: %v", err)
	}
	c, err := NewHalfKV(nil, 2, 2, 4, WeightF16)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AttentionHalfKV(New(2, 1, 8), c, AttentionOptions{}); !errors.Is(err, ErrShape) {
		t.Errorf("attention against an empty cache: %v", err)
	}
	for _, kv := range [][2]*Tensor{{New(2, 1, 6), New(2, 1, 6)}, {New(1, 1, 8), New(1, 1, 8)}, {New(2, 1, 8), New(2, 2, 8)}, {New(2, 0, 8), New(2, 0, 8)}, {nil, nil}} {
		if err := c.Append(kv[0], kv[1]); !errors.Is(err, ErrShape) {
			t.Errorf("Append of %v: %v", kv[0], err)
		}
	}
	if err := c.Append(New(2, 3, 8), New(2, 3, 8)); err != nil {
		t.Fatal(err)
	}
	for _, q := range []*Tensor{New(2, 1, 6), New(3, 1, 8), New(2, 8)} {
		if _, err := AttentionHalfKV(q, c, AttentionOptions{}); !errors.Is(err, ErrShape) {
			t.Errorf("attention of q %v: %v", q.Shape(), err)
		}
	}
	if _, err := AttentionHalfKV(New(2, 1, 8), c, AttentionOptions{Heads: 4}); !errors.Is(err, ErrShape) {
		t.Errorf("attention with other heads: %v", err)
	}
	if _, err := AttentionHalfKV(New(2, 1, 8), c, AttentionOptions{Mask: New(3, 1, 3)}); !errors.Is(err, ErrShape) {
		t.Errorf("attention with a bad mask: %v", err)
	}
	for _, idx := range [][]int{{2}, {-1}, nil} {
		if err := c.Reorder(idx); !errors.Is(err, ErrShape) {
			t.Errorf("Reorder(%v): %v", idx, err)
		}
	}
	c.Reset()
	if c.Len() != 0 {
		t.Fatalf("Len after Reset = %d", c.Len())
	}
	if err := c.Append(New(2, 1, 8), New(2, 1, 8)); err != nil || c.Len() != 1 {
		t.Fatalf("Append after Reset: %v, Len %d", err, c.Len())
	}
	c.Free()
	if err := c.Append(New(2, 2, 8), New(2, 2, 8)); err != nil || c.Len() != 2 {
		t.Fatalf("Append after Free: %v, Len %d", err, c.Len())
	}
	if _, err := AttentionHalfKV(New(2, 2, 8), c, AttentionOptions{Causal: true}); err != nil {
		t.Fatal(err)
	}
	if c.Bytes() == 0 || c.Type() != WeightF16 || c.Heads() != 2 || c.HeadDim() != 4 {
		t.Errorf("cache describes itself as %d bytes %v %d×%d", c.Bytes(), c.Type(), c.Heads(), c.HeadDim())
	}
}

// TestDeviceHalfKV runs the sessions of TestHalfKV on the checking
// device: attention and probabilities bit-identical to the host cache's,
// and a host tensor given to a device cache is refused.
func TestDeviceHalfKV(t *testing.T) {
	r := rand.New(rand.NewSource(43))
	d := NewCheckingDevice()
	for ci, c := range halfKVCases {
		for _, kind := range []WeightType{WeightF16, WeightBF16} {
			runHalfKVCase(t, fmt.Sprintf("case %d %v", ci, kind), r, c, kind, d)
		}
	}
	dc, err := NewHalfKV(d, 1, 1, 4, WeightF16)
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if e, _ := recover().(error); !errors.Is(e, ErrDevice) {
				t.Errorf("host keys appended to a device cache: %v", e)
			}
		}()
		_ = dc.Append(New(1, 1, 4), New(1, 1, 4))
	}()
}

// TestNarrowF16 checks HalfKV's rounding to F16 against kern.NarrowF16
// (PackKV's) on a spread of float32 bit patterns covering every exponent,
// both signs, the normal/subnormal and overflow boundaries, and NaNs.
func TestNarrowF16(t *testing.T) {
	var src []float32
	for b := uint64(0); b < 1<<32; b += 65521 {
		src = append(src, math.Float32frombits(uint32(b)))
	}
	for _, e := range []uint32{0x38800000, 0x387fffff, 0x387ff000, 0x387fefff, 0x477fefff, 0x477ff000, 0x477fffff, 0x47800000, 0x7f800000, 0x7fc00000, 0x33000000, 0x33000001} {
		for _, d := range []uint32{0, 1, 0xfff, 0x1000, 0x1fff, 0x2000} {
			src = append(src, math.Float32frombits(e+d), math.Float32frombits(e-d), math.Float32frombits((e+d)|0x80000000))
		}
	}
	got, want := make([]uint16, len(src)), make([]uint16, len(src))
	narrowF16(got, src)
	kern.NarrowF16(want, src)
	for i := range src {
		if got[i] != want[i] {
			t.Fatalf("%#08x rounds to %#04x, kern.NarrowF16 gives %#04x", math.Float32bits(src[i]), got[i], want[i])
		}
	}
}
