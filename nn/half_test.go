package nn

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
	"github.com/x448/float16"
)

// halfCheckpoint writes a safetensors file with 16-bit tensors of the given
// dtype ("F16" or "BF16"): attention projections q, k, v [d, d] with biases,
// a wide layer w [out, in] and a norm weight. misalign shifts the data by
// one byte so that the values cannot be aliased. It returns the path and
// the float32 value of every tensor.
func halfCheckpoint(t *testing.T, dtype string, misalign bool) (string, map[string]*tensor.Tensor) {
	t.Helper()
	const d, out, in = 64, 96, 640
	shapes := map[string][]int{
		"q.weight": {d, d}, "q.bias": {d}, "k.weight": {d, d}, "v.weight": {d, d}, "v.bias": {d},
		"w.weight": {out, in}, "w.bias": {out}, "norm.weight": {d},
	}
	names := []string{"k.weight", "norm.weight", "q.bias", "q.weight", "v.bias", "v.weight", "w.bias", "w.weight"}
	r := rand.New(rand.NewSource(3))
	header := map[string]any{}
	var data []byte
	if misalign {
		data = append(data, 0)
	}
	vals := map[string]*tensor.Tensor{}
	for _, n := range names {
		v := tensor.New(shapes[n]...)
		start := len(data)
		for i := range v.Data() {
			x := float32(r.NormFloat64())
			var bits uint16
			if dtype == "F16" {
				bits = float16.Fromfloat32(x).Bits()
				v.Data()[i] = float16.Frombits(bits).Float32()
			} else {
				bits = uint16(math.Float32bits(x) >> 16)
				v.Data()[i] = math.Float32frombits(uint32(bits) << 16)
			}
			data = binary.LittleEndian.AppendUint16(data, bits)
		}
		header[n] = map[string]any{"dtype": dtype, "shape": shapes[n], "data_offsets": []int{start, len(data)}}
		vals[n] = v
	}
	// Make the data section start on an 8-byte boundary (then the misaligned
	// variant has every tensor at an odd address).
	for pad := ""; ; pad += " " {
		header["__metadata__"] = map[string]string{"pad": pad}
		if h, _ := json.Marshal(header); (8+len(h))%8 == 0 {
			break
		}
	}
	return testdata.WriteSafetensors(t, header, data), vals
}

