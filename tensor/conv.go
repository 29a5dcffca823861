package tensor

import "fmt"

// Conv1d computes a 1-D convolution as PyTorch's nn.Conv1d does (dilation 1).
// x is [B, Cin, L] or [Cin, L]; w is [Cout, Cin/groups, K]; bias is [Cout] or
// nil. The result is [B, Cout, Lout] (or [Cout, Lout] for 2-D x), with
// Lout = (L + 2·padding − K)/stride + 1. It runs as im2col + GEMM per group.
func Conv1d(x, w, bias *Tensor, stride, padding, groups int) (*Tensor, error) {
	if d := dev3(x, w, bias); d != nil {
		return d.be.Conv1d(x, w, bias, stride, padding, groups)
	}
	batched := x.Rank() == 3
	if x.Rank() == 2 {
		x = x.MustReshape(1, x.Dim(0), x.Dim(1))
	}
	if x.Rank() != 3 || w.Rank() != 3 {
		return nil, fmt.Errorf("%w: conv1d input %v weight %v", ErrShape, x.shape, w.shape)
	}
	if groups < 1 || stride < 1 || padding < 0 {
		return nil, fmt.Errorf("tensor: conv1d stride %d padding %d groups %d", stride, padding, groups)
	}
	b, cin, l := x.Dim(0), x.Dim(1), x.Dim(2)
	cout, cing, k := w.Dim(0), w.Dim(1), w.Dim(2)
	if cin%groups != 0 || cout%groups != 0 || cin/groups != cing {
		return nil, fmt.Errorf("%w: conv1d input channels %d, weight %v, groups %d", ErrShape, cin, w.shape, groups)
	}
	if bias != nil && bias.Len() != cout {
		return nil, fmt.Errorf("%w: conv1d bias %v for %d channels", ErrShape, bias.shape, cout)
	}
	lout := (l+2*padding-k)/stride + 1
	if lout < 1 {
		return nil, fmt.Errorf("%w: conv1d input length %d too short for kernel %d", ErrShape, l, k)
	}
	xc := x.Contiguous().Data()
	wc := w.Contiguous().Data()
	out := newUninit(b, cout, lout)
	coutg := cout / groups
	colBuf := getBuf(cing * k * lout)
	defer putBuf(colBuf)
	col := *colBuf
	for bi := 0; bi < b; bi++ {
		for g := 0; g < groups; g++ {
			// col[(c*k+kk)*lout + t] = x[bi, g*cing+c, t*stride+kk-padding]
			j := im2colJobs.get()
			*j = im2colJob{src: xc[(bi*cin+g*cing)*l:], col: col, l: l, k: k, lout: lout, stride: stride, padding: padding}
			parallelRange(int(x.threads), cing, max(1, 4096/max(k*lout, 1)), j)
			im2colJobs.put(j)
			o := out.data[(bi*cout+g*coutg)*lout:]
			beta := float32(0)
			if bias != nil {
				bd := bias.Data()
				for co := 0; co < coutg; co++ {
					row := o[co*lout : (co+1)*lout]
					for t := range row {
						row[t] = bd[g*coutg+co]
					}
				}
				beta = 1
			}
			gemmWith(int(x.threads), false, false, coutg, lout, cing*k, 1, wc[g*coutg*cing*k:], cing*k, col, lout, beta, o, lout)
		}
	}
	if !batched {
		return takeShape(out, cout, lout), nil
	}
	return out, nil
}

// PatchEmbed computes a Conv2d whose kernel equals its stride (ViT's patch
// embedding): x is [B, C, H, W], w is [D, C, P, P], bias [D] or nil. The
// result is in token layout [B, (H/P)·(W/P), D], patches in row-major order,
// which is PyTorch's conv output flattened and transposed.
func PatchEmbed(x, w, bias *Tensor) (*Tensor, error) {
	if x.Rank() != 4 || w.Rank() != 4 || w.Dim(2) != w.Dim(3) || w.Dim(1) != x.Dim(1) {
		return nil, fmt.Errorf("%w: patch embedding input %v weight %v", ErrShape, x.shape, w.shape)
	}
	if d := dev3(x, w, bias); d != nil {
		return d.be.PatchEmbed(x, w, bias)
	}
	cols, err := Patches(x, w.Dim(2))
	if err != nil {
		return nil, err
	}
	defer Release(cols)
	w2 := w.MustReshape(w.Dim(0), cols.Dim(2))
	defer Release(w2)
	// The kernel packed as a layer packs it (nn.PatchEmbedding keeps it so):
	// the same sums in the same order, whichever holds the packed copy.
	pw, err := PackWeightAs(w2, WeightF32)
	if err != nil {
		return nil, err
	}
	defer pw.Free()
	return linearPacked(nil, cols, pw, bias, nil)
}

