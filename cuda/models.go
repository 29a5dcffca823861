//go:build cuda

package cuda

import (
	"fmt"

	"github.com/goformer/goformer/tensor"
)

// The operations of tensor.ModelOps: each runs the arithmetic of its host
// kernel in the tensor package (tensor/ops_<family>.go), step for step
// (see the kernels in kernels.go). The tensor package has checked the
// operands' shapes before calling these.

// uploadTaps copies the indices and weights of bicubic taps to the device.
func (b *backend) uploadTaps(idx []int, wts []float32) (ix uintptr, wk block, err error) {
	if ix, err = b.uploadInt32(idx, false); err != nil {
		return 0, block{}, err
	}
	if wk, err = uploadScratch(b, wts); err != nil {
		b.mem.release(ix)
		return 0, block{}, err
	}
	return ix, wk, nil
}

func (b *backend) UpsampleBicubic(x *tensor.Tensor, outH, outW int, scaleH, scaleW float64) (*tensor.Tensor, error) {
	if err := b.own(x); err != nil {
		return nil, err
	}
	gh, gw, c := x.Dim(0), x.Dim(1), x.Dim(2)
	if !fitsInt32(gh, gw, c, outH, outW, 4*outH, 4*outW) {
		return nil, fmt.Errorf("%w: bicubic resize of %v to %dx%d", ErrUnsupported, x.Shape(), outH, outW)
	}
	xc, tmp, err := b.contiguous(x)
	if err != nil {
		return nil, err
	}
	defer releaseIf(xc, tmp)
	hIdx, hW := tensor.BicubicTaps(gh, outH, scaleH)
	wIdx, wW := tensor.BicubicTaps(gw, outW, scaleW)
	hi, hw, err := b.uploadTaps(hIdx, hW)
	if err != nil {
		return nil, err
	}
	defer b.mem.release(hi)
	defer hw.free()
	wi, ww, err := b.uploadTaps(wIdx, wW)
	if err != nil {
		return nil, err
	}
	defer b.mem.release(wi)
	defer ww.free()
	out, err := b.newTensor([]int{outH, outW, c})
	if err != nil {
		return nil, err
	}
	var p params
	p.ptr(out.DeviceAddr()).ptr(xc.DeviceAddr()).i32(gw).i32(c).i32(outH).i32(outW).
		ptr(hi).ptr(hw.addr).ptr(wi).ptr(ww.addr)
	if err := b.launch(kUpsampleBicubic, gridFor(int64(out.Len()), 256), 256, &p); err != nil {
		tensor.Release(out)
		return nil, err
	}
	return out, nil
}

// channelNorm checks the operands of the channel norms (x a contiguous
// [C, T] of this device, w and bias of C values) and, unless x is empty,
// runs launch with the addresses of contiguous forms of w and bias.
func (b *backend) channelNorm(x, w, bias *tensor.Tensor, launch func(c, t int, w, bias uintptr) error) error {
	if err := b.own(x, w, bias); err != nil {
		return err
	}
	if x.Rank() != 2 || !x.IsContiguous() || w.Len() != x.Dim(0) || bias.Len() != x.Dim(0) {
		return fmt.Errorf("%w: channel norm of %v with weight %v and bias %v", tensor.ErrShape, x.Shape(), w.Shape(), bias.Shape())
	}
	c, t := x.Dim(0), x.Dim(1)
	if c == 0 || t == 0 {
		return nil
	}
	done, err := b.contiguousAll(&w, &bias)
	if err != nil {
		return err
	}
	defer done()
	return launch(c, t, w.DeviceAddr(), bias.DeviceAddr())
}

func (b *backend) GroupNormChannels(x, w, bias *tensor.Tensor, eps float32) error {
	return b.channelNorm(x, w, bias, func(c, t int, wa, ba uintptr) error {
		var p params
		p.ptr(x.DeviceAddr()).i64(c).i64(t).ptr(wa).ptr(ba).f32(eps)
		return b.launch(kGroupNormChannels, rowsGrid(c), rowBlock(t), &p)
	})
}

