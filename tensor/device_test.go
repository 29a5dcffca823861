package tensor

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// sameBits fails unless the host tensor want and the device tensor got
// hold identical values.
func sameBits(t *testing.T, what string, want, got *Tensor) {
	t.Helper()
	if got.Device() == nil {
		t.Fatalf("%s: result on the host, want on the device", what)
	}
	h, err := ToHost(got)
	if err != nil {
		t.Fatal(err)
	}
	if !SameShape(want, h) {
		t.Fatalf("%s: shape %v, want %v", what, h.Shape(), want.Shape())
	}
	wd, gd := want.Data(), h.Data()
	for i := range wd {
		if wd[i] != gd[i] && !(wd[i] != wd[i] && gd[i] != gd[i]) {
			t.Fatalf("%s: element %d = %v, want %v", what, i, gd[i], wd[i])
		}
	}
}

func mustT(x *Tensor, err error) *Tensor { return ok(x, err) }

func ok[T any](x T, err error) T {
	if err != nil {
		panic(err)
	}
	return x
}

// TestCheckingDeviceMatchesHost runs every operation of the Backend on the
// checking device and on the host: identical results, results on the
// device, and host reads of device tensors refused.
func TestCheckingDeviceMatchesHost(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	d := NewCheckingDevice()
	up := func(x *Tensor) *Tensor { return d.MustUpload(x) }
	x := randT(r, 2, 5, 16)
	w := randT(r, 24, 16)
	b := randT(r, 24)
	g, beta := randT(r, 16), randT(r, 16)
	dx, dw, db := up(x), up(w), up(b)

	sameBits(t, "Linear", mustT(Linear(x, w, b)), mustT(Linear(dx, dw, db)))
	sameBits(t, "MatMulT", mustT(MatMulT(x, x)), mustT(MatMulT(dx, dx)))
	sameBits(t, "Add", mustT(Add(x, g)), mustT(Add(dx, up(g))))
	sameBits(t, "Mul", mustT(Mul(x, g)), mustT(Mul(dx, up(g))))
	sameBits(t, "Scale", Scale(x, 3), Scale(dx, 3))
	sameBits(t, "Map", Map(x, GELUExact), Map(dx, GELUExact))
	sameBits(t, "Softmax", Softmax(x), Softmax(dx))
	sameBits(t, "LogSoftmax", LogSoftmax(x), LogSoftmax(dx))
	sameBits(t, "LayerNorm", mustT(LayerNorm(x, g, beta, 1e-5)), mustT(LayerNorm(dx, up(g), up(beta), 1e-5)))
	sameBits(t, "Clone of a transpose", x.Transpose(1, 2).Clone(), dx.Transpose(1, 2).Clone())
	sameBits(t, "Concat", mustT(Concat(1, x, x)), mustT(Concat(1, dx, dx)))
	sameBits(t, "Position", mustT(Position(x, 3)), mustT(Position(dx, 3)))
	sameBits(t, "Gather", mustT(Gather(x, []int{1, 0, 1})), mustT(Gather(dx, []int{1, 0, 1})))
	sameBits(t, "Embedding", mustT(Embedding(w, []int{3, 7})), mustT(Embedding(dw, []int{3, 7})))
	sameBits(t, "Attention", mustT(Attention(x, x, x, AttentionOptions{Heads: 2, Causal: true})),
		mustT(Attention(dx, dx, dx, AttentionOptions{Heads: 2, Causal: true})))
	for _, wt := range []WeightType{WeightF32, WeightF16, WeightQ8} {
		p := mustP(PackWeightAs(w, wt))
		dp := mustP(PackWeightAs(dw, wt))
		if dp.Device() != d {
			t.Fatalf("packed %v weight not on the device", wt)
		}
		sameBits(t, "LinearPacked", mustT(LinearPacked(x, p, b)), mustT(LinearPacked(dx, dp, db)))
		sameBits(t, "LinearPackedAct", mustT(LinearPackedAct(x, p, b, GELUTanh)), mustT(LinearPackedAct(dx, dp, db, GELUTanh)))
		acc, dacc := randT(r, 2, 5, 24), (*Tensor)(nil)
		dacc = up(acc)
		if err := LinearPackedAdd(acc, x, p, b); err != nil {
			t.Fatal(err)
		}
		if err := LinearPackedAdd(dacc, dx, dp, db); err != nil {
			t.Fatal(err)
		}
		sameBits(t, "LinearPackedAdd", acc, dacc)
		if wt != WeightQ8 {
			sameBits(t, "GatherPacked", mustT(GatherPacked(p, []int{0, 23, 5})), mustT(GatherPacked(dp, []int{0, 23, 5})))
		}
	}
	kv := mustKV(PackKV(x, x, 2, WeightF16))
	dkv := mustKV(PackKV(dx, dx, 2, WeightF16))
	q := randT(r, 2, 1, 16)
	sameBits(t, "AttentionPacked", mustT(AttentionPacked(q, kv, AttentionOptions{Heads: 2})), mustT(AttentionPacked(up(q), dkv, AttentionOptions{Heads: 2})))
	kv2, dkv2 := mustKV(kv.Reorder([]int{1, 1})), mustKV(dkv.Reorder([]int{1, 1}))
	sameBits(t, "ReorderKV", mustT(AttentionPacked(q, kv2, AttentionOptions{Heads: 2})), mustT(AttentionPacked(up(q), dkv2, AttentionOptions{Heads: 2})))
	cw, cb := randT(r, 8, 4, 3), randT(r, 8)
	cx := randT(r, 4, 20)
	sameBits(t, "Conv1d", mustT(Conv1d(cx, cw, cb, 2, 1, 1)), mustT(Conv1d(up(cx), up(cw), up(cb), 2, 1, 1)))
	pw, pb := randT(r, 6, 3, 4, 4), randT(r, 6)
	img := randT(r, 1, 3, 8, 8)
	sameBits(t, "PatchEmbed", mustT(PatchEmbed(img, pw, pb)), mustT(PatchEmbed(up(img), up(pw), up(pb))))

	// In-place operations.
	y, dy := x.Clone(), dx.Clone()
	MapInPlace(y, Tanh)
	MapInPlace(dy, Tanh)
	SoftmaxInPlace(y)
	SoftmaxInPlace(dy)
	if err := AddInPlace(y, x); err != nil {
		t.Fatal(err)
	}
	if err := AddInPlace(dy, dx); err != nil {
		t.Fatal(err)
	}
	sameBits(t, "in place", y, dy)
	pos := randT(r, 5, 16)
	if err := AddInPlace(y, pos); err != nil {
		t.Fatal(err)
	}
	if err := AddInPlace(dy, up(pos)); err != nil {
		t.Fatal(err)
	}
	sameBits(t, "broadcast add in place", y, dy)
	if err := AddInPlace(y, New(3, 16)); err == nil {
		t.Fatal("adding [3 16] into [2 5 16]: no error")
	}
	if got, want := ArgmaxRows(dy), ArgmaxRows(y); len(got) != len(want) || got[0] != want[0] || got[9] != want[9] {
		t.Fatalf("ArgmaxRows %v, want %v", got, want)
	}

	// Copy into a view, from a broadcast source.
	cache, dcache := New(2, 8, 16), d.New(2, 8, 16)
	row := randT(r, 16)
	src, _ := row.Expand(2, 3, 16)
	dsrc, _ := up(row).Expand(2, 3, 16)
	if err := Copy(cache.Slice(1, 2, 5), src); err != nil {
		t.Fatal(err)
	}
	if err := Copy(dcache.Slice(1, 2, 5), dsrc); err != nil {
		t.Fatal(err)
	}
	sameBits(t, "Copy", cache, dcache)
}

