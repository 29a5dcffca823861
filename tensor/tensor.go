// Package tensor is goformer's float32 tensor library: an n-dimensional array
// with shape and strides, views (reshape, transpose, slice, expand) that
// share storage, and the whole operations transformer inference needs
// (linear products with fused epilogues, attention, layer norm, softmax,
// activations, convolutions, gathers and copies).
//
// # Devices and the backend seam
//
// A tensor's storage lives on a Device. The nil *Device is the host: Go
// memory and this package's kernels, the default. Another device is made
// by a Backend (NewDevice): NewCheckingDevice in this package (host memory
// that nothing outside the package may read, for tests), or the cuda
// package behind the build tag cuda. Every exported operation, given
// tensors of a device, calls the Backend method of the same name (the
// interface in device.go lists them, with ModelOps for the operations the
// model families added); views never reach the backend. Data, At and Set
// read host memory only: on a device tensor they panic with ErrDevice.
// Moving data is explicit and counted per device (Device.FromHost,
// Device.Upload, ToHost, HostData, ArgmaxRows; Device.Transfers). Weights
// become resident with PackWeightAs / PackWeightHalfOn on the weight's
// device and are freed with PackedB.Free.
//
// # Threads
//
// Host kernels run on up to Threads() goroutines (SetThreads, process
// wide; GOMAXPROCS by default). A model that should keep to its own count
// is put on a CPU device (NewCPUDevice(n)): the host kernels on host
// memory, every parallel loop of its operations capped at n, results
// bit-identical to the host's. Parallel loops share one set of helper
// goroutines, so loops from many models and calls run at once without
// oversubscribing.
//
// # Host kernels
//
// On amd64 the GEMM behind Gemm, MatMul, Linear, convolutions and attention
// is a Goto/BLIS-style driver (gemm.go) over Go-assembly micro-kernels
// (AVX-512 14×32 or AVX2+FMA 6×16, chosen at run time), with weights that
// can be packed once into the kernels' layout (PackWeight, PackedB,
// LinearPacked) and kept in F16/BF16 (PackWeightAs), or quantized to int8
// (WeightQ8: int8 products with AVX512-VNNI or AVX2, see q8.go); softmax,
// layer norm, GELU and exp run as AVX-512 row kernels. Other architectures
// and the purego build tag use the portable Go code (GemmRef, and for
// WeightQ8 a Go reference that computes the same bits). SetGemm replaces
// the unpacked host GEMM only (a testing and benchmarking hook, not the
// device seam). Large intermediate results come from recycled storage
// (Release); tensor headers are never reused, so releasing a tensor twice
// is harmless.
//
// Tensors are not safe for concurrent mutation; reading one tensor from many
// goroutines is safe. Operations that return a new tensor never alias their
// inputs unless documented as views.
package tensor

import (
	"errors"
	"fmt"
	"strings"
)

// ErrShape is wrapped by every error that reports incompatible shapes.
var ErrShape = errors.New("tensor: shape mismatch")

// Tensor is an n-dimensional float32 array. The element at index
// (i0, i1, …) lives at Data[Offset + i0*Strides[0] + i1*Strides[1] + …].
// A freshly created tensor is contiguous (row-major, Offset 0).
type Tensor struct {
	shape   []int
	strides []int
	offset  int
	data    []float32
	// owned marks storage allocated by this package for this tensor (not a
	// view, not caller memory), which Release may recycle.
	owned bool
	// view marks a header made by a view operation, which Release may
	// recycle (storage untouched).
	view bool
	// threads is, on a host view of a CPU device's tensor (NewCPUDevice)
	// and on views and clones of it, that device's thread count, which the
	// host kernels use instead of the process-wide Threads(); 0 elsewhere.
	threads int32
	// box, when set, is the pool's box of owned storage (so that releasing
	// it again allocates nothing).
	box *[]float32
	// dev is the device holding the storage (nil: the host). A device
	// tensor's data is the backend's business: only the backend reads it.
	dev *Device
	// dims backs shape and strides up to rank inlineRank, so that a new
	// tensor (a result, a view) is one allocation instead of three. A
	// Tensor is therefore never copied by value.
	dims [2 * inlineRank]int
}

// inlineRank is the largest rank whose shape and strides are held inline.
const inlineRank = 4

// header returns a new tensor with copies of shape and strides (contiguous
// strides when strides is nil) and no data.
func header(shape, strides []int) *Tensor {
	t := newHeader()
	r := len(shape)
	if r <= inlineRank {
		t.shape = t.dims[0:r:r]
		t.strides = t.dims[inlineRank : inlineRank+r : inlineRank+r]
	} else {
		t.shape = make([]int, r)
		t.strides = make([]int, r)
	}
	copy(t.shape, shape)
	if strides != nil {
		copy(t.strides, strides)
	} else {
		s := 1
		for i := r - 1; i >= 0; i-- {
			t.strides[i] = s
			s *= shape[i]
		}
	}
	return t
}

// New returns a zero-filled contiguous tensor of the given shape.
func New(shape ...int) *Tensor {
	if n := numel(shape); n < poolMin {
		t := header(shape, nil)
		t.data, t.owned = make([]float32, n), true
		return t
	}
	return newZeroed(shape...)
}

