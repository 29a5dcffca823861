package nn

import (
	"math/rand"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

func randStore(r *rand.Rand, shapes map[string][]int) *checkpoint.Store {
	m := map[string]*tensor.Tensor{}
	for name, s := range shapes {
		t := tensor.New(s...)
		d := t.Data()
		for i := range d {
			d[i] = (r.Float32()*2 - 1) * 0.5
		}
		m[name] = t
	}
	return checkpoint.NewStore("random", m)
}

func newTestDecoder(r *rand.Rand, d int, preNorm bool) *DecoderBlock {
	shapes := map[string][]int{}
	for _, a := range []string{"self", "cross"} {
		for _, p := range []string{"q", "k", "v", "o"} {
			shapes[a+"."+p+".weight"] = []int{d, d}
			shapes[a+"."+p+".bias"] = []int{d}
		}
	}
	for _, ln := range []string{"ln1", "ln2", "lnc"} {
		shapes[ln+".weight"] = []int{d}
		shapes[ln+".bias"] = []int{d}
	}
	shapes["fc1.weight"], shapes["fc1.bias"] = []int{4 * d, d}, []int{4 * d}
	shapes["fc2.weight"], shapes["fc2.bias"] = []int{d, 4 * d}, []int{d}
	w := randStore(r, shapes).Root()
	att := func(p string) *Attention {
		s := w.Sub(p)
		return &Attention{Q: NewLinear(s.Sub("q"), d, d, true), K: NewLinear(s.Sub("k"), d, d, true),
			V: NewLinear(s.Sub("v"), d, d, true), O: NewLinear(s.Sub("o"), d, d, true), Heads: 2}
	}
	return &DecoderBlock{PreNorm: preNorm, SelfAttn: att("self"), CrossAttn: att("cross"),
		LN1: NewLayerNorm(w.Sub("ln1"), d, 1e-5), LN2: NewLayerNorm(w.Sub("ln2"), d, 1e-5), LNCross: NewLayerNorm(w.Sub("lnc"), d, 1e-5),
		MLP: &MLP{FC1: NewLinear(w.Sub("fc1"), d, 4*d, true), FC2: NewLinear(w.Sub("fc2"), 4*d, d, true), Act: tensor.GELUExact}}
}

// Incremental decoding with the KV cache must equal one causal pass.
func TestDecoderKVCacheMatchesFullPass(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	const d, T, Tenc, B = 8, 6, 5, 2
	for _, pre := range []bool{true, false} {
		blk := newTestDecoder(r, d, pre)
		x := tensor.New(B, T, d)
		enc := tensor.New(B, Tenc, d)
		for _, t := range []*tensor.Tensor{x, enc} {
			dd := t.Data()
			for i := range dd {
				dd[i] = r.Float32()*2 - 1
			}
		}
		full := blk.Forward(x, &DecoderState{Cross: blk.CrossAttn.ProjectKV(enc)}, AttnOptions{Causal: true}, nil)
		st := &DecoderState{Cross: blk.CrossAttn.ProjectKV(enc)}
		for i := 0; i < T; i++ {
			step := blk.Forward(x.Slice(1, i, i+1).Contiguous(), st, AttnOptions{Causal: true}, nil)
			if d := testdata.TensorDiff(t, "step", step, full.Slice(1, i, i+1).Contiguous()); d > 1e-5 {
				t.Fatalf("preNorm=%v step %d differs by %g", pre, i, d)
			}
		}
		if st.Self.Len() != T {
			t.Fatalf("cache holds %d positions, want %d", st.Self.Len(), T)
		}
		// Beam reorder: swapping batch rows of the cache swaps the outputs.
		st.Self.Reorder([]int{1, 0})
		st.Cross.Reorder([]int{1, 0})
		next := tensor.New(B, 1, d)
		a := blk.Forward(next, st, AttnOptions{Causal: true}, nil)
		if a.Dim(0) != 2 {
			t.Fatal("reorder changed batch")
		}
	}
}

// TestCloseFreesPackedWeights: weights are packed by the store's Prepare
// (model Load), not by the first Forward, and freed by its Close, not by
// the garbage collector.
func TestCloseFreesPackedWeights(t *testing.T) {
	const in, out = 512, 1024 // 2 MiB packed: mapped outside the Go heap
	w := tensor.New(out, in)
	s := checkpoint.NewStore("test", map[string]*tensor.Tensor{"l.weight": w, "l.bias": tensor.New(out)})
	l := NewLinear(s.Root().Sub("l"), in, out, true)
	if l.packed != nil {
		t.Fatal("packed before Prepare")
	}
	if err := s.Prepare(); err != nil {
		t.Fatal(err)
	}
	if l.packed == nil || l.packed.Bytes() < 4*in*out {
		t.Fatalf("Prepare did not pack the layer (%v)", l.packed)
	}
	p := l.packed
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if p.Bytes() != 0 {
		t.Fatalf("%d bytes still held after Close", p.Bytes())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestLinearGatherOnDevice: row lookups on a device give the checkpoint's
// values exactly, whatever type the product packs the weight in, and
// LookupOnly layers are never packed.
func TestLinearGatherOnDevice(t *testing.T) {
	const in, out = 40, 12
	w := tensor.New(out, in)
	for i, d := 0, w.Data(); i < len(d); i++ {
		d[i] = float32(i%17)*0.013 - 0.1
	}
	ids := []int{3, 0, 11, 3}
	want, err := tensor.Gather(w, ids)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		typ    tensor.WeightType
		lookup Lookup
	}{{tensor.WeightF32, LookupNone}, {tensor.WeightF16, LookupTied}, {tensor.WeightQ8, LookupTied}, {tensor.WeightF16, LookupNone}, {tensor.WeightF32, LookupOnly}} {
		for _, dev := range []*tensor.Device{nil, tensor.NewCheckingDevice()} {
			s := checkpoint.NewStore("test", map[string]*tensor.Tensor{"l.weight": w})
			s.WeightType, s.Device = c.typ, dev
			l := NewLinear(s.Root().Sub("l"), in, out, false)
			l.Lookup = c.lookup
			if err := s.Prepare(); err != nil {
				t.Fatal(err)
			}
			before := dev.Transfers()
			got, err := l.Gather(ids)
			if err != nil {
				t.Fatal(err)
			}
			late := dev.Transfers().Uploads - before.Uploads
			if (late != 0) != (dev != nil && c.lookup == LookupNone && c.typ != tensor.WeightF32) {
				t.Errorf("%v %v on %s: %d uploads at the first Gather", c.typ, c.lookup, dev, late)
			}
			if c.lookup == LookupOnly && l.packed != nil {
				t.Errorf("LookupOnly layer packed on %s", dev)
			}
			g, err := tensor.HostData(got)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range want.Data() {
				if g[i] != v {
					t.Fatalf("%v %v on %s: element %d = %v, want %v", c.typ, c.lookup, dev, i, g[i], v)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestMLPRowBlocks checks that an MLP over more rows than it computes at a
// time (mlpChunk) adds exactly what one pass over all rows adds, for every
// weight type, with batched and flat inputs.
func TestMLPRowBlocks(t *testing.T) {
	const d, hidden = 48, 4096 // blocks of 256 rows
	r := rand.New(rand.NewSource(7))
	st := randStore(r, map[string][]int{
		"fc1.weight": {hidden, d}, "fc1.bias": {hidden},
		"fc2.weight": {d, hidden}, "fc2.bias": {d},
	})
	for _, typ := range []tensor.WeightType{tensor.WeightF32, tensor.WeightF16, tensor.WeightQ8} {
		st.WeightType = typ
		m := NewMLP(st.Root().Sub("fc1"), st.Root().Sub("fc2"), d, hidden, true, tensor.GELUExact)
		for _, shape := range [][]int{{700, d}, {3, 301, d}, {256, d}, {257, d}} {
			x := tensor.New(shape...)
			for i := range x.Data() {
				x.Data()[i] = r.Float32()*2 - 1
			}
			base := tensor.New(shape...)
			for i := range base.Data() {
				base.Data()[i] = float32(i%13) * 0.1
			}
			got := base.Clone()
			m.forwardAdd(x, got)
			// The reference: one pass over all rows.
			h := m.FC1.forwardActPadded(x, m.Act)
			want := base.Clone()
			m.FC2.ForwardAdd(h, want)
			for i, v := range want.Data() {
				if got.Data()[i] != v {
					t.Fatalf("%v %v: element %d = %v, want %v", typ, shape, i, got.Data()[i], v)
				}
			}
		}
	}
}