func mustP(p *PackedB, err error) *PackedB { return ok(p, err) }

func mustKV(p *PackedKV, err error) *PackedKV { return ok(p, err) }

func panics(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err, _ = r.(error)
			if err == nil {
				err = errors.New("panic")
			}
		}
	}()
	f()
	return nil
}

// TestDeviceHostAccessRefused: host reads of device storage, Go functions
// on a device and mixed operands fail with ErrDevice; explicit transfers
// are counted.
func TestDeviceHostAccessRefused(t *testing.T) {
	d := NewCheckingDevice()
	x, err := d.FromHost([]float32{1, 2, 3, 4}, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(){
		"Data":           func() { _ = x.Data() },
		"At":             func() { _ = x.At(0, 0) },
		"Set":            func() { x.Set(1, 0, 0) },
		"Map of a Go fn": func() { Map(x, func(v float32) float32 { return v + 1 }) },
		"mixed operands": func() { _, _ = Add(x, New(2, 2)) },
		"other device":   func() { _, _ = Add(x, NewCheckingDevice().New(2, 2)) },
	} {
		if err := panics(f); !errors.Is(err, ErrDevice) {
			t.Errorf("%s on a device tensor: %v, want ErrDevice", name, err)
		}
	}
	if tr := d.Transfers(); tr.Uploads != 1 || tr.Downloads != 0 || tr.UploadBytes != 16 {
		t.Fatalf("transfers %+v after one upload", tr)
	}
	h, err := HostData(Scale(x, 2))
	if err != nil || h[3] != 8 {
		t.Fatalf("HostData = %v, %v", h, err)
	}
	if tr := d.Transfers(); tr.Downloads != 1 {
		t.Fatalf("transfers %+v after one download", tr)
	}
	if s := x.String(); s != "Tensor[2 2][on check]" {
		t.Fatalf("String = %q", s)
	}
}

// TestReleaseTwiceIsHarmless is the sequence of the issue: a second
// Release of a tensor whose storage went to a later result must leave that
// result alone, in every build; so must releasing a view after its parent.
func TestReleaseTwiceIsHarmless(t *testing.T) {
	for _, dev := range []*Device{nil, NewCheckingDevice()} {
		a := dev.New(32, 32)
		if err := AddInPlace(a, dev.MustUpload(Scale(New(32, 32), 0))); err != nil {
			t.Fatal(err)
		}
		b := Scale(a, 2)
		Release(b)
		c := Scale(a, 3)
		Release(b)
		if c.Rank() != 2 || c.Dim(0) != 32 {
			t.Fatalf("%s: a second Release of a released tensor emptied a live one: %v", dev, c.Shape())
		}
		e := Scale(a, 4) // must not share c's storage
		if err := AddInPlace(e, a); err != nil {
			t.Fatal(err)
		}
		ch, _ := HostData(c)
		for _, v := range ch {
			if v != 0 {
				t.Fatalf("%s: c changed after a double release", dev)
			}
		}
		p := Scale(a, 1)
		v := p.Slice(0, 0, 4)
		Release(p)
		Release(v)
		Release(v)
		f := Scale(a, 5)
		if f.Rank() != 2 {
			t.Fatalf("%s: releasing a view after its parent broke a later result", dev)
		}
	}
}

// TestHostRows downloads logits from the host and from the checking
// device: the same rows, the slice reused, the device tensor released.
func TestHostRows(t *testing.T) {
	x := MustFromData([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	var rows [][]float32
	for _, in := range []*Tensor{x, NewCheckingDevice().MustUpload(x)} {
		h, got, err := HostRows(in, rows)
		if err != nil {
			t.Fatal(err)
		}
		if !h.OnHost() || len(got) != 2 || !slices.Equal(got[1], []float32{4, 5, 6}) || cap(got[0]) != 3 {
			t.Fatalf("HostRows: %v on the host %v", got, h.OnHost())
		}
		rows = got
	}
}

// TestUploadInput checks that UploadInput copies a host tensor to the
// device with a release function, and hands back a tensor already there
// (or any tensor, for the host) as it is.
func TestUploadInput(t *testing.T) {
	d := NewCheckingDevice()
	x := New(2, 3)
	u, done, err := d.UploadInput(x)
	if err != nil {
		t.Fatal(err)
	}
	if u == x || u.Device() != d {
		t.Fatalf("UploadInput gave %p on %v, want a copy on %v", u, u.Device(), d)
	}
	again, done2, err := d.UploadInput(u)
	if err != nil || again != u {
		t.Fatalf("UploadInput of a device tensor = %p, %v; want it back", again, err)
	}
	done2()
	done()
	var host *Device
	if h, done3, err := host.UploadInput(x); err != nil || h != x {
		t.Fatalf("host UploadInput = %p, %v; want x back", h, err)
	} else {
		done3()
	}
}