// FromData wraps data (not copied) as a contiguous tensor of the given shape.
// It returns an error when len(data) does not equal the product of shape.
func FromData(data []float32, shape ...int) (*Tensor, error) {
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("%w: negative dimension in %v", ErrShape, shape)
		}
	}
	if n := numel(shape); n != len(data) {
		return nil, fmt.Errorf("%w: %d values for shape %v (%d elements)", ErrShape, len(data), shape, n)
	}
	t := header(shape, nil)
	t.data = data
	return t, nil
}

// MustFromData is FromData for shapes known correct by construction; it
// panics on a mismatch (a programming error, never an input error).
func MustFromData(data []float32, shape ...int) *Tensor {
	t, err := FromData(data, shape...)
	if err != nil {
		panic(err)
	}
	return t
}

// Shape returns a copy of the tensor's shape.
func (t *Tensor) Shape() []int { return cloneInts(t.shape) }

// Strides returns a copy of the tensor's strides (in elements).
func (t *Tensor) Strides() []int { return cloneInts(t.strides) }

// Dim returns the size of dimension i; negative i counts from the end.
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.shape)
	}
	return t.shape[i]
}

// Rank returns the number of dimensions.
func (t *Tensor) Rank() int { return len(t.shape) }

// Len returns the number of elements.
func (t *Tensor) Len() int { return numel(t.shape) }

// IsContiguous reports whether the tensor is row-major with no gaps, so that
// Data returns exactly its elements in order.
func (t *Tensor) IsContiguous() bool {
	s := 1
	for i := len(t.shape) - 1; i >= 0; i-- {
		if t.shape[i] != 1 && t.strides[i] != s {
			return false
		}
		s *= t.shape[i]
	}
	return true
}

// Data returns the elements of a contiguous tensor in row-major order,
// sharing storage with t. For a non-contiguous view it returns a contiguous
// copy (writes to it do not reach t); use Contiguous first when that matters.
//
// Data reads host memory: on a device tensor (see Device) it panics with
// ErrDevice; use ToHost or HostData, which copy explicitly.
func (t *Tensor) Data() []float32 {
	hostOnly(t, "Data")
	if t.IsContiguous() {
		return t.data[t.offset : t.offset+t.Len()]
	}
	return t.Contiguous().data
}

// Contiguous returns t itself when it is contiguous, else a contiguous copy.
func (t *Tensor) Contiguous() *Tensor {
	if t.IsContiguous() {
		if t.offset == 0 && len(t.data) == t.Len() {
			return t
		}
		c := header(t.shape, nil)
		c.data, c.view, c.dev, c.threads = t.data[t.offset:t.offset+t.Len()], true, t.dev, t.threads
		return c
	}
	return t.Clone()
}

// Clone returns a contiguous deep copy.
func (t *Tensor) Clone() *Tensor {
	if t.dev != nil {
		return t.dev.be.Clone(t)
	}
	out := newUninit(t.shape...)
	out.threads = t.threads
	if t.IsContiguous() {
		copy(out.data, t.data[t.offset:t.offset+len(out.data)])
		return out
	}
	i := 0
	t.each(func(off int) { out.data[i] = t.data[off]; i++ })
	return out
}

// At returns the element at the given index.
// It reads host memory (see Data).
func (t *Tensor) At(idx ...int) float32 {
	hostOnly(t, "At")
	return t.data[t.index(idx)]
}

// Set stores v at the given index. It writes host memory (see Data).
func (t *Tensor) Set(v float32, idx ...int) {
	hostOnly(t, "Set")
	t.data[t.index(idx)] = v
}

func (t *Tensor) index(idx []int) int {
	if len(idx) != len(t.shape) {
		panic(fmt.Sprintf("tensor: %d indices for rank %d", len(idx), len(t.shape)))
	}
	off := t.offset
	for i, v := range idx {
		if v < 0 || v >= t.shape[i] {
			panic(fmt.Sprintf("tensor: index %v out of range for shape %v", idx, t.shape))
		}
		off += v * t.strides[i]
	}
	return off
}

// each calls f with the storage offset of every element in row-major order.
func (t *Tensor) each(f func(off int)) {
	n := t.Len()
	if n == 0 {
		return
	}
	r := len(t.shape)
	if r == 0 {
		f(t.offset)
		return
	}
	idx := make([]int, r)
	off := t.offset
	last := r - 1
	for {
		// innermost loop
		s := t.strides[last]
		for j := 0; j < t.shape[last]; j++ {
			f(off + j*s)
		}
		// carry
		d := last - 1
		for ; d >= 0; d-- {
			idx[d]++
			off += t.strides[d]
			if idx[d] < t.shape[d] {
				break
			}
			off -= idx[d] * t.strides[d]
			idx[d] = 0
		}
		if d < 0 {
			return
		}
	}
}

// String renders the shape and up to a few values, for debugging.
func (t *Tensor) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Tensor%v[", t.shape)
	if t.dev != nil {
		fmt.Fprintf(&b, "on %s]", t.dev.name)
		return b.String()
	}
	d := t.Data()
	for i, v := range d {
		if i == 8 {
			b.WriteString(" …")
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.4g", v)
	}
	b.WriteByte(']')
	return b.String()
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func cloneInts(s []int) []int { return append([]int(nil), s...) }

func contiguousStrides(shape []int) []int {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= shape[i]
	}
	return st
}

// SameShape reports whether a and b have identical shapes.
func SameShape(a, b *Tensor) bool {
	if len(a.shape) != len(b.shape) {
		return false
	}
	for i := range a.shape {
		if a.shape[i] != b.shape[i] {
			return false
		}
	}
	return true
}
