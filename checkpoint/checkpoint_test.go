package checkpoint

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

func TestViTLoadsIdenticallyFromSafetensorsAndBin(t *testing.T) {
	dir := filepath.Join(testdata.Fixture(t, "vit"), "model")
	st, err := LoadFile(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pt, err := LoadFile(filepath.Join(dir, "pytorch_model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Len() == 0 {
		t.Fatal("no tensors")
	}
	for _, name := range st.Names() {
		a, _ := st.Get(name)
		b, ok := pt.Get(name)
		if !ok {
			t.Fatalf("%s missing from pytorch_model.bin", name)
		}
		if !tensor.SameShape(a, b) {
			t.Fatalf("%s: shapes %v vs %v", name, a.Shape(), b.Shape())
		}
		ad, bd := a.Data(), b.Data()
		for i := range ad {
			if ad[i] != bd[i] {
				t.Fatalf("%s[%d]: %g vs %g", name, i, ad[i], bd[i])
			}
		}
	}
	for _, name := range pt.Names() {
		if _, ok := st.Get(name); !ok {
			t.Fatalf("%s only in pytorch_model.bin", name)
		}
	}
	// LoadDir prefers safetensors.
	d, err := LoadDir(dir)
	if err != nil || !strings.HasSuffix(d.Source, "model.safetensors") {
		t.Fatalf("LoadDir picked %q: %v", d.Source, err)
	}
	d.Close()
}

// f16ToF32 is an independent IEEE half → single conversion (bit by bit).
func f16ToF32(h uint16) float32 {
	sign := float64(1)
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0:
		return float32(sign * frac / 1024 * math.Pow(2, -14))
	case 31:
		if frac == 0 {
			return float32(math.Inf(int(sign)))
		}
		return float32(math.NaN())
	}
	return float32(sign * (1 + frac/1024) * math.Pow(2, float64(exp-15)))
}

func TestHalfPrecisionUpcast(t *testing.T) {
	for _, fx := range []struct{ name, dtype string }{{"whisper", "F16"}, {"clip", "BF16"}} {
		path := filepath.Join(testdata.Fixture(t, fx.name), "model", "model.safetensors")
		f, err := OpenSafetensors(path)
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, name := range f.Names() {
			info, _ := f.Info(name)
			if info.DType != fx.dtype {
				continue
			}
			raw, _ := f.Bytes(name)
			got, err := f.Tensor(name)
			if err != nil {
				t.Fatal(err)
			}
			gd := got.Data()
			for i := range gd {
				bits := binary.LittleEndian.Uint16(raw[2*i:])
				var want float32
				if fx.dtype == "F16" {
					want = f16ToF32(bits)
				} else {
					want = math.Float32frombits(uint32(bits) << 16)
				}
				if gd[i] != want && !(math.IsNaN(float64(want)) && math.IsNaN(float64(gd[i]))) {
					t.Fatalf("%s %s[%d]: %g, want %g", fx.name, name, i, gd[i], want)
				}
			}
			checked++
		}
		if checked == 0 {
			t.Fatalf("%s: no %s tensors found", fx.name, fx.dtype)
		}
		f.Close()
	}
}

func TestSafetensorsErrors(t *testing.T) {
	good := map[string]any{"w": map[string]any{"dtype": "F32", "shape": []int{2, 2}, "data_offsets": []int{0, 16}}}
	p := testdata.WriteSafetensors(t, good, make([]byte, 16))
	s, err := LoadSafetensors(p)
	if err != nil {
		t.Fatalf("valid file: %v", err)
	}
	s.Close()

	// rawFile writes a file of a header length n and the bytes of rest.
	rawFile := func(n uint64, rest string) string {
		p := filepath.Join(t.TempDir(), "x.safetensors")
		var buf bytes.Buffer
		binary.Write(&buf, binary.LittleEndian, n)
		buf.WriteString(rest)
		os.WriteFile(p, buf.Bytes(), 0o644)
		return p
	}
	cases := []struct {
		name string
		file func() string
		want string
	}{
		{"truncated data", func() string { return testdata.WriteSafetensors(t, good, make([]byte, 10)) }, "outside the 10-byte data section"},
		{"header larger than file", func() string { return rawFile(1000, "{}") }, "header length 1000 is larger than the file"},
		{"tiny file", func() string {
			p := filepath.Join(t.TempDir(), "x.safetensors")
			os.WriteFile(p, []byte{1, 2}, 0o644)
			return p
		}, "too short"},
		{"unknown dtype", func() string {
			return testdata.WriteSafetensors(t, map[string]any{"w": map[string]any{"dtype": "Q4", "shape": []int{2}, "data_offsets": []int{0, 2}}}, make([]byte, 2))
		}, `unsupported dtype "Q4"`},
		{"byte count vs shape", func() string {
			return testdata.WriteSafetensors(t, map[string]any{"w": map[string]any{"dtype": "F32", "shape": []int{3}, "data_offsets": []int{0, 8}}}, make([]byte, 8))
		}, "8 bytes stored for F32 shape [3] (needs 12)"},
		{"overflowing shape", func() string {
			return testdata.WriteSafetensors(t, map[string]any{"w": map[string]any{"dtype": "F32", "shape": []int{1 << 40, 1 << 40}, "data_offsets": []int{0, 8}}}, make([]byte, 8))
		}, "overflows"},
		{"bad json", func() string { return rawFile(3, "{{{") }, "not valid JSON"},
	}
	for _, c := range cases {
		_, err := LoadSafetensors(c.file())
		if err == nil {
			t.Fatalf("%s: no error", c.name)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: error %q does not mention %q", c.name, err, c.want)
		}
		if c.name != "unknown dtype" && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: %v does not wrap ErrCorrupt", c.name, err)
		}
	}
	// A real checkpoint cut short is refused.
	real := filepath.Join(testdata.Fixture(t, "vit"), "model", "model.safetensors")
	b, _ := os.ReadFile(real)
	cut := filepath.Join(t.TempDir(), "cut.safetensors")
	os.WriteFile(cut, b[:len(b)/2], 0o644)
	if _, err := LoadSafetensors(cut); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated real checkpoint: %v", err)
	}
}

