//go:build cuda

package cuda

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/goformer/goformer/tensor"
)

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// newTensor returns an uninitialised contiguous tensor of shape on the
// device, owning a block of the allocator.
func (b *backend) newTensor(shape []int) (*tensor.Tensor, error) {
	if err := b.live(); err != nil {
		return nil, err
	}
	n := numel(shape)
	if n == 0 {
		return tensor.NewDeviceTensor(b.d, shape, 0, 0, true)
	}
	p, err := b.mem.alloc(4*int64(n), false)
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %v: %w", b.d.Name(), shape, err)
	}
	t, err := tensor.NewDeviceTensor(b.d, shape, p, n, true)
	if err != nil {
		b.mem.release(p)
		return nil, err
	}
	return t, nil
}

// own checks that every non-nil tensor is on this device.
func (b *backend) own(ts ...*tensor.Tensor) error {
	for _, t := range ts {
		if t != nil && t.Device() != b.d {
			return fmt.Errorf("%w: operand on %s given to an operation on %s", tensor.ErrDevice, t.Device().Name(), b.d.Name())
		}
	}
	return b.live()
}

// mustOwn is own for methods without an error result.
func (b *backend) mustOwn(ts ...*tensor.Tensor) { mustOK(b.own(ts...)) }

// contiguous returns t when it is contiguous, else a contiguous copy
// (tmp set: the caller releases it).
func (b *backend) contiguous(t *tensor.Tensor) (c *tensor.Tensor, tmp bool, err error) {
	if t == nil || t.IsContiguous() {
		return t, false, nil
	}
	c, err = b.clone(t)
	return c, err == nil, err
}

// freeOnce is the free state of what a packed weight or packed keys and
// values keep on the device: freed is set by the first Free, which alone
// releases the memory and stops cleanup (the release run when the object
// is garbage collected without a Free).
type freeOnce struct {
	freed   atomic.Bool
	cleanup runtime.Cleanup
}

// takeFree reports whether this is the first Free, stopping the cleanup.
func (f *freeOnce) takeFree() bool {
	if !f.freed.CompareAndSwap(false, true) {
		return false
	}
	f.cleanup.Stop()
	return true
}

func (f *freeOnce) isFreed() bool { return f.freed.Load() }

// deviceState returns data, the device state of an object (named what)
// on device on, checking that the object is of this device and not freed.
func deviceState[T interface{ isFreed() bool }](b *backend, on *tensor.Device, data any, what string) (T, error) {
	var none T
	v, ok := data.(T)
	if on == b.d && (!ok || v.isFreed()) {
		return none, fmt.Errorf("%w: %s used after Free on %s", tensor.ErrDevice, what, b.d.Name())
	}
	if on != b.d || !ok {
		return none, fmt.Errorf("%w: %s on %s given to an operation on %s", tensor.ErrDevice, what, on.Name(), b.d.Name())
	}
	return v, nil
}

// replaceEach sets every non-nil *t to to(*t) (b.contiguous, b.rowMajor3)
// and returns a function releasing the copies it made; after an error
// nothing is left to release.
func replaceEach(to func(*tensor.Tensor) (*tensor.Tensor, bool, error), ts ...**tensor.Tensor) (done func(), err error) {
	var tmps []*tensor.Tensor
	for _, t := range ts {
		if *t == nil {
			continue
		}
		c, tmp, err := to(*t)
		if err != nil {
			release(tmps...)
			return nil, err
		}
		if tmp {
			tmps = append(tmps, c)
		}
		*t = c
	}
	return func() { release(tmps...) }, nil
}

// contiguousAll replaces each operand by a contiguous form of it (see
// contiguous); the caller defers the returned release.
func (b *backend) contiguousAll(ts ...**tensor.Tensor) (done func(), err error) {
	return replaceEach(b.contiguous, ts...)
}

// release releases temporaries (nil entries skipped).
func release(ts ...*tensor.Tensor) {
	for _, t := range ts {
		if t != nil {
			tensor.Release(t)
		}
	}
}

// releaseIf releases t when tmp is set.
func releaseIf(t *tensor.Tensor, tmp bool) {
	if tmp {
		tensor.Release(t)
	}
}

// coalesce drops dimensions of size 1 and merges neighbours that every
// stride set lays out as one (stride[i] = stride[i+1]·shape[i+1]), so
// that strided kernels do less index arithmetic and accept any rank that
// collapses to maxRank. It returns the kernel arguments.
func coalesce(shape []int, strides ...[]int) (rank int, sh dims, st []dims, err error) {
	var outShape []int
	outSt := make([][]int, len(strides))
	for i, d := range shape {
		if d == 1 {
			continue
		}
		if r := len(outShape); r > 0 {
			merge := true
			for j, s := range strides {
				if outSt[j][r-1] != s[i]*d {
					merge = false
					break
				}
			}
			if merge {
				outShape[r-1] *= d
				for j, s := range strides {
					outSt[j][r-1] = s[i]
				}
				continue
			}
		}
		outShape = append(outShape, d)
		for j, s := range strides {
			outSt[j] = append(outSt[j], s[i])
		}
	}
	if len(outShape) > maxRank {
		return 0, sh, nil, fmt.Errorf("%w: a strided tensor of shape %v does not collapse to %d dimensions", ErrUnsupported, shape, maxRank)
	}
	rank = len(outShape)
	for i, d := range outShape {
		sh[i] = int64(d)
	}
	st = make([]dims, len(strides))
	for j := range strides {
		for i, v := range outSt[j] {
			st[j][i] = int64(v)
		}
	}
	return rank, sh, st, nil
}

