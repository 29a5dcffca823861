//go:build cuda

package cuda

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/goformer/goformer/tensor"
)

// envOf returns a getenv reading only m.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestMissingDriverError: a driver that is not where the environment says
// is one error naming libcuda.so.1, wrapping ErrNotAvailable and
// tensor.ErrDevice (no panic). Runs on every machine.
func TestMissingDriverError(t *testing.T) {
	dir := t.TempDir()
	_, err := load(envOf(map[string]string{"GOFORMER_CUDA_DRIVER": filepath.Join(dir, "libcuda.so.1")}))
	if err == nil {
		t.Fatal("load with a missing driver succeeded")
	}
	if !errors.Is(err, ErrNotAvailable) || !errors.Is(err, tensor.ErrDevice) {
		t.Fatalf("error %v does not wrap ErrNotAvailable and tensor.ErrDevice", err)
	}
	for _, want := range []string{"libcuda.so.1", "NVIDIA driver", "GOFORMER_CUDA_DRIVER", dir} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	t.Log(err)
}

// TestMissingToolkitError: with GOFORMER_CUDA_LIB_DIR naming an empty
// directory, loading fails naming the first missing library: the driver
// on a machine without one, else cuBLASLt.
func TestMissingToolkitError(t *testing.T) {
	dir := t.TempDir()
	_, err := load(envOf(map[string]string{"GOFORMER_CUDA_LIB_DIR": dir}))
	if err == nil {
		t.Fatal("load with an empty toolkit directory succeeded")
	}
	if !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("error %v does not wrap ErrNotAvailable", err)
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "libcuda.so.1"):
		// No driver here: it is the first thing missing.
	case strings.Contains(msg, "libcublasLt.so.13"):
		if !strings.Contains(msg, dir) || !strings.Contains(msg, "GOFORMER_CUDA_LIB_DIR") {
			t.Errorf("error %q does not say where it looked", msg)
		}
	default:
		t.Fatalf("error %q names neither the driver nor cuBLASLt", msg)
	}
	t.Log(err)
}

