package tensor

import (
	"fmt"
	"unsafe"
)

// Storage of backends outside this package (the cuda package behind the
// build tag cuda).
//
// A device tensor made by NewDeviceTensor records its storage as an
// address range in the backend's own memory (a CUDA device pointer): the
// tensor's data slice points there and is never read or written by this
// package (Data, At and Set refuse device tensors). Views share it the way
// they share host storage, with their own offset and strides, so a
// backend given any view finds the address of its first element with
// DeviceAddr and its layout with Shape and Strides.
//
// The memory behind such a tensor is the backend's: it is handed back by
// Release (the backend's Release receives an owned tensor; DeviceStorage
// names its allocation) or when the backend frees everything (closing the
// device). The garbage collector does not see it.

// NewDeviceTensor returns a contiguous tensor of the given shape on d
// whose storage is the n float32 elements at address addr of d's memory
// (n at least the number of elements of shape; addr is not dereferenced
// by this package). With owned set, the tensor owns the storage: Release
// passes it to d's Backend.Release; views, and tensors made with owned
// false, never do.
func NewDeviceTensor(d *Device, shape []int, addr uintptr, n int, owned bool) (*Tensor, error) {
	if d == nil || d.be == nil {
		return nil, fmt.Errorf("%w: NewDeviceTensor needs a device with a backend", ErrDevice)
	}
	for _, s := range shape {
		if s < 0 {
			return nil, fmt.Errorf("%w: negative dimension in %v", ErrShape, cloneInts(shape))
		}
	}
	if need := numel(shape); n < need || (addr == 0 && n > 0) {
		return nil, fmt.Errorf("%w: device storage of %d elements at %#x for shape %v", ErrShape, n, addr, cloneInts(shape))
	}
	t := header(shape, nil)
	if n > 0 {
		// Reinterpret the address as a pointer (it is not Go memory; the
		// garbage collector ignores pointers outside its heap).
		p := *(*unsafe.Pointer)(unsafe.Pointer(&addr))
		t.data = unsafe.Slice((*float32)(p), n)
	}
	t.owned, t.dev = owned, d
	return t, nil
}

// DeviceAddr returns the address of t's first element (the element at
// index 0 in every dimension) in its device's memory, for a tensor of a
// backend that made its storage with NewDeviceTensor (views included); 0
// for a host tensor or empty storage.
func (t *Tensor) DeviceAddr() uintptr {
	if t == nil || t.dev == nil || len(t.data) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(unsafe.SliceData(t.data))) + uintptr(t.offset)*4
}

// DeviceStorage returns the storage a device tensor made by
// NewDeviceTensor refers to: the address and length (in elements) its
// data spans, which for a tensor that owns its storage is what
// NewDeviceTensor was given. A view's range starts at or before its first
// element. It returns 0, 0 for a host tensor.
func (t *Tensor) DeviceStorage() (addr uintptr, n int) {
	if t == nil || t.dev == nil || len(t.data) == 0 {
		return 0, 0
	}
	return uintptr(unsafe.Pointer(unsafe.SliceData(t.data))), len(t.data)
}

// NewDevicePackedKV returns packed keys and values of b batch rows, tk
// positions and heads heads of dh values, of element type t, that live on
// d as data: how a backend's PackKV and ReorderKV represent what they keep.
func NewDevicePackedKV(d *Device, b, tk, heads, dh int, t WeightType, data any) *PackedKV {
	return &PackedKV{b: b, tk: tk, h: heads, dh: dh, dev: d,
		k: []*PackedB{NewDevicePacked(d, tk, dh, t, data)}}
}

// DeviceData returns what the backend of p's device keeps for it (nil on
// the host).
func (p *PackedKV) DeviceData() any {
	if p.dev == nil || len(p.k) == 0 {
		return nil
	}
	return p.k[0].devData
}

// Heads returns the number of heads.
func (p *PackedKV) Heads() int { return p.h }

// HeadDim returns the number of values per head.
func (p *PackedKV) HeadDim() int { return p.dh }
