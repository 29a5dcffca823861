//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/goformer/goformer/tensor"
)

// The general operations of tensor.Backend (see tensor/checkdev.go for
// the semantics each mirrors).

func (b *backend) Upload(d *tensor.Device, t *tensor.Tensor) (*tensor.Tensor, error) {
	if t.Device() != nil {
		return nil, fmt.Errorf("%w: upload of a tensor on %s", tensor.ErrDevice, t.Device().Name())
	}
	src := t.Contiguous()
	if src != t {
		defer tensor.Release(src)
	}
	data := src.Data()
	out, err := b.newTensor(t.Shape())
	if err != nil {
		return nil, err
	}
	if err := htodSlice(b, out.DeviceAddr(), data); err != nil {
		tensor.Release(out)
		return nil, err
	}
	return out, nil
}

func (b *backend) Download(t *tensor.Tensor) (*tensor.Tensor, error) {
	if err := b.own(t); err != nil {
		return nil, err
	}
	c, tmp, err := b.contiguous(t)
	if err != nil {
		return nil, err
	}
	defer releaseIf(c, tmp)
	out := tensor.New(t.Shape()...)
	if data := out.Data(); len(data) > 0 {
		if err := b.c.dtoh(unsafe.Pointer(&data[0]), c.DeviceAddr(), 4*len(data)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (b *backend) Zeros(d *tensor.Device, shape []int) *tensor.Tensor {
	t, err := b.newTensor(shape)
	mustOK(err)
	if err := b.c.memsetZero(t.DeviceAddr(), 4*t.Len()); err != nil {
		tensor.Release(t)
		panic(err)
	}
	return t
}

func (b *backend) Release(t *tensor.Tensor) {
	if addr, _ := t.DeviceStorage(); addr != 0 {
		b.mem.release(addr)
	}
}

func (b *backend) Copy(dst, src *tensor.Tensor) error {
	if err := b.own(dst, src); err != nil {
		return err
	}
	return b.copyTensor(dst, src)
}

func (b *backend) Clone(t *tensor.Tensor) *tensor.Tensor {
	b.mustOwn(t)
	out, err := b.clone(t)
	mustOK(err)
	return out
}

func (b *backend) Concat(dim int, ts []*tensor.Tensor) (*tensor.Tensor, error) {
	if err := b.own(ts...); err != nil {
		return nil, err
	}
	shape := ts[0].Shape()
	shape[dim] = 0
	for _, t := range ts {
		shape[dim] += t.Dim(dim)
	}
	out, err := b.newTensor(shape)
	if err != nil {
		return nil, err
	}
	pos := 0
	for _, t := range ts {
		n := t.Dim(dim)
		if err := b.copyTensor(out.Slice(dim, pos, pos+n), t); err != nil {
			tensor.Release(out)
			return nil, err
		}
		pos += n
	}
	return out, nil
}

func (b *backend) Position(h *tensor.Tensor, t int) (*tensor.Tensor, error) {
	if err := b.own(h); err != nil {
		return nil, err
	}
	bs, d := h.Dim(0), h.Dim(2)
	out, err := b.newTensor([]int{bs, d})
	if err != nil {
		return nil, err
	}
	src := h.Slice(1, t, t+1)
	if err := b.copyStrided(out.DeviceAddr(), []int{d, d, 1}, src.DeviceAddr(), src.Strides(), src.Shape()); err != nil {
		tensor.Release(out)
		return nil, err
	}
	return out, nil
}

func (b *backend) Gather(t *tensor.Tensor, idx []int) (*tensor.Tensor, error) {
	if err := b.own(t); err != nil {
		return nil, err
	}
	shape := t.Shape()
	strides := t.Strides()
	shape[0] = len(idx)
	out, err := b.newTensor(shape)
	if err != nil {
		return nil, err
	}
	rowLen := numel(shape[1:])
	if out.Len() == 0 {
		return out, nil
	}
	rank, rsh, rst, err := coalesce(shape[1:], strides[1:])
	if err == nil {
		var ix block
		if ix, err = b.uploadInt64(idx); err == nil {
			var p params
			p.ptr(out.DeviceAddr()).ptr(t.DeviceAddr()).ptr(ix.addr).i64(len(idx)).i64(rowLen).i64(strides[0]).
				dims(&rsh).dims(&rst[0]).i32(rank)
			err = b.launch(kGatherRows, gridFor(int64(out.Len()), 256), 256, &p)
			ix.free()
		}
	}
	if err != nil {
		tensor.Release(out)
		return nil, err
	}
	return out, nil
}

func (b *backend) Elementwise(op tensor.ElemOp, x, y *tensor.Tensor) (*tensor.Tensor, error) {
	if err := b.own(x, y); err != nil {
		return nil, err
	}
	if op > tensor.OpDiv {
		return nil, fmt.Errorf("cuda: unknown elementwise operation %d", op)
	}
	shape, err := tensor.BroadcastShapes(x.Shape(), y.Shape())
	if err != nil {
		return nil, err
	}
	out, err := b.newTensor(shape)
	if err != nil {
		return nil, err
	}
	n := out.Len()
	if n == 0 {
		return out, nil
	}
	rank, sh, st, err := coalesce(shape, tensor.ContiguousStrides(shape), broadcastStrides(x, shape), broadcastStrides(y, shape))
	if err == nil {
		// The output is contiguous: its coalesced strides are implied.
		var p params
		p.i32(int(op)).ptr(out.DeviceAddr()).ptr(x.DeviceAddr()).dims(&st[1]).ptr(y.DeviceAddr()).dims(&st[2]).dims(&sh).i32(rank).i64(n)
		err = b.launch(kBinary, gridFor(int64(n), 256), 256, &p)
	}
	if err != nil {
		tensor.Release(out)
		return nil, err
	}
	return out, nil
}

func (b *backend) AddInPlace(x, y *tensor.Tensor) error {
	if err := b.own(x, y); err != nil {
		return err
	}
	// The tensor package has checked the shapes: y has x's length, or
	// its shape is a trailing part of x's (added to every leading index).
	n, ny := x.Len(), y.Len()
	if !x.IsContiguous() || ny == 0 || n%ny != 0 {
		return fmt.Errorf("%w: in-place add %v += %v", tensor.ErrShape, x.Shape(), y.Shape())
	}
	if n == 0 {
		return nil
	}
	yc, tmp, err := b.contiguous(y)
	if err != nil {
		return err
	}
	defer releaseIf(yc, tmp)
	var p params
	p.ptr(x.DeviceAddr()).ptr(yc.DeviceAddr()).i64(n).i64(ny)
	return b.launch(kAddInPlace, gridFor(int64(n), 256), 256, &p)
}

func (b *backend) Scale(t *tensor.Tensor, s float32) *tensor.Tensor {
	b.mustOwn(t)
	out, err := b.scaled(t, s)
	mustOK(err)
	return out
}

func (b *backend) scaled(t *tensor.Tensor, s float32) (*tensor.Tensor, error) {
	src, tmp, err := b.contiguous(t)
	if err != nil {
		return nil, err
	}
	out := src
	if !tmp { // scale into a new tensor; a temporary copy is scaled in place
		if out, err = b.newTensor(t.Shape()); err != nil {
			return nil, err
		}
	}
	if n := out.Len(); n > 0 {
		var p params
		p.ptr(out.DeviceAddr()).ptr(src.DeviceAddr()).f32(s).i64(n)
		if err := b.launch(kScale, gridFor(int64(n), 256), 256, &p); err != nil {
			tensor.Release(out)
			return nil, err
		}
	}
	return out, nil
}

func (b *backend) Activate(t *tensor.Tensor, act tensor.Act, inPlace bool) *tensor.Tensor {
	b.mustOwn(t)
	if act > tensor.ActSiLU {
		panic(fmt.Errorf("%w: unknown activation %d", tensor.ErrDevice, act))
	}
	out := t
	if !inPlace {
		var err error
		out, err = b.clone(t)
		mustOK(err)
	}
	if err := b.activateStrided(out, act); err != nil {
		if !inPlace {
			tensor.Release(out)
		}
		panic(err)
	}
	return out
}

// activateStrided applies act to t's elements in place (any strides).
func (b *backend) activateStrided(t *tensor.Tensor, act tensor.Act) error {
	n := t.Len()
	if n == 0 || act == tensor.ActNone {
		return nil
	}
	rank, sh, st, err := coalesce(t.Shape(), t.Strides())
	if err != nil {
		return err
	}
	var p params
	p.ptr(t.DeviceAddr()).dims(&st[0]).dims(&sh).i32(rank).i64(n).i32(int(act))
	return b.launch(kActivateStrided, gridFor(int64(n), 256), 256, &p)
}

// rowBlock is the block size of a one-block-per-row kernel for rows of
// width values: a multiple of 32 up to 256.
func rowBlock(width int) int {
	return min(256, max(32, (width+31)/32*32))
}

// softmaxRows applies softmax or log-softmax to the rows of the
// contiguous t in place.
func (b *backend) softmaxRows(t *tensor.Tensor, log bool) error {
	rows, w := rowsOf(t)
	if rows == 0 {
		return nil
	}
	if !fitsInt32(w) {
		return fmt.Errorf("%w: softmax rows of %d values", ErrUnsupported, w)
	}
	lg := 0
	if log {
		lg = 1
	}
	var p params
	p.ptr(t.DeviceAddr()).i64(rows).i32(w).i32(lg)
	return b.launch(kSoftmaxRows, rowsGrid(rows), rowBlock(w), &p)
}

func (b *backend) Softmax(t, mask *tensor.Tensor, log, inPlace bool) (*tensor.Tensor, error) {
	if err := b.own(t, mask); err != nil {
		return nil, err
	}
	if mask != nil {
		s, err := b.Elementwise(tensor.OpAdd, t, mask)
		if err != nil {
			return nil, err
		}
		if err := b.softmaxRows(s, false); err != nil {
			tensor.Release(s)
			return nil, err
		}
		return s, nil
	}
	if inPlace && !log && t.IsContiguous() {
		return t, b.softmaxRows(t, false)
	}
	out, err := b.clone(t)
	if err != nil {
		return nil, err
	}
	if err := b.softmaxRows(out, log); err != nil {
		tensor.Release(out)
		return nil, err
	}
	if inPlace && !log { // a strided view: write the result back
		defer tensor.Release(out)
		return t, b.copyTensor(t, out)
	}
	return out, nil
}

func (b *backend) LayerNorm(x, w, bias *tensor.Tensor, eps float32, inPlace bool) (*tensor.Tensor, error) {
	if err := b.own(x, w, bias); err != nil {
		return nil, err
	}
	rows, width := rowsOf(x)
	if x.Rank() > 0 {
		width = x.Dim(-1)
	}
	if w != nil && w.Len() != width {
		return nil, fmt.Errorf("%w: layer norm weight %v for width %d", tensor.ErrShape, w.Shape(), width)
	}
	if bias != nil && bias.Len() != width {
		return nil, fmt.Errorf("%w: layer norm bias %v for width %d", tensor.ErrShape, bias.Shape(), width)
	}
	if !fitsInt32(width) {
		return nil, fmt.Errorf("%w: layer norm rows of %d values", ErrUnsupported, width)
	}
	done, err := b.contiguousAll(&w, &bias)
	if err != nil {
		return nil, err
	}
	defer done()
	run := func(out, in *tensor.Tensor) error {
		if rows == 0 {
			return nil
		}
		var p params
		p.ptr(out.DeviceAddr()).ptr(in.DeviceAddr()).i64(rows).i32(width).ptr(w.DeviceAddr()).ptr(bias.DeviceAddr()).f32(eps)
		return b.launch(kLayerNormRows, rowsGrid(rows), rowBlock(width), &p)
	}
	if inPlace && x.IsContiguous() {
		return x, run(x, x)
	}
	in, tmp, err := b.contiguous(x)
	if err != nil {
		return nil, err
	}
	if inPlace { // a strided view: normalise a copy, write it back
		defer releaseIf(in, tmp)
		if err := run(in, in); err != nil {
			return nil, err
		}
		return x, b.copyTensor(x, in)
	}
	var out *tensor.Tensor
	if tmp {
		out = in // normalise the temporary copy in place
	} else if out, err = b.newTensor(x.Shape()); err != nil {
		return nil, err
	}
	if err := run(out, in); err != nil {
		tensor.Release(out)
		return nil, err
	}
	return out, nil
}

func (b *backend) ArgmaxRows(t *tensor.Tensor) []int {
	b.mustOwn(t)
	c, tmp, err := b.contiguous(t)
	mustOK(err)
	defer releaseIf(c, tmp)
	rows, w := rowsOf(c)
	if rows == 0 {
		return []int{}
	}
	if !fitsInt32(w) {
		panic(fmt.Errorf("%w: argmax of rows of %d values", ErrUnsupported, w))
	}
	ids, err := b.scratch(int64(4 * rows))
	mustOK(err)
	defer ids.free()
	var p params
	p.ptr(c.DeviceAddr()).i64(rows).i32(w).ptr(ids.addr)
	mustOK(b.launch(kArgmaxRows, rowsGrid(rows), 256, &p))
	h := make([]int32, rows)
	mustOK(b.c.dtoh(unsafe.Pointer(&h[0]), ids.addr, 4*rows))
	out := make([]int, rows)
	for i, v := range h {
		out[i] = int(v)
	}
	return out
}

// biasAct applies out[r, j] = act(out[r, j] + bias[j]) to rows × n values
// ldo apart (bias may be nil).
func (b *backend) biasAct(out uintptr, rows, n, ldo int, bias *tensor.Tensor, act tensor.Act) error {
	if rows == 0 || n == 0 || (bias == nil && act == tensor.ActNone) {
		return nil
	}
	bc, tmp, err := b.contiguous(bias)
	if err != nil {
		return err
	}
	defer releaseIf(bc, tmp)
	var ba uintptr
	if bc != nil {
		ba = bc.DeviceAddr()
	}
	var p params
	p.ptr(out).i64(rows).i32(n).i64(ldo).ptr(ba).i32(int(act))
	return b.launch(kBiasAct, gridFor(int64(rows)*int64(n), 256), 256, &p)
}

// defaultScale is 1/√dh.
func defaultScale(s float32, dh int) float32 {
	if s != 0 {
		return s
	}
	return float32(1 / math.Sqrt(float64(dh)))
}