// TestOpen: on a machine without CUDA, Open is one error wrapping
// ErrNotAvailable that names what is missing (never a panic); with a GPU
// it gives a working device, and Close frees it. GOFORMER_REQUIRE_CUDA=1
// makes a failure to open fatal.
func TestOpen(t *testing.T) {
	d, err := Open(0)
	if err != nil {
		if !errors.Is(err, ErrNotAvailable) || !errors.Is(err, tensor.ErrDevice) {
			t.Fatalf("Open error %v does not wrap ErrNotAvailable and tensor.ErrDevice", err)
		}
		named := false
		for _, what := range []string{"libcuda.so.1", "libcublasLt.so", "libcublas.so", "libnvrtc.so", "CUDA device", "cuda:0"} {
			named = named || strings.Contains(err.Error(), what)
		}
		if !named {
			t.Fatalf("Open error %q does not name what is missing", err)
		}
		if _, statErr := os.Stat("/dev/nvidiactl"); statErr != nil && !strings.Contains(err.Error(), "libcuda.so.1") {
			// No NVIDIA device node: the driver library should be what is missing.
			t.Logf("note: no /dev/nvidiactl, but the error is not about libcuda.so.1: %v", err)
		}
		if os.Getenv("GOFORMER_REQUIRE_CUDA") == "1" {
			t.Fatalf("GOFORMER_REQUIRE_CUDA=1 but %v", err)
		}
		if err2 := Available(); err2 == nil {
			t.Fatalf("Available = nil after Open failed with %v", err)
		}
		t.Logf("no CUDA here, as expected on a CPU machine: %v", err)
		return
	}
	if d.Name() != "cuda:0" {
		t.Errorf("Name = %q, want cuda:0", d.Name())
	}
	t.Logf("%v", d.Backend())
	x, err := d.FromHost([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	h, err := tensor.HostData(x.Transpose(0, 1))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(h, []float32{1, 4, 2, 5, 3, 6}) {
		t.Fatalf("round trip of a transpose = %v", h)
	}
	if err := Close(d); err != nil {
		t.Fatal(err)
	}
	if err := Close(d); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := tensor.HostData(x); !errors.Is(err, ErrClosed) {
		t.Fatalf("download after Close = %v, want ErrClosed", err)
	}
	if _, err := d.FromHost([]float32{1}, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("upload after Close = %v, want ErrClosed", err)
	}
}

func TestCandidates(t *testing.T) {
	paths, over := candidates(libCublas, envOf(map[string]string{"GOFORMER_CUDA_LIB_DIR": "/a:/b"}))
	if over == "" || paths[0] != "/a/libcublas.so.13" || paths[len(paths)-1] != "/b/libcublas.so" {
		t.Fatalf("GOFORMER_CUDA_LIB_DIR: %v (%s)", paths, over)
	}
	paths, _ = candidates(libCublas, envOf(map[string]string{"GOFORMER_CUBLAS": "/x/libcublas.so.13", "GOFORMER_CUDA_LIB_DIR": "/a"}))
	if len(paths) != 1 || paths[0] != "/x/libcublas.so.13" {
		t.Fatalf("GOFORMER_CUBLAS: %v", paths)
	}
	paths, over = candidates(libDriver, envOf(map[string]string{"GOFORMER_CUDA_LIB_DIR": "/a"}))
	if over != "" || paths[0] != "libcuda.so.1" {
		t.Fatalf("the driver is not a toolkit library: %v (%s)", paths, over)
	}
	paths, _ = candidates(libNVRTC, envOf(nil))
	if paths[0] != "libnvrtc.so.13" || !strings.Contains(strings.Join(paths, " "), "/usr/local/cuda/lib64/libnvrtc.so.13") {
		t.Fatalf("default NVRTC search %v", paths)
	}
}

func TestCoalesce(t *testing.T) {
	for _, c := range []struct {
		shape   []int
		strides [][]int
		rank    int
		sh      []int64
		st      [][]int64
	}{
		{[]int{2, 3, 4}, [][]int{{12, 4, 1}}, 1, []int64{24}, [][]int64{{1}}},
		{[]int{2, 3, 4}, [][]int{{12, 4, 1}, {1, 8, 2}}, 2, []int64{2, 12}, [][]int64{{12, 1}, {1, 2}}},
		{[]int{2, 3, 4}, [][]int{{12, 4, 1}, {1, 2, 8}}, 3, []int64{2, 3, 4}, [][]int64{{12, 4, 1}, {1, 2, 8}}},
		{[]int{2, 1, 4}, [][]int{{4, 99, 1}, {0, 5, 1}}, 2, []int64{2, 4}, [][]int64{{4, 1}, {0, 1}}},
		{[]int{3, 4, 5}, [][]int{{20, 5, 1}, {0, 0, 1}}, 2, []int64{12, 5}, [][]int64{{5, 1}, {0, 1}}},
		{[]int{1, 1}, [][]int{{1, 1}}, 0, nil, [][]int64{nil}},
	} {
		rank, sh, st, err := coalesce(c.shape, c.strides...)
		if err != nil || rank != c.rank {
			t.Fatalf("coalesce %v %v: rank %d %v, want %d", c.shape, c.strides, rank, err, c.rank)
		}
		for i := 0; i < rank; i++ {
			if sh[i] != c.sh[i] {
				t.Fatalf("coalesce %v %v: shape %v, want %v", c.shape, c.strides, sh[:rank], c.sh)
			}
			for j := range st {
				if st[j][i] != c.st[j][i] {
					t.Fatalf("coalesce %v %v: strides %v, want %v", c.shape, c.strides, st, c.st)
				}
			}
		}
	}
	if _, _, _, err := coalesce([]int{2, 2, 2, 2, 2, 2, 2, 2, 2}, []int{1, 2, 4, 8, 16, 32, 64, 128, 256}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("rank 9 that does not collapse: %v", err)
	}
	if rank, _, _, err := coalesce([]int{2, 2, 2, 2, 2, 2, 2, 2, 2}, tensor.ContiguousStrides([]int{2, 2, 2, 2, 2, 2, 2, 2, 2})); err != nil || rank != 1 {
		t.Fatalf("contiguous rank 9: %d %v", rank, err)
	}
}

func TestClassSize(t *testing.T) {
	prev := int64(0)
	for _, n := range []int64{1, 512, 513, 1000, 1 << 20, 1<<20 + 1, 3 << 30, 5<<30 + 7} {
		c := classSize(n)
		if c < n || c%minBlock != 0 || (n > minBlock && c > n+n/4+minBlock) || c < prev {
			t.Fatalf("classSize(%d) = %d", n, c)
		}
		prev = c
	}
}

func TestParamsLayout(t *testing.T) {
	var p params
	var d dims
	d[0], d[7] = 3, -1
	p.i32(7).ptr(0x1000).f32(1.5).dims(&d).i32(2).i64(-5)
	want := []int32{0, 8, 16, 24, 88, 96}
	if p.n != len(want) {
		t.Fatalf("%d params", p.n)
	}
	for i, o := range want {
		if p.offs[i] != o {
			t.Fatalf("offsets %v, want %v", p.offs[:p.n], want)
		}
	}
	buf := make([]byte, 8*len(p.buf))
	for i, v := range p.buf {
		binary.LittleEndian.PutUint64(buf[8*i:], v)
	}
	if binary.LittleEndian.Uint32(buf[0:]) != 7 || binary.LittleEndian.Uint64(buf[8:]) != 0x1000 ||
		binary.LittleEndian.Uint64(buf[24:]) != 3 || int64(binary.LittleEndian.Uint64(buf[80:])) != -1 ||
		int64(binary.LittleEndian.Uint64(buf[96:])) != -5 {
		t.Fatal("parameter values misplaced")
	}
}

func TestMatLayoutAndBatches(t *testing.T) {
	x := tensor.New(2, 3, 4)
	for _, c := range []struct {
		name  string
		t     *tensor.Tensor
		trans bool
		ld    int
		ok    bool
	}{
		{"contiguous", x, false, 4, true},
		{"transposed", x.Transpose(1, 2), true, 4, true},
		{"row slice", x.Slice(2, 1, 3), false, 4, true},
		{"head view", tensor.New(2, 5, 3, 8).Permute(0, 2, 1, 3), false, 24, true},
		{"broadcast rows", mustExpand(tensor.New(1, 4), 3, 4), false, 0, false},
		{"one row", tensor.New(1, 6), false, 6, true},
	} {
		trans, ld, ok := matLayout(c.t)
		if trans != c.trans || ok != c.ok || (ok && ld != c.ld) {
			t.Errorf("%s: matLayout = %v %d %v, want %v %d %v", c.name, trans, ld, ok, c.trans, c.ld, c.ok)
		}
	}
	offs := tensor.BatchOffsets([]int{2, 3}, []int{1, 3}, []int{99, 10}, 0)
	if !reflect.DeepEqual(offs, []int{0, 10, 20, 0, 10, 20}) {
		t.Fatalf("BatchOffsets = %v", offs)
	}
	if s, ok := uniformStep(offs); ok {
		t.Fatalf("uniformStep(%v) = %d", offs, s)
	}
	if s, ok := uniformStep([]int{5, 9, 13}); !ok || s != 4 {
		t.Fatalf("uniformStep = %d %v", s, ok)
	}
}

func mustExpand(t *tensor.Tensor, shape ...int) *tensor.Tensor {
	e, err := t.Expand(shape...)
	if err != nil {
		panic(err)
	}
	return e
}

// TestModelOpsImplemented fails for each method of tensor.ModelOps the
// CUDA backend does not implement itself (it would be promoted from the
// nil embedded interface, and calling it would panic): a family operation
// added to the seam needs its CUDA kernel here.
func TestModelOpsImplemented(t *testing.T) {
	mo := reflect.TypeFor[tensor.ModelOps]()
	own := reflect.TypeFor[*backend]()
	for i := range mo.NumMethod() {
		name := mo.Method(i).Name
		m, ok := own.MethodByName(name)
		if !ok {
			t.Errorf("backend lacks %s", name)
			continue
		}
		// A promoted method is a compiler-generated wrapper.
		f := runtime.FuncForPC(m.Func.Pointer())
		if file, _ := f.FileLine(f.Entry()); file == "<autogenerated>" {
			t.Errorf("tensor.ModelOps.%s is not implemented by the CUDA backend (calls would panic)", name)
		}
	}
	// The check itself works: Upload is the backend's own, and a method
	// promoted from an embedded interface is autogenerated.
	f := runtime.FuncForPC(reflect.ValueOf((*backend).Upload).Pointer())
	if file, _ := f.FileLine(f.Entry()); file == "<autogenerated>" || !strings.HasSuffix(file, "ops.go") {
		t.Fatalf("Upload comes from %q", file)
	}
	type wrapsBackend struct{ tensor.Backend }
	m, _ := reflect.TypeFor[*wrapsBackend]().MethodByName("Upload")
	f = runtime.FuncForPC(m.Func.Pointer())
	if file, _ := f.FileLine(f.Entry()); file != "<autogenerated>" {
		t.Fatalf("a promoted method comes from %q, want <autogenerated>", file)
	}
}