func TestShapeMismatchAndMissingReported(t *testing.T) {
	s := NewStore("test.safetensors", map[string]*tensor.Tensor{
		"enc.a.weight": tensor.New(4, 3),
		"enc.b.weight": tensor.New(2),
		"extra":        tensor.New(1),
	})
	if err := s.Root().CheckStore("x"); err != nil {
		t.Errorf("CheckStore of a store's view: %v", err)
	}
	if err := (Weights{}).CheckStore("x"); !errors.Is(err, ErrMissingWeights) || !strings.HasPrefix(err.Error(), "x: ") {
		t.Errorf("CheckStore of the zero Weights: %v", err)
	}
	w := s.Root().Sub("enc").Sub("") // Sub("") is the same view
	if w.Prefix() != "enc." {
		t.Fatalf("Sub(\"enc\").Sub(\"\") has prefix %q", w.Prefix())
	}
	w.Tensor("a.weight", 5, 3) // wrong shape
	w.Tensor("a.bias", 5)      // missing
	w.Tensor("c.weight", 4, 3)
	err := s.Err(true)
	if !errors.Is(err, ErrMissingWeights) {
		t.Fatalf("want ErrMissingWeights, got %v", err)
	}
	for _, want := range []string{"enc.a.weight has shape [4 3], want [5 3]", "missing enc.a.bias [5]", "missing enc.c.weight [4 3]", "unexpected: enc.b.weight, extra"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q lacks %q", err, want)
		}
	}
	if err := s.Err(true, "enc.b.", "extra"); strings.Contains(err.Error(), "unexpected") {
		t.Fatalf("ignored names still reported: %v", err)
	}
}

func writeZip(t *testing.T, files map[string][]byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pytorch_model.bin")
	f, _ := os.Create(p)
	zw := zip.NewWriter(f)
	for name, data := range files {
		w, _ := zw.Create(name)
		w.Write(data)
	}
	zw.Close()
	f.Close()
	return p
}

func TestForbiddenPickleGlobal(t *testing.T) {
	// protocol 2: GLOBAL 'os system', then STOP.
	pkl := []byte("\x80\x02cos\nsystem\nq\x00.")
	p := writeZip(t, map[string][]byte{"archive/data.pkl": pkl, "archive/version": []byte("3\n")})
	_, _, err := OpenPyTorch(p)
	if !errors.Is(err, ErrForbiddenPickle) {
		t.Fatalf("want ErrForbiddenPickle, got %v", err)
	}
	if !strings.Contains(err.Error(), "os.system") {
		t.Fatalf("error %q does not name the global", err)
	}
	// builtins.eval via REDUCE
	pkl = []byte("\x80\x02cbuiltins\neval\nq\x00X\x04\x00\x00\x001+1\x85R.")
	p = writeZip(t, map[string][]byte{"archive/data.pkl": pkl})
	if _, _, err := OpenPyTorch(p); !errors.Is(err, ErrForbiddenPickle) {
		t.Fatalf("eval: want ErrForbiddenPickle, got %v", err)
	}
	// garbage is corrupt, not a panic
	p = writeZip(t, map[string][]byte{"archive/data.pkl": []byte("\x80\x02}q\x00(X")})
	if _, _, err := OpenPyTorch(p); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated pickle: %v", err)
	}
}
