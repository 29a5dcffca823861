package checkpoint

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/goformer/goformer/tensor"
)

// Half is a 16-bit (F16 or BF16) checkpoint tensor kept in its stored form
// (aliasing the memory-mapped file where it can) until something asks for
// it as float32. A layer can pack it as it is (exact; see nn.NewLinear), so
// a 16-bit checkpoint never exists as float32 in memory. Its values must
// not be modified.
type Half struct {
	// Kind is tensor.WeightF16 or tensor.WeightBF16.
	Kind tensor.WeightType
	// Shape is the tensor's shape; Data holds its values in row-major order.
	Shape []int
	Data  []uint16
}

// newHalf wraps raw little-endian 16-bit values; they are aliased when
// aligned on a little-endian machine and copied otherwise.
func newHalf(dtype string, shape []int, raw []byte) (*Half, error) {
	h := &Half{Kind: tensor.WeightF16, Shape: append([]int(nil), shape...)}
	if dtype == "BF16" {
		h.Kind = tensor.WeightBF16
	} else if dtype != "F16" {
		return nil, fmt.Errorf("%w %q as a 16-bit tensor", ErrUnsupportedDType, dtype)
	}
	n, ok := checkedNumel(shape)
	if !ok || n != len(raw)/2 || len(raw)%2 != 0 {
		return nil, fmt.Errorf("%w: %d bytes of %s for shape %v", ErrCorrupt, len(raw), dtype, shape)
	}
	switch {
	case n == 0:
	case nativeLittleEndian && uintptr(unsafe.Pointer(&raw[0]))%2 == 0:
		h.Data = unsafe.Slice((*uint16)(unsafe.Pointer(&raw[0])), n)
	default:
		h.Data = make([]uint16, n)
		for i := range h.Data {
			h.Data[i] = binary.LittleEndian.Uint16(raw[2*i:])
		}
	}
	return h, nil
}

// DType returns "F16" or "BF16".
func (h *Half) DType() string { return h.Kind.String() }

// Widen returns the values as a new float32 tensor (exactly).
func (h *Half) Widen() *tensor.Tensor {
	out := make([]float32, len(h.Data))
	tensor.WidenHalf(out, h.Data, h.Kind)
	return tensor.MustFromData(out, h.Shape...)
}

// Rows returns rows [lo, hi) of a 2-D tensor, sharing the values.
func (h *Half) Rows(lo, hi int) *Half {
	k := h.Shape[1]
	return &Half{Kind: h.Kind, Shape: []int{hi - lo, k}, Data: h.Data[lo*k : hi*k]}
}

// ReleaseMappedHalves lets the file pages behind 16-bit values go when
// they lie in a file mapping (after they were packed elsewhere); reading
// them again later faults them back in from the file. It has the signature
// tensor.PackWeightHalf's done callback wants.
func ReleaseMappedHalves(d []uint16) {
	if len(d) > 0 {
		releaseMappedBytes(unsafe.Slice((*byte)(unsafe.Pointer(&d[0])), 2*len(d)))
	}
}

// ReleaseMappedHalvesAround is ReleaseMappedAround for 16-bit storage.
func ReleaseMappedHalvesAround(d []uint16) {
	if len(d) > 0 {
		releaseAround(uintptr(unsafe.Pointer(&d[0])), uintptr(2*len(d)))
	}
}