func (b *backend) LayerNormChannels(x, w, bias *tensor.Tensor, eps float32) error {
	return b.channelNorm(x, w, bias, func(c, t int, wa, ba uintptr) error {
		if !fitsInt32(c) {
			return fmt.Errorf("%w: layer norm over %d channels", ErrUnsupported, c)
		}
		var p params
		p.ptr(x.DeviceAddr()).i32(c).i64(t).ptr(wa).ptr(ba).f32(eps)
		return b.launch(kLayerNormChannels, gridFor(int64(t), 128), 128, &p)
	})
}

func (b *backend) RMSNorm(x, w *tensor.Tensor, eps float64) (*tensor.Tensor, error) {
	if err := b.own(x, w); err != nil {
		return nil, err
	}
	rows, d := rowsOf(x)
	if x.Rank() < 1 || w.Len() != x.Dim(-1) {
		return nil, fmt.Errorf("%w: RMS norm of %v with weight %v", tensor.ErrShape, x.Shape(), w.Shape())
	}
	if !fitsInt32(d) {
		return nil, fmt.Errorf("%w: RMS norm of rows of %d values", ErrUnsupported, d)
	}
	done, err := b.contiguousAll(&w)
	if err != nil {
		return nil, err
	}
	defer done()
	in, tmp, err := b.contiguous(x)
	if err != nil {
		return nil, err
	}
	out := in // a temporary copy is normalised in place
	if !tmp {
		if out, err = b.newTensor(x.Shape()); err != nil {
			return nil, err
		}
	}
	if rows > 0 {
		var p params
		p.ptr(out.DeviceAddr()).ptr(in.DeviceAddr()).i64(rows).i32(d).ptr(w.DeviceAddr()).f64(eps)
		if err := b.launch(kRMSNormRows, rowsGrid(rows), rowBlock(d), &p); err != nil {
			tensor.Release(out)
			return nil, err
		}
	}
	return out, nil
}

func (b *backend) Rope(x *tensor.Tensor, heads int, invFreq []float32, scale float64, pos []int) error {
	if err := b.own(x); err != nil {
		return err
	}
	half := len(invFreq)
	if x.Rank() != 3 || !x.IsContiguous() || heads < 1 || half == 0 || x.Dim(2) != heads*2*half || len(pos) != x.Dim(0)*x.Dim(1) {
		return fmt.Errorf("%w: rotary embedding of %v with %d heads of %d frequencies at %d positions", tensor.ErrShape, x.Shape(), heads, half, len(pos))
	}
	rows := len(pos)
	if rows == 0 {
		return nil
	}
	if !fitsInt32(heads, half) {
		return fmt.Errorf("%w: rotary embedding of %d heads of %d frequencies", ErrUnsupported, heads, half)
	}
	f, err := uploadScratch(b, invFreq)
	if err != nil {
		return err
	}
	defer f.free()
	ps, err := b.uploadInt64(pos)
	if err != nil {
		return err
	}
	defer ps.free()
	scaled := 0
	if scale != 0 && scale != 1 {
		scaled = 1
	}
	var p params
	p.ptr(x.DeviceAddr()).i64(rows).i32(heads).i32(half).ptr(f.addr).ptr(ps.addr).f32(float32(scale)).i32(scaled)
	return b.launch(kRope, gridFor(int64(rows)*int64(half), 256), 256, &p)
}

func (b *backend) GateInPlace(g, u *tensor.Tensor) error {
	if err := b.own(g, u); err != nil {
		return err
	}
	if !g.IsContiguous() || !tensor.SameShape(g, u) {
		return fmt.Errorf("%w: in-place gate %v *= %v", tensor.ErrShape, g.Shape(), u.Shape())
	}
	n := g.Len()
	if n == 0 {
		return nil
	}
	shape := g.Shape()
	rank, sh, st, err := coalesce(shape, tensor.ContiguousStrides(shape), u.Strides())
	if err != nil {
		return err
	}
	// g = g · u elementwise: the binary kernel writing into its first
	// operand (each element is read before it is written, by one thread).
	var p params
	p.i32(int(tensor.OpMul)).ptr(g.DeviceAddr()).ptr(g.DeviceAddr()).dims(&st[0]).ptr(u.DeviceAddr()).dims(&st[1]).dims(&sh).i32(rank).i64(n)
	return b.launch(kBinary, gridFor(int64(n), 256), 256, &p)
}
