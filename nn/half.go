package nn

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/goformer/goformer/tensor"
)

// halfTensor is a 16-bit (F16 or BF16) checkpoint tensor kept in its stored
// form, usually aliasing the memory-mapped file, until something asks for it
// as float32. A Linear packs it as it is (exact), so a 16-bit checkpoint
// never exists as float32 in memory.
type halfTensor struct {
	kind  tensor.WeightType // WeightF16 or WeightBF16
	shape []int
	data  []uint16
}

// newHalfTensor wraps raw little-endian 16-bit values; they are aliased
// when aligned on a little-endian machine and copied otherwise.
func newHalfTensor(dtype string, shape []int, raw []byte) (*halfTensor, error) {
	h := &halfTensor{kind: tensor.WeightF16, shape: append([]int(nil), shape...)}
	if dtype == "BF16" {
		h.kind = tensor.WeightBF16
	} else if dtype != "F16" {
		return nil, fmt.Errorf("%w %q as a 16-bit tensor", ErrUnsupportedDType, dtype)
	}
	n, ok := checkedNumel(shape)
	if !ok || n != len(raw)/2 || len(raw)%2 != 0 {
		return nil, fmt.Errorf("%w: %d bytes of %s for shape %v", ErrCorruptCheckpoint, len(raw), dtype, shape)
	}
	switch {
	case n == 0:
	case nativeLittleEndian && uintptr(unsafe.Pointer(&raw[0]))%2 == 0:
		h.data = unsafe.Slice((*uint16)(unsafe.Pointer(&raw[0])), n)
	default:
		h.data = make([]uint16, n)
		for i := range h.data {
			h.data[i] = binary.LittleEndian.Uint16(raw[2*i:])
		}
	}
	return h, nil
}

// dtype returns "F16" or "BF16".
func (h *halfTensor) dtype() string { return h.kind.String() }

// widen returns the values as a new float32 tensor.
func (h *halfTensor) widen() *tensor.Tensor {
	out := make([]float32, len(h.data))
	tensor.WidenHalf(out, h.data, h.kind)
	return tensor.MustFromData(out, h.shape...)
}

// rows returns rows [lo, hi) of a 2-D tensor (sharing the values).
func (h *halfTensor) rows(lo, hi int) *halfTensor {
	k := h.shape[1]
	return &halfTensor{kind: h.kind, shape: []int{hi - lo, k}, data: h.data[lo*k : hi*k]}
}

// releaseHalf lets the file pages behind packed 16-bit rows go (they are
// read again from the file if the values are asked for later).
func releaseHalf(rows []uint16) {
	if len(rows) > 0 {
		releaseMappedBytes(unsafe.Slice((*byte)(unsafe.Pointer(&rows[0])), 2*len(rows)))
	}
}
