//go:build cuda

package cuda

import (
	"fmt"

	"github.com/goformer/goformer/tensor"
)

func (b *backend) Conv1d(x, w, bias *tensor.Tensor, stride, padding, groups int) (*tensor.Tensor, error) {
	if err := b.own(x, w, bias); err != nil {
		return nil, err
	}
	batched := x.Rank() == 3
	if x.Rank() == 2 {
		xc, tmp, err := b.contiguous(x)
		if err != nil {
			return nil, err
		}
		defer releaseIf(xc, tmp)
		x = xc.MustReshape(1, x.Dim(0), x.Dim(1))
	}
	if x.Rank() != 3 || w.Rank() != 3 {
		return nil, fmt.Errorf("%w: conv1d input %v weight %v", tensor.ErrShape, x.Shape(), w.Shape())
	}
	if groups < 1 || stride < 1 || padding < 0 {
		return nil, fmt.Errorf("cuda: conv1d stride %d padding %d groups %d", stride, padding, groups)
	}
	bs, cin, l := x.Dim(0), x.Dim(1), x.Dim(2)
	cout, cing, k := w.Dim(0), w.Dim(1), w.Dim(2)
	if cin%groups != 0 || cout%groups != 0 || cin/groups != cing {
		return nil, fmt.Errorf("%w: conv1d input channels %d, weight %v, groups %d", tensor.ErrShape, cin, w.Shape(), groups)
	}
	if bias != nil && bias.Len() != cout {
		return nil, fmt.Errorf("%w: conv1d bias %v for %d channels", tensor.ErrShape, bias.Shape(), cout)
	}
	lout := (l+2*padding-k)/stride + 1
	if lout < 1 {
		return nil, fmt.Errorf("%w: conv1d input length %d too short for kernel %d", tensor.ErrShape, l, k)
	}
	if !fitsInt32(cin, l, k, lout, stride, padding, cin*k, cout) {
		return nil, fmt.Errorf("%w: conv1d sizes", ErrUnsupported)
	}
	done, err := b.contiguousAll(&x, &w)
	if err != nil {
		return nil, err
	}
	defer done()
	shape := []int{bs, cout, lout}
	if !batched {
		shape = shape[1:]
	}
	out, err := b.newTensor(shape)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*tensor.Tensor, error) {
		tensor.Release(out)
		return nil, err
	}
	if out.Len() == 0 {
		return out, nil
	}
	// Columns [B, Cin·K, Lout]; group g reads rows g·Cing·K onwards.
	ncol := int64(bs) * int64(cin*k) * int64(lout)
	col, err := b.scratch(4 * ncol)
	if err != nil {
		return fail(err)
	}
	defer col.free()
	var p params
	p.ptr(col.addr).ptr(x.DeviceAddr()).i64(bs).i32(cin).i32(l).i32(k).i32(lout).i32(stride).i32(padding)
	if err := b.launch(kIm2col1d, gridFor(ncol, 256), 256, &p); err != nil {
		return fail(err)
	}
	coutg := cout / groups
	for g := 0; g < groups; g++ {
		// out[b, g·Coutg:, :] = W_g [Coutg, Cing·K] · col[b, g·Cing·K:, :]
		ga := gemmArgs{m: coutg, n: lout, k: cing * k, alpha: 1,
			a: w.DeviceAddr() + uintptr(4*g*coutg*cing*k), lda: max(cing*k, 1),
			b: col.addr + uintptr(4*g*cing*k*lout), ldb: lout,
			c: out.DeviceAddr() + uintptr(4*g*coutg*lout), ldc: lout}
		if bs == 1 {
			err = b.sgemm(ga)
		} else {
			err = b.sgemmStridedOut(ga, 0, cin*k*lout, cout*lout, bs)
		}
		if err != nil {
			return fail(err)
		}
	}
	if bias != nil {
		bc, btmp, err := b.contiguous(bias)
		if err != nil {
			return fail(err)
		}
		defer releaseIf(bc, btmp)
		var p params
		p.ptr(out.DeviceAddr()).ptr(bc.DeviceAddr()).i64(out.Len()).i32(cout).i64(lout)
		if err := b.launch(kBiasChannels, gridFor(int64(out.Len()), 256), 256, &p); err != nil {
			return fail(err)
		}
	}
	return out, nil
}

// sgemmStridedOut is sgemmStrided for outputs sc elements apart that are
// not necessarily contiguous one after the other.
func (b *backend) sgemmStridedOut(g gemmArgs, sa, sb, sc, count int) error {
	if g.k == 0 {
		for i := 0; i < count; i++ {
			if err := b.zeroRows(g.c+uintptr(4*i*sc), g.m, g.n, g.ldc); err != nil {
				return err
			}
		}
		return nil
	}
	return b.sgemmStrided(g, sa, sb, sc, count)
}

func (b *backend) PatchEmbed(x, w, bias *tensor.Tensor) (*tensor.Tensor, error) {
	if err := b.own(x, w, bias); err != nil {
		return nil, err
	}
	if x.Rank() != 4 || w.Rank() != 4 || w.Dim(2) != w.Dim(3) || w.Dim(1) != x.Dim(1) {
		return nil, fmt.Errorf("%w: patch embedding input %v weight %v", tensor.ErrShape, x.Shape(), w.Shape())
	}
	bs, c, h, wd := x.Dim(0), x.Dim(1), x.Dim(2), x.Dim(3)
	d, p := w.Dim(0), w.Dim(2)
	if p == 0 || h < p || wd < p {
		return nil, fmt.Errorf("%w: image %dx%d smaller than patch %d", tensor.ErrShape, h, wd, p)
	}
	if bias != nil && bias.Len() != d {
		return nil, fmt.Errorf("%w: linear bias %v for %d outputs", tensor.ErrShape, bias.Shape(), d)
	}
	if !fitsInt32(c, h, wd, p) {
		return nil, fmt.Errorf("%w: patch embedding sizes", ErrUnsupported)
	}
	gh, gw := h/p, wd/p
	np := gh * gw
	kdim := c * p * p
	done, err := b.contiguousAll(&x, &w)
	if err != nil {
		return nil, err
	}
	defer done()
	cols, err := b.newTensor([]int{bs, np, kdim})
	if err != nil {
		return nil, err
	}
	defer tensor.Release(cols)
	if n := cols.Len(); n > 0 {
		var pr params
		pr.ptr(cols.DeviceAddr()).ptr(x.DeviceAddr()).i64(bs).i32(c).i32(h).i32(wd).i32(p).i32(gh).i32(gw)
		if err := b.launch(kPatchify, gridFor(int64(n), 256), 256, &pr); err != nil {
			return nil, err
		}
	}
	w2, err := w.Reshape(d, kdim)
	if err != nil {
		return nil, err
	}
	return b.linear(cols, w2, bias)
}
