package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goformer/goformer/tensor"
)

// checkTestTensors checks that a store read from a checkpoint holding
// testTensors has each with its shape, type and values.
func checkTestTensors(t *testing.T, s *Store) {
	t.Helper()
	if s.Len() != len(testTensors) {
		t.Errorf("%d tensors, want %d: %v", s.Len(), len(testTensors), s.Names())
	}
	for _, tt := range testTensors {
		dt := "F32"
		if tt.spec.storage.class == "HalfStorage" {
			dt = "F16"
			// 16-bit tensors stay 16-bit until widened.
			if h, ok := s.Root().Half(tt.name, tt.spec.size...); !ok || h.Kind != tensor.WeightF16 {
				t.Errorf("%s: not held 16-bit", tt.name)
			}
		}
		if got := s.DType(tt.name); got != dt {
			t.Errorf("%s: DType %s, want %s", tt.name, got, dt)
		}
		x, ok := s.Get(tt.name)
		if !ok {
			t.Errorf("%s missing", tt.name)
			continue
		}
		if !tensor.SameShape(x, tensor.New(tt.spec.size...)) {
			t.Errorf("%s: shape %v, want %v", tt.name, x.Shape(), tt.spec.size)
			continue
		}
		for i, v := range x.Contiguous().Data() {
			if v != tt.want[i] {
				t.Errorf("%s[%d] = %g, want %g", tt.name, i, v, tt.want[i])
				break
			}
		}
	}
}

// TestPyTorchZipStateDict reads a zip state dict with parameters, views
// sharing a storage (transposed, offset, strided) and 16-bit tensors.
func TestPyTorchZipStateDict(t *testing.T) {
	p := zipWith(t, t.TempDir(), "pytorch_model.bin", map[string][]byte{
		"archive/data.pkl": stateDictPickle(),
		"archive/version":  []byte("3\n"),
		"archive/data/0":   f32Bytes(valuesF32),
		"archive/data/1":   f16Bytes(valuesF16),
	})
	s, extra, err := OpenPyTorch(p)
	if err != nil {
		t.Fatal(err)
	}
	checkTestTensors(t, s)
	if extra["step"] != 7 || len(extra) != 1 {
		t.Errorf("extra %v, want step=7", extra)
	}
	// LoadFile takes the same path for *.bin.
	s2, err := LoadFile(p)
	if err != nil || s2.Len() != len(testTensors) {
		t.Fatalf("LoadFile: %v", err)
	}
}

// TestPyTorchLegacy reads the same state dict in the legacy (pre-zip)
// format and refuses broken variants of it.
func TestPyTorchLegacy(t *testing.T) {
	good := legacyFile(t)
	s, extra, err := OpenPyTorch(writeFile(t, "legacy.pt", good))
	if err != nil {
		t.Fatal(err)
	}
	checkTestTensors(t, s)
	if extra["step"] != 7 {
		t.Errorf("extra %v, want step=7", extra)
	}
	for _, c := range []struct {
		name string
		edit func([]byte) []byte
	}{
		{"truncated storage", func(b []byte) []byte { return b[:len(b)-3] }},
		{"bad magic", func(b []byte) []byte { c := append([]byte(nil), b...); c[4] ^= 1; return c }},
		{"wrong element count", func(b []byte) []byte {
			c := append([]byte(nil), b...)
			c[len(c)-12-8] = 7 // the F16 storage's count: 6 → 7
			return c
		}},
	} {
		_, _, err := OpenPyTorch(writeFile(t, "legacy.pt", c.edit(good)))
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", c.name, err)
		}
	}
}

// TestTorchScriptArchive reads a TorchScript module tree: tensors named by
// attribute path, module attributes in extra; the module classes are
// refused where there is no constants.pkl (a state dict).
func TestTorchScriptArchive(t *testing.T) {
	rec := torchScriptRecords()
	s, extra, err := OpenPyTorch(zipWith(t, t.TempDir(), "tiny.pt", rec))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float32{
		"proj.weight": valuesF32[:8],
		"proj.bias":   valuesF32[8:10],
		"scale":       valuesF16,
	}
	if got := strings.Join(s.Names(), " "); got != "proj.bias proj.weight scale" {
		t.Fatalf("names %q", got)
	}
	for name, w := range want {
		x, _ := s.Get(name)
		for i, v := range x.Data() {
			if v != w[i] {
				t.Fatalf("%s[%d] = %g, want %g", name, i, v, w[i])
			}
		}
	}
	if s.DType("scale") != "F16" {
		t.Errorf("scale: DType %s", s.DType("scale"))
	}
	if extra["num_heads"] != 4 || extra["training"] != true || extra["proj.training"] != nil || extra["names.x"] != 1 {
		t.Errorf("extra %v", extra)
	}

	delete(rec, "tiny/constants.pkl")
	if _, _, err := OpenPyTorch(zipWith(t, t.TempDir(), "state.pt", rec)); !errors.Is(err, ErrForbiddenPickle) || !strings.Contains(err.Error(), "__torch__.Model") {
		t.Fatalf("module class in a state dict: got %v, want ErrForbiddenPickle", err)
	}
}