// copyStrided copies src (addr, strides) into dst (addr, strides) for
// every index of shape.
func (b *backend) copyStrided(dst uintptr, dstSt []int, src uintptr, srcSt []int, shape []int) error {
	n := numel(shape)
	if n == 0 {
		return nil
	}
	rank, sh, st, err := coalesce(shape, dstSt, srcSt)
	if err != nil {
		return err
	}
	var p params
	p.ptr(dst).dims(&st[0]).ptr(src).dims(&st[1]).dims(&sh).i32(rank).i64(n)
	return b.launch(kCopyStrided, gridFor(int64(n), 256), 256, &p)
}

// copyTensor copies src into dst (same shape, any strides).
func (b *backend) copyTensor(dst, src *tensor.Tensor) error {
	n := dst.Len()
	if n == 0 {
		return nil
	}
	if dst.IsContiguous() && src.IsContiguous() {
		return b.c.dtod(dst.DeviceAddr(), src.DeviceAddr(), 4*n)
	}
	return b.copyStrided(dst.DeviceAddr(), dst.Strides(), src.DeviceAddr(), src.Strides(), dst.Shape())
}

// clone returns a contiguous copy of t.
func (b *backend) clone(t *tensor.Tensor) (*tensor.Tensor, error) {
	out, err := b.newTensor(t.Shape())
	if err != nil {
		return nil, err
	}
	if err := b.copyTensor(out, t); err != nil {
		tensor.Release(out)
		return nil, err
	}
	return out, nil
}

// block is a temporary device block (indices, pointer arrays, scratch).
type block struct {
	b    *backend
	addr uintptr
}

func (k block) free() { k.b.mem.release(k.addr) }

// scratch allocates n bytes of temporary device memory.
func (b *backend) scratch(n int64) (block, error) {
	if err := b.live(); err != nil {
		return block{}, err
	}
	p, err := b.mem.alloc(max(n, 1), false)
	if err != nil {
		return block{}, fmt.Errorf("%s: scratch of %s: %w", b.d.Name(), byteSize(n), err)
	}
	return block{b, p}, nil
}

// htodSlice copies the elements of h to device address dst.
func htodSlice[T any](b *backend, dst uintptr, h []T) error {
	if len(h) == 0 {
		return nil
	}
	return b.c.htod(dst, unsafe.Pointer(&h[0]), int(unsafe.Sizeof(h[0]))*len(h))
}

// uploadScratch copies h to a temporary device block.
func uploadScratch[T any](b *backend, h []T) (block, error) {
	k, err := b.scratch(int64(unsafe.Sizeof(*new(T))) * int64(len(h)))
	if err != nil {
		return k, err
	}
	if err := htodSlice(b, k.addr, h); err != nil {
		k.free()
		return block{}, err
	}
	return k, nil
}

// convertInts returns v with every element converted to T.
func convertInts[T, S ~int | ~int32 | ~int64 | ~uint64 | ~uintptr](v []S) []T {
	h := make([]T, len(v))
	for i, x := range v {
		h[i] = T(x)
	}
	return h
}

// uploadInt64 copies ints to a temporary device array of long longs.
func (b *backend) uploadInt64(v []int) (block, error) { return uploadScratch(b, convertInts[int64](v)) }

// uploadPtrs copies device addresses to a temporary device array.
func (b *backend) uploadPtrs(v []uintptr) (block, error) {
	return uploadScratch(b, convertInts[uint64](v))
}

// uploadInt32 copies ints to a device array of ints (exact: kept).
func (b *backend) uploadInt32(v []int, exact bool) (uintptr, error) {
	p, err := b.mem.alloc(int64(max(4*len(v), 1)), exact)
	if err != nil {
		return 0, err
	}
	if err := htodSlice(b, p, convertInts[int32](v)); err != nil {
		b.mem.release(p)
		return 0, err
	}
	return p, nil
}

// broadcastStrides returns strides reading t as shape out (0 for
// dimensions t lacks or has of size 1).
func broadcastStrides(t *tensor.Tensor, out []int) []int {
	shape, strides := t.Shape(), t.Strides()
	st := make([]int, len(out))
	pad := len(out) - len(shape)
	for i := range out {
		if j := i - pad; j >= 0 && shape[j] != 1 {
			st[i] = strides[j]
		}
	}
	return st
}

// rowsOf returns the rows and width of t viewed as rows of its last
// dimension (a scalar is one row of one).
func rowsOf(t *tensor.Tensor) (rows, width int) {
	width = 1
	if t.Rank() > 0 {
		width = t.Dim(-1)
	}
	if width == 0 {
		return 0, 0
	}
	return t.Len() / width, width
}

// fitsInt32 reports whether every value fits a kernel's int parameter.
func fitsInt32(vs ...int) bool {
	for _, v := range vs {
		if v < 0 || v > 1<<31-1 {
			return false
		}
	}
	return true
}