// Patches lays out the non-overlapping p×p patches of images x [B, C, H,
// W] (on the host) as rows [B, (H/p)·(W/p), C·p·p], patches in row-major
// order and each row in (channel, row, column) order: PatchEmbed is
// Patches times the flattened kernel, which a caller holding that kernel
// packed (nn.PatchEmbedding) multiplies itself. Rows and columns that do
// not fill a patch are left out, as a strided Conv2d leaves them.
func Patches(x *Tensor, p int) (*Tensor, error) {
	if x == nil || x.Rank() != 4 {
		var s []int
		if x != nil {
			s = x.shape
		}
		return nil, fmt.Errorf("%w: patches of %v, want [B, C, H, W]", ErrShape, s)
	}
	if x.dev != nil {
		return nil, fmt.Errorf("%w: Patches runs on the host (PatchEmbed on a device)", ErrDevice)
	}
	b, c, h, wd := x.Dim(0), x.Dim(1), x.Dim(2), x.Dim(3)
	if p <= 0 || h < p || wd < p {
		return nil, fmt.Errorf("%w: image %dx%d smaller than patch %d", ErrShape, h, wd, p)
	}
	gh, gw := h/p, wd/p
	np := gh * gw
	xc := x.Contiguous().Data()
	kdim := c * p * p
	cols := newUninit(b, np, kdim)
	cols.threads = x.threads
	j := patchJobs.get()
	*j = patchJob{src: xc, cols: cols.data, np: np, gw: gw, c: c, h: h, w: wd, p: p}
	parallelRange(int(x.threads), b*np, 16, j)
	patchJobs.put(j)
	return cols, nil
}

// im2colJob lays out the Conv1d input columns of channels [lo, hi):
// col[(c·k+kk)·lout + t] = src[c·l + t·stride+kk−padding] (0 outside).
type im2colJob struct {
	src, col                    []float32
	l, k, lout, stride, padding int
}

var im2colJobs jobPool[im2colJob]

func (j *im2colJob) runRange(lo, hi int) {
	l, k, lout := j.l, j.k, j.lout
	for c := lo; c < hi; c++ {
		src := j.src[c*l : (c+1)*l]
		for kk := 0; kk < k; kk++ {
			dst := j.col[(c*k+kk)*lout : (c*k+kk+1)*lout]
			for t := range dst {
				p := t*j.stride + kk - j.padding
				if p >= 0 && p < l {
					dst[t] = src[p]
				} else {
					dst[t] = 0
				}
			}
		}
	}
}

// patchJob copies the pixels of patches [lo, hi) (over batch × patches)
// into rows of cols, in the weight's (channel, row, column) order.
type patchJob struct {
	src, cols          []float32
	np, gw, c, h, w, p int
}

var patchJobs jobPool[patchJob]

func (j *patchJob) runRange(lo, hi int) {
	c, p, h, wd := j.c, j.p, j.h, j.w
	kdim := c * p * p
	for idx := lo; idx < hi; idx++ {
		bi, pi := idx/j.np, idx%j.np
		py, px := pi/j.gw, pi%j.gw
		dst := j.cols[idx*kdim : (idx+1)*kdim]
		for ci := 0; ci < c; ci++ {
			for ky := 0; ky < p; ky++ {
				src := j.src[((bi*c+ci)*h+py*p+ky)*wd+px*p:]
				copy(dst[(ci*p+ky)*p:(ci*p+ky+1)*p], src[:p])
			}
		}
	}
}
