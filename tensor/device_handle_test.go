package tensor

import (
	"errors"
	"testing"
	"unsafe"
)

// fakeStore stands in for device memory in TestNewDeviceTensor: its
// address is given to NewDeviceTensor and never read through a tensor.
var fakeStore [256]float32

// releaseRecorder is a backend that only records Release calls (every
// other method is the nil interface's and must not be reached).
type releaseRecorder struct {
	Backend
	released []uintptr
}

func (r *releaseRecorder) Release(t *Tensor) {
	a, _ := t.DeviceStorage()
	r.released = append(r.released, a)
}

// TestNewDeviceTensor: a backend's storage address survives views with
// the right offsets, host access is refused, Release reaches the backend
// for the owner only.
func TestNewDeviceTensor(t *testing.T) {
	rec := &releaseRecorder{}
	d := NewDevice("fake", rec)
	base := uintptr(unsafe.Pointer(&fakeStore[0]))
	x, err := NewDeviceTensor(d, []int{2, 3, 4}, base, 24, true)
	if err != nil {
		t.Fatal(err)
	}
	if x.Device() != d || !x.IsContiguous() || x.DeviceAddr() != base {
		t.Fatalf("device %v contiguous %v addr %#x, want %v true %#x", x.Device(), x.IsContiguous(), x.DeviceAddr(), d, base)
	}
	if a, n := x.DeviceStorage(); a != base || n != 24 {
		t.Fatalf("storage %#x %d, want %#x 24", a, n, base)
	}
	for _, c := range []struct {
		name    string
		v       *Tensor
		off     int
		strides []int
	}{
		{"Slice", x.Slice(1, 1, 3), 4, []int{12, 4, 1}},
		{"Index", x.Index(1), 12, []int{4, 1}},
		{"Transpose", x.Transpose(0, 2), 0, []int{1, 4, 12}},
		{"Index of Slice", x.Slice(2, 2, 4).Index(1), 14, []int{4, 1}},
		{"Reshape", x.MustReshape(6, 4).Slice(0, 5, 6), 20, []int{4, 1}},
		{"Contiguous of a view", x.Index(1).Slice(0, 1, 3).Contiguous(), 16, []int{4, 1}},
	} {
		if got := c.v.DeviceAddr(); got != base+uintptr(4*c.off) {
			t.Errorf("%s: address %#x, want base + %d elements", c.name, got, c.off)
		}
		if got := c.v.Strides(); len(got) != len(c.strides) || got[0] != c.strides[0] {
			t.Errorf("%s: strides %v, want %v", c.name, got, c.strides)
		}
		if c.v.Device() != d {
			t.Errorf("%s: view not on the device", c.name)
		}
	}
	e, err := x.Index(0).Expand(5, 3, 4)
	if err != nil || e.DeviceAddr() != base || e.Strides()[0] != 0 {
		t.Fatalf("Expand: %v addr %#x strides %v", err, e.DeviceAddr(), e.Strides())
	}
	if err := panics(func() { _ = x.Data() }); !errors.Is(err, ErrDevice) {
		t.Fatalf("Data of a device tensor: %v, want ErrDevice", err)
	}
	v := x.Slice(0, 1, 2)
	Release(v)
	if len(rec.released) != 0 {
		t.Fatalf("releasing a view reached the backend: %v", rec.released)
	}
	borrowed, _ := NewDeviceTensor(d, []int{4}, base, 4, false)
	Release(borrowed)
	if len(rec.released) != 0 {
		t.Fatalf("releasing a tensor that does not own its storage reached the backend")
	}
	Release(x)
	Release(x)
	if len(rec.released) != 1 || rec.released[0] != base {
		t.Fatalf("released %v, want one release of %#x", rec.released, base)
	}
	if (&Tensor{}).DeviceAddr() != 0 || New(3).DeviceAddr() != 0 {
		t.Fatal("a host tensor has a device address")
	}

	// Bad arguments.
	for name, f := range map[string]func() error{
		"no device":      func() error { _, err := NewDeviceTensor(nil, []int{1}, base, 1, true); return err },
		"short storage":  func() error { _, err := NewDeviceTensor(d, []int{2, 3}, base, 5, true); return err },
		"nil address":    func() error { _, err := NewDeviceTensor(d, []int{2}, 0, 2, true); return err },
		"negative shape": func() error { _, err := NewDeviceTensor(d, []int{-1}, base, 2, true); return err },
	} {
		if f() == nil {
			t.Errorf("%s: no error", name)
		}
	}
	empty, err := NewDeviceTensor(d, []int{0, 3}, 0, 0, true)
	if err != nil || empty.Len() != 0 || empty.DeviceAddr() != 0 {
		t.Fatalf("empty device tensor: %v %v", empty, err)
	}
}

func TestNewDevicePackedKV(t *testing.T) {
	d := NewDevice("fake", &releaseRecorder{})
	data := &struct{ x int }{7}
	kv := NewDevicePackedKV(d, 2, 5, 3, 4, WeightBF16, data)
	if kv.Device() != d || kv.Batch() != 2 || kv.Len() != 5 || kv.Heads() != 3 || kv.HeadDim() != 4 || kv.Type() != WeightBF16 {
		t.Fatalf("packed KV %s on %v", kv.describe(), kv.Device())
	}
	if kv.DeviceData() != any(data) {
		t.Fatal("DeviceData lost")
	}
	if (&PackedKV{}).DeviceData() != nil {
		t.Fatal("host packed KV has device data")
	}
}
