package nn

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
	"github.com/x448/float16"
)

func fastRandTensor(r *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	d := t.Data()
	for i := range d {
		d[i] = r.Float32()*2 - 1
	}
	return t
}

// TestLinearPackedForms checks Forward, ForwardAct and ForwardAdd against
// the unpacked tensor.Linear, for weights kept as F32, F16 (a checkpoint
// stored in F16: exact) and BF16 by opt-in (rounded).
func TestLinearPackedForms(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	w16 := fastRandTensor(r, 40, 70)
	for i, v := range w16.Data() {
		w16.Data()[i] = float16.Fromfloat32(v).Float32()
	}
	wf := fastRandTensor(r, 40, 70)
	b := fastRandTensor(r, 40)
	// A checkpoint with a.weight stored F16, the rest F32.
	header := map[string]any{}
	var data []byte
	for _, e := range []struct {
		name string
		t    *tensor.Tensor
	}{{"a.weight", w16}, {"a.bias", b}, {"b.weight", wf}, {"b.bias", b}} {
		start, dt := len(data), "F32"
		for _, v := range e.t.Data() {
			if e.name == "a.weight" {
				dt = "F16"
				data = binary.LittleEndian.AppendUint16(data, float16.Fromfloat32(v).Bits())
			} else {
				data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
			}
		}
		header[e.name] = map[string]any{"dtype": dt, "shape": e.t.Shape(), "data_offsets": []int{start, len(data)}}
	}
	st, err := checkpoint.LoadSafetensors(testdata.WriteSafetensors(t, header, data))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Read as float32 first, the weight is widened (W set) but still packed
	// in the checkpoint's type.
	if w, _ := st.Get("a.weight"); testdata.TensorDiff(t, "a.weight", w, w16) != 0 {
		t.Fatal("F16 weight read back wrong")
	}
	a := NewLinear(st.Root().Sub("a"), 70, 40, true)
	if a.W == nil || a.Type != tensor.WeightF16 {
		t.Fatalf("F16 checkpoint weight packed as %v (W set: %v)", a.Type, a.W != nil)
	}
	st.WeightType = tensor.WeightBF16
	bl := NewLinear(st.Root().Sub("b"), 70, 40, true)
	if bl.Type != tensor.WeightBF16 {
		t.Fatalf("opt-in BF16 weight packed as %v", bl.Type)
	}
	plain := &Linear{W: wf, B: b}
	for _, c := range []struct {
		l   *Linear
		tol float64
	}{{a, 1e-5}, {bl, 0.05}, {plain, 1e-5}} {
		for _, m := range []int{1, 5, 60} {
			x := fastRandTensor(r, 2, m, 70)
			want := must(tensor.Linear(x, c.l.W, c.l.B))
			if d := testdata.TensorDiff(t, "Forward", c.l.Forward(x), want); d > c.tol {
				t.Fatalf("%v Forward m=%d: diff %g", c.l.Type, m, d)
			}
			act := tensor.Map(want, tensor.GELUExact)
			if d := testdata.TensorDiff(t, "ForwardAct", c.l.ForwardAct(x, tensor.GELUExact), act); d > c.tol {
				t.Fatalf("%v ForwardAct m=%d: diff %g", c.l.Type, m, d)
			}
			dst := fastRandTensor(r, 2, m, 40)
			sum := must(tensor.Add(dst, want))
			c.l.ForwardAdd(x, dst)
			if d := testdata.TensorDiff(t, "ForwardAdd", dst, sum); d > c.tol {
				t.Fatalf("%v ForwardAdd m=%d: diff %g", c.l.Type, m, d)
			}
		}
	}
}

// TestPackReleasesMappedWeight loads an F32 safetensors weight (mapped
// zero-copy), runs a Linear (which packs it and drops the mapped pages) and
// checks that W still reads back the file's values.
func TestPackReleasesMappedWeight(t *testing.T) {
	const out, in = 64, 1024 // 256 KiB: whole pages to release
	r := rand.New(rand.NewSource(2))
	vals := make([]float32, out*in)
	data := make([]byte, 4*len(vals))
	for i := range vals {
		vals[i] = r.Float32() - 0.5
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(vals[i]))
	}
	header := map[string]any{
		"l.weight": map[string]any{"dtype": "F32", "shape": []int{out, in}, "data_offsets": []int{0, len(data)}},
	}
	// Pad the header so that the data is 4-byte aligned (read zero-copy).
	for pad := ""; ; pad += " " {
		header["__metadata__"] = map[string]string{"pad": pad}
		if h, _ := json.Marshal(header); (8+len(h))%4 == 0 {
			break
		}
	}
	path := testdata.WriteSafetensors(t, header, data)
	st, err := checkpoint.LoadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l := NewLinear(st.Root().Sub("l"), in, out, false)
	// Where the platform maps the file (unix), W aliases the mapping and
	// packing drops its pages; elsewhere W is a copy and nothing is dropped:
	// either way W and Forward must stay right.
	if want := checkpoint.ZeroCopy; checkpoint.IsMapped(l.W) != want {
		t.Fatalf("weight read zero-copy from the mapping: %v, want %v", checkpoint.IsMapped(l.W), want)
	}
	x := fastRandTensor(r, 3, in)
	y := l.Forward(x)
	want := must(tensor.Linear(x, tensor.MustFromData(vals, out, in), nil))
	if d := testdata.TensorDiff(t, "Forward", y, want); d > 1e-4 {
		t.Fatalf("Forward differs by %g", d)
	}
	for i, v := range l.W.Data() {
		if v != vals[i] {
			t.Fatalf("W[%d] = %g after packing, want %g", i, v, vals[i])
		}
	}
}