// TestPyTorchStorageErrors refuses missing, short and unknown storages and
// views outside their storage.
func TestPyTorchStorageErrors(t *testing.T) {
	base := func() map[string][]byte {
		return map[string][]byte{
			"archive/data.pkl": stateDictPickle(),
			"archive/data/0":   f32Bytes(valuesF32),
			"archive/data/1":   f16Bytes(valuesF16),
		}
	}
	dir := t.TempDir()
	missing := base()
	delete(missing, "archive/data/1")
	short := base()
	short["archive/data/0"] = short["archive/data/0"][:40]
	outside := base()
	outside["archive/data.pkl"] = newPickle().op('}', '(').str("x").
		tensor(tensorSpec{storage: storageF32, offset: 2, size: []int{3, 4}, stride: []int{4, 1}}).op('u').stop()
	expanded := base()
	expanded["archive/data.pkl"] = newPickle().op('}', '(').str("x").
		tensor(tensorSpec{storage: storageF16, size: []int{100, 6}, stride: []int{0, 1}}).op('u').stop()
	for name, rec := range map[string]map[string][]byte{"missing": missing, "short": short, "outside": outside, "expanded": expanded} {
		if _, _, err := OpenPyTorch(zipWith(t, dir, name+".bin", rec)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s storage: got %v, want ErrCorrupt", name, err)
		}
	}
	unknown := base()
	unknown["archive/data.pkl"] = newPickle().op('}', '(').str("x").
		tensor(tensorSpec{storage: storageSpec{"ComplexFloatStorage", "0", 1}, size: []int{1}, stride: []int{1}}).op('u').stop()
	if _, _, err := OpenPyTorch(zipWith(t, dir, "unknown.bin", unknown)); !errors.Is(err, ErrUnsupportedDType) {
		t.Errorf("complex storage: got %v, want ErrUnsupportedDType", err)
	}
}

// TestPyTorchHalfStaysHalf reads a torch.save'd state dict with F16 and
// BF16 tensors written by PyTorch 1.13 (testdata/half.pt; half.json holds
// its values as float32): 16-bit tensors are held in their own type, the
// values are exact.
func TestPyTorchHalfStaysHalf(t *testing.T) {
	st, err := LoadFile(filepath.Join("testdata", "half.pt"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "half.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string][]float32
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]tensor.WeightType{"a.weight": tensor.WeightF16, "a.bias": tensor.WeightF16, "b.weight": tensor.WeightBF16}
	for name, dt := range map[string]string{"a.weight": "F16", "a.bias": "F16", "b.weight": "BF16", "c": "F32"} {
		if got := st.DType(name); got != dt {
			t.Errorf("%s: DType %q, want %q", name, got, dt)
		}
		if k, ok := kinds[name]; ok {
			st.mu.Lock()
			h := st.half[name]
			st.mu.Unlock()
			if h == nil || h.Kind != k {
				t.Errorf("%s: not held as %v", name, k)
			}
		}
		x, ok := st.Get(name)
		if !ok {
			t.Fatalf("%s missing", name)
		}
		for i, v := range want[name] {
			if x.Data()[i] != v {
				t.Fatalf("%s[%d] = %g, want %g", name, i, x.Data()[i], v)
			}
		}
	}
}

// TestPickleSharedContainers refuses, quickly, pickles whose memo makes a
// few hundred bytes describe a tree of exponential size: 2^40 paths
// through one shared dict, and the same with long keys (names of any total
// length).
func TestPickleSharedContainers(t *testing.T) {
	for _, key := range []string{"a", strings.Repeat("k", 4000)} {
		p := newPickle().op('}', 'q', 0) // EMPTY_DICT, BINPUT 0
		for i := 0; i < 40; i++ {
			// memo[0] = {key: memo[0], key+"2": memo[0]}
			p.op('}', '(').str(key).op('h', 0).str(key+"2").op('h', 0).op('u', 'q', 0)
		}
		path := zipWith(t, t.TempDir(), "dag.bin", map[string][]byte{"archive/data.pkl": p.stop()})
		if _, _, err := OpenPyTorch(path); !errors.Is(err, ErrCorrupt) {
			t.Errorf("key of %d bytes: got %v, want ErrCorrupt", len(key), err)
		}
	}
}

// TestPyTorchHugeStorage refuses a storage whose element count, times its
// element size, overflows: the byte count must not wrap around to
// something the file seems to hold (a tensor of any size would then be
// allocated before its first read fails). The refusal must be the reader's
// own check, not a recovered panic.
func TestPyTorchHugeStorage(t *testing.T) {
	huge := storageSpec{"DoubleStorage", "0", 1 << 61} // 2^61·8 wraps to 0
	pkl := newPickle().op('}', '(').str("x").
		tensor(tensorSpec{storage: huge, size: []int{1 << 20}, stride: []int{1}}).op('u').stop()
	p := zipWith(t, t.TempDir(), "huge.bin", map[string][]byte{"archive/data.pkl": pkl, "archive/data/0": nil})
	if _, _, err := OpenPyTorch(p); !errors.Is(err, ErrCorrupt) || strings.Contains(err.Error(), "decoder failed") {
		t.Errorf("zip: got %v, want ErrCorrupt from the storage check", err)
	}
	var b bytes.Buffer
	magic := []byte{0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}
	b.Write(newPickle().op(0x8a, byte(len(magic))).op(magic...).stop())
	b.Write(newPickle().op('M', 0xe9, 0x03).stop())
	b.Write(newPickle().op('}').stop())
	b.Write(newPickle().op('}', '(').str("x").
		tensor(tensorSpec{storage: huge, size: []int{1 << 20}, stride: []int{1}, legacy: true}).op('u').stop())
	b.Write(newPickle().op(']', '(').str("0").op('e').stop())
	binary.Write(&b, binary.LittleEndian, uint64(1<<61))
	if _, _, err := OpenPyTorch(writeFile(t, "huge.pt", b.Bytes())); !errors.Is(err, ErrCorrupt) || strings.Contains(err.Error(), "decoder failed") {
		t.Errorf("legacy: got %v, want ErrCorrupt from the storage check", err)
	}
}