// TestHalfCheckpointStaysHalf loads F16 and BF16 checkpoints (aligned and
// not) and checks that Linear layers keep the weight 16-bit (nil W, packed
// in the checkpoint's type) while computing exactly what the widened weight
// computes, that Weight, Rows and the fused attention projection agree, and
// that every other reader of the store gets the widened values.
func TestHalfCheckpointStaysHalf(t *testing.T) {
	for _, dtype := range []string{"F16", "BF16"} {
		for _, misalign := range []bool{false, true} {
			path, vals := halfCheckpoint(t, dtype, misalign)
			st, err := checkpoint.LoadSafetensors(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Len() != len(vals) || len(st.Names()) != len(vals) || st.DType("w.weight") != dtype {
				t.Fatalf("%s: Len %d Names %d DType %q", dtype, st.Len(), len(st.Names()), st.DType("w.weight"))
			}
			root := st.Root()
			l := NewLinear(root.Sub("w"), 640, 96, true)
			kind := tensor.WeightF16
			if dtype == "BF16" {
				kind = tensor.WeightBF16
			}
			if l.W != nil || l.Type != kind || l.In() != 640 || l.Out() != 96 {
				t.Fatalf("%s: W %v, Type %v, In %d, Out %d", dtype, l.W != nil, l.Type, l.In(), l.Out())
			}
			r := rand.New(rand.NewSource(4))
			x := fastRandTensor(r, 5, 640)
			want := must(tensor.Linear(x, vals["w.weight"], vals["w.bias"]))
			if d := testdata.TensorDiff(t, "Forward", l.Forward(x), want); d > 1e-4 {
				t.Fatalf("%s misalign=%v: Forward differs by %g", dtype, misalign, d)
			}
			// After packing (the file pages dropped), Weight still reads the values.
			if d := testdata.TensorDiff(t, "Weight", l.Weight(), vals["w.weight"]); d != 0 {
				t.Fatalf("%s: Weight differs by %g", dtype, d)
			}
			part := l.Rows(32, 80)
			if part.W != nil || part.Out() != 48 || part.In() != 640 {
				t.Fatalf("%s: Rows: W %v, %d×%d", dtype, part.W != nil, part.Out(), part.In())
			}
			wantPart := must(tensor.Linear(x, vals["w.weight"].Slice(0, 32, 80), vals["w.bias"].Slice(0, 32, 80)))
			if d := testdata.TensorDiff(t, "Rows Forward", part.Forward(x), wantPart); d > 1e-4 {
				t.Fatalf("%s: Rows Forward differs by %g", dtype, d)
			}

			// Fused self-attention from 16-bit projections.
			a := &Attention{
				Q: NewLinear(root.Sub("q"), 64, 64, true), K: NewLinear(root.Sub("k"), 64, 64, false),
				V: NewLinear(root.Sub("v"), 64, 64, true), O: &Linear{W: vals["q.weight"]}, Heads: 4,
			}
			// (without assembly kernels packed weights stay float32)
			probe, _ := tensor.PackWeightAs(tensor.New(2, 2), kind)
			if p, _ := a.fusedQKV(); p == nil || p.Type() != probe.Type() {
				t.Fatalf("%s: fused QKV not built in %v", dtype, kind)
			}
			xs := fastRandTensor(r, 1, 7, 64)
			ref := &Attention{
				Q: &Linear{W: vals["q.weight"], B: vals["q.bias"]}, K: &Linear{W: vals["k.weight"]},
				V: &Linear{W: vals["v.weight"], B: vals["v.bias"]}, O: &Linear{W: vals["q.weight"]}, Heads: 4,
			}
			got := a.Self(xs, AttnOptions{Causal: true})
			exp := ref.Self(xs, AttnOptions{Causal: true})
			if d := testdata.TensorDiff(t, "attention", got, exp); d > 1e-4 {
				t.Fatalf("%s: fused attention differs by %g", dtype, d)
			}

			// Any other reader gets float32, once.
			n := root.Tensor("norm.weight", 64)
			if d := testdata.TensorDiff(t, "norm", n, vals["norm.weight"]); d != 0 || st.DType("norm.weight") != dtype {
				t.Fatalf("%s: widened norm differs by %g (DType %q)", dtype, d, st.DType("norm.weight"))
			}
			if again, _ := st.Get("norm.weight"); again != n {
				t.Fatalf("%s: second read widened again", dtype)
			}
			if err := st.Err(true); err != nil {
				t.Fatalf("%s: %v", dtype, err)
			}
			st.Rename(func(s string) string { return "x." + s })
			if !st.Root().Has("x.w.weight") || st.DType("x.w.weight") != dtype || st.DType("x.norm.weight") != dtype {
				t.Fatalf("%s: Rename lost 16-bit tensors: %v", dtype, st.Names())
			}
			// A shape mismatch on a 16-bit tensor is reported like any other.
			NewLinear(st.Root().Sub("x.w"), 96, 640, true)
			if err := st.Err(false); err == nil {
				t.Fatalf("%s: transposed shape not reported", dtype)
			}
			st.Close()
		}
	}
}

func TestApplyLoadOptions(t *testing.T) {
	o, err := ApplyLoadOptions([]LoadOption{nil, WithWeightType(tensor.WeightBF16)})
	if err != nil || o.WeightType != tensor.WeightBF16 {
		t.Fatalf("got %+v, %v", o, err)
	}
	st := checkpoint.NewStore("x", map[string]*tensor.Tensor{})
	o.Apply(st)
	if st.WeightType != tensor.WeightBF16 {
		t.Fatalf("Apply: store weight type %v", st.WeightType)
	}
	if _, err := ApplyLoadOptions([]LoadOption{WithWeightType(tensor.WeightType(-1))}); !errors.Is(err, ErrConfig) {
		t.Fatalf("unknown weight type: err %v", err)
	}
	if o, err := ApplyLoadOptions([]LoadOption{WithWeightType(tensor.WeightQ8)}); err != nil || o.WeightType != tensor.WeightQ8 {
		t.Fatalf("Q8 weights: %+v, %v", o, err)
	}
	if _, err := ApplyLoadOptions([]LoadOption{WithKVType(tensor.WeightQ8)}); !errors.Is(err, ErrConfig) {
		t.Fatalf("Q8 keys/values: err %v, want ErrConfig", err)
	}
	if _, err := ApplyLoadOptions([]LoadOption{WithSelfKVType(tensor.WeightQ8)}); !errors.Is(err, ErrConfig) {
		t.Fatalf("Q8 self-attention cache: err %v, want ErrConfig", err)
	}
	o, err = ApplyLoadOptions([]LoadOption{WithKVType(tensor.WeightF16), WithSelfKVType(tensor.WeightBF16)})
	if err != nil {
		t.Fatal(err)
	}
	blk := &DecoderBlock{SelfAttn: &Attention{}, CrossAttn: &Attention{}}
	o.ApplyKV([]*DecoderBlock{blk, nil, {SelfAttn: &Attention{}}})
	if blk.CrossAttn.KVType != tensor.WeightF16 || blk.SelfAttn.KVType != tensor.WeightBF16 {
		t.Fatalf("ApplyKV: cross %v, self %v", blk.CrossAttn.KVType, blk.SelfAttn.KVType)
	}
}

// TestQ8Linear checks that a store with WeightType Q8 makes Linear layers
// (from F16, BF16 and float32 tensors) and the fused attention projection
// pack int8 weights that compute exactly what tensor.PackWeightAs(weight,
// WeightQ8) computes.
func TestQ8Linear(t *testing.T) {
	for _, dtype := range []string{"F16", "BF16", "F32"} {
		var st *checkpoint.Store
		var vals map[string]*tensor.Tensor
		if dtype == "F32" {
			r := rand.New(rand.NewSource(9))
			vals = map[string]*tensor.Tensor{"w.weight": fastRandTensor(r, 96, 640), "w.bias": fastRandTensor(r, 96)}
			st = checkpoint.NewStore("mem", map[string]*tensor.Tensor{"w.weight": vals["w.weight"].Contiguous(), "w.bias": vals["w.bias"]})
		} else {
			path, v := halfCheckpoint(t, dtype, false)
			var err error
			if st, err = checkpoint.LoadSafetensors(path); err != nil {
				t.Fatal(err)
			}
			vals = v
		}
		st.WeightType = tensor.WeightQ8
		l := NewLinear(st.Root().Sub("w"), 640, 96, true)
		if l.Type != tensor.WeightQ8 {
			t.Fatalf("%s: Linear type %v, want Q8", dtype, l.Type)
		}
		x := fastRandTensor(rand.New(rand.NewSource(10)), 5, 640)
		p, err := tensor.PackWeightAs(vals["w.weight"], tensor.WeightQ8)
		if err != nil {
			t.Fatal(err)
		}
		want := must(tensor.LinearPacked(x, p, vals["w.bias"]))
		if d := testdata.TensorDiff(t, dtype, l.Forward(x), want); d != 0 {
			t.Fatalf("%s: Q8 Forward differs from the packed reference by %g", dtype, d)
		}
		if l.packedW().Type() != tensor.WeightQ8 {
			t.Fatalf("%s: packed as %v", dtype, l.packedW().Type())
		}
		if d := testdata.TensorDiff(t, dtype+" Weight", l.Weight(), vals["w.weight"]); d != 0 {
			t.Fatalf("%s: Weight differs by %g after Q8 packing", dtype, d)
		}
		st.Close()
	}
}

// TestPyTorchHalfTypes loads a torch.save'd state dict with F16 and BF16
// tensors (checkpoint/testdata/half.pt, written by PyTorch 1.13; half.json
// holds its values as float32) and checks the values, the recorded types
// and that a Linear built from it packs its weight in the checkpoint's
// type, exactly.
func TestPyTorchHalfTypes(t *testing.T) {
	dir := filepath.Join("..", "checkpoint", "testdata")
	st, err := checkpoint.LoadFile(filepath.Join(dir, "half.pt"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "half.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string][]float32
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	for name, dt := range map[string]string{"a.weight": "F16", "a.bias": "F16", "b.weight": "BF16", "c": "F32"} {
		if got := st.DType(name); got != dt {
			t.Errorf("%s: DType %q, want %q", name, got, dt)
		}
		if x, ok := st.Get(name); !ok || !slices.Equal(x.Data(), want[name]) {
			t.Fatalf("%s: %v (present %v), want %v", name, x, ok, want[name])
		}
	}
	a := NewLinear(st.Root().Sub("a"), 16, 32, true)
	b := NewLinear(st.Root().Sub("b"), 4, 8, false)
	if a.Type != tensor.WeightF16 || b.Type != tensor.WeightBF16 {
		t.Fatalf("packed as %v and %v, want F16 and BF16", a.Type, b.Type)
	}
	x := fastRandTensor(rand.New(rand.NewSource(5)), 3, 16)
	aw, _ := st.Get("a.weight")
	ab, _ := st.Get("a.bias")
	if d := testdata.TensorDiff(t, "F16 Linear", a.Forward(x), must(tensor.Linear(x, aw, ab))); d > 1e-5 {
		t.Fatalf("F16 Linear differs by %g", d)
	}
}
