package jpeg

import (
	"encoding/binary"
	"image"
)

// Upsampling (jdsample.c) and color conversion (jdcolor.c), then Pillow's
// CMYK handling. libjpeg-turbo with fancy upsampling on (Pillow's default)
// picks, per component, from the ratio of the largest sampling factors to
// the component's:
//
//	1:1                      copy
//	2:1 horizontally         h2v1 triangle filter (box when <= 2 samples wide)
//	2:1 vertically           h1v2 triangle filter
//	2:1 both                 h2v2 triangle filter (box when <= 2 samples wide)
//	other integral ratios    box (sample replication), e.g. 4:1:1
//
// Merged upsampling is never used with fancy upsampling on. Beyond the
// edges of the component the filters repeat the edge samples, as
// libjpeg's context rows and edge cases do.

type upKind int

const (
	upCopy upKind = iota
	upH2V1
	upH1V2
	upH2V2
	upBox
)

type upsampler struct {
	c          *component
	kind       upKind
	hexp, vexp int
	buf        []byte
}

func (d *decoder) newUpsampler(c *component) *upsampler {
	u := &upsampler{c: c, hexp: d.maxH / c.h, vexp: d.maxV / c.v}
	switch {
	case u.hexp == 1 && u.vexp == 1:
		u.kind = upCopy
		return u
	case u.hexp == 2 && u.vexp == 1 && c.dsWidth > 2:
		u.kind = upH2V1
	case u.hexp == 1 && u.vexp == 2:
		u.kind = upH1V2
	case u.hexp == 2 && u.vexp == 2 && c.dsWidth > 2:
		u.kind = upH2V2
	default:
		u.kind = upBox
	}
	u.buf = make([]byte, max(d.width, c.dsWidth*u.hexp))
	return u
}

// plane returns sample row i of the component, clamped to its rows as
// libjpeg's context rows repeat the edge rows.
func (u *upsampler) plane(i int) []byte {
	c := u.c
	if i < 0 {
		i = 0
	}
	if i > c.dsHeight-1 {
		i = c.dsHeight - 1
	}
	return c.sampleRow(i)
}

// sampleRow returns sample row i (dsWidth samples) of the plane.
func (c *component) sampleRow(i int) []byte {
	o := (i % c.rows) * c.stride
	return c.plane[o : o+c.dsWidth]
}

// row returns the upsampled samples of output row y (at least the image
// width).
func (u *upsampler) row(y int) []byte {
	c := u.c
	switch u.kind {
	case upCopy:
		return c.sampleRow(y)
	case upH2V1:
		fancyH2(u.plane(y), u.buf)
	case upH1V2:
		near := u.plane(y / 2)
		far, bias := u.plane(y/2-1), 1
		if y&1 == 1 {
			far, bias = u.plane(y/2+1), 2
		}
		out := u.buf[:len(near)]
		far = far[:len(near)]
		for i, n := range near {
			out[i] = uint8((3*int(n) + int(far[i]) + bias) >> 2)
		}
	case upH2V2:
		near := u.plane(y / 2)
		var far []byte
		if y&1 == 0 {
			far = u.plane(y/2 - 1)
		} else {
			far = u.plane(y/2 + 1)
		}
		fancyH2V2(near, far, u.buf)
	case upBox:
		in := u.plane(y / u.vexp)
		out := u.buf
		if u.hexp == 1 {
			copy(out, in)
			break
		}
		o := 0
		for _, v := range in {
			for k := 0; k < u.hexp; k++ {
				out[o+k] = v
			}
			o += u.hexp
		}
	}
	return u.buf
}

// fancyH2 is h2v1_fancy_upsample for one row of n > 2 samples into 2n.
func fancyH2(in, out []byte) {
	n := len(in)
	out = out[:2*n]
	v := int(in[0])
	out[0] = uint8(v)
	out[1] = uint8((v*3 + int(in[1]) + 2) >> 2)
	for i := 1; i < n-1; i++ {
		v := int(in[i]) * 3
		out[2*i] = uint8((v + int(in[i-1]) + 1) >> 2)
		out[2*i+1] = uint8((v + int(in[i+1]) + 2) >> 2)
	}
	v = int(in[n-1])
	out[2*n-2] = uint8((v*3 + int(in[n-2]) + 1) >> 2)
	out[2*n-1] = uint8(v)
}

// fancyH2V2 is one output row of h2v2_fancy_upsample: near is the nearer
// input row, far the other neighbour.
func fancyH2V2(near, far, out []byte) {
	n := len(near)
	out = out[:2*n]
	far = far[:n]
	this := int(near[0])*3 + int(far[0])
	next := int(near[1])*3 + int(far[1])
	out[0] = uint8((this*4 + 8) >> 4)
	out[1] = uint8((this*3 + next + 7) >> 4)
	last := this
	this = next
	for i := 1; i < n-1; i++ {
		next = int(near[i+1])*3 + int(far[i+1])
		out[2*i] = uint8((this*3 + last + 8) >> 4)
		out[2*i+1] = uint8((this*3 + next + 7) >> 4)
		last, this = this, next
	}
	out[2*n-2] = uint8((this*3 + last + 8) >> 4)
	out[2*n-1] = uint8((this*4 + 7) >> 4)
}

// YCbCr to RGB tables of jdcolor.c's build_ycc_rgb_table, and the same
// values paired by chroma component for the row converter.
var (
	crRTab, cbBTab [256]int32
	crGTab, cbGTab [256]int32
	crTab, cbTab   [256][2]int32 // {Cr_r, Cr_g}, {Cb_b, Cb_g}
	// clamp[x+256] limits x in [-256, 511] to [0, 255] (sample_range_limit);
	// it is 1024 long so that indices masked with 1023 need no bounds check.
	clamp [1024]uint8
)

func init() {
	const scaleBits = 16
	const half = 1 << (scaleBits - 1)
	fix := func(x float64) int64 { return int64(x*(1<<scaleBits) + 0.5) }
	for i := 0; i < 256; i++ {
		x := int64(i - 128)
		crRTab[i] = int32((fix(1.40200)*x + half) >> scaleBits)
		cbBTab[i] = int32((fix(1.77200)*x + half) >> scaleBits)
		crGTab[i] = int32(-fix(0.71414) * x)
		cbGTab[i] = int32(-fix(0.34414)*x + half)
		crTab[i] = [2]int32{crRTab[i], crGTab[i]}
		cbTab[i] = [2]int32{cbBTab[i], cbGTab[i]}
	}
	for i := range clamp {
		v := i - 256
		clamp[i] = uint8(min(max(v, 0), 255))
	}
}

// newOutput allocates the output image and the upsamplers.
func (d *decoder) newOutput() {
	r := image.Rect(0, 0, d.width, d.height)
	if d.colorSpace == csGray {
		d.out = image.NewGray(r)
		return
	}
	d.out = image.NewRGBA(r)
	d.ups = make([]*upsampler, len(d.comps))
	for i := range d.comps {
		d.ups[i] = d.newUpsampler(&d.comps[i])
	}
	d.fused420 = d.colorSpace == csYCbCr && d.ups[0].kind == upCopy &&
		d.ups[1].kind == upH2V2 && d.ups[2].kind == upH2V2
}

// ycc420Row is fancyH2V2 on both chroma rows and yccRow in one pass, for
// the common 4:2:0 layout (full-size Y, h2v2 fancy Cb and Cr).
func (d *decoder) ycc420Row(y int, out []byte) {
	ucb, ucr := d.ups[1], d.ups[2]
	ys := d.comps[0].sampleRow(y)
	nearB, nearR := ucb.plane(y/2), ucr.plane(y/2)
	var farB, farR []byte
	if y&1 == 0 {
		farB, farR = ucb.plane(y/2-1), ucr.plane(y/2-1)
	} else {
		farB, farR = ucb.plane(y/2+1), ucr.plane(y/2+1)
	}
	n := len(nearB)
	farB, nearR, farR = farB[:n], nearR[:n], farR[:n]
	w := d.width
	ys = ys[:w]
	out = out[:4*w]
	// put converts output pixel x with upsampled chroma cb, cr.
	put := func(x int, cb, cr int) {
		yy := int32(ys[x]) + 256
		crt := &crTab[cr&0xff]
		cbt := &cbTab[cb&0xff]
		r := uint32(clamp[(yy+crt[0])&1023])
		g := uint32(clamp[(yy+(cbt[1]+crt[1])>>16)&1023])
		b := uint32(clamp[(yy+cbt[0])&1023])
		binary.LittleEndian.PutUint32(out[4*x:], r|g<<8|b<<16|0xff000000)
	}
	thisB := int(nearB[0])*3 + int(farB[0])
	thisR := int(nearR[0])*3 + int(farR[0])
	nextB := int(nearB[1])*3 + int(farB[1])
	nextR := int(nearR[1])*3 + int(farR[1])
	put(0, (thisB*4+8)>>4, (thisR*4+8)>>4)
	if w > 1 {
		put(1, (thisB*3+nextB+7)>>4, (thisR*3+nextR+7)>>4)
	}
	lastB, lastR := thisB, thisR
	thisB, thisR = nextB, nextR
	i := 1
	for ; i < n-1 && 2*i+1 < w; i++ {
		nextB = int(nearB[i+1])*3 + int(farB[i+1])
		nextR = int(nearR[i+1])*3 + int(farR[i+1])
		put(2*i, (thisB*3+lastB+8)>>4, (thisR*3+lastR+8)>>4)
		put(2*i+1, (thisB*3+nextB+7)>>4, (thisR*3+nextR+7)>>4)
		lastB, lastR = thisB, thisR
		thisB, thisR = nextB, nextR
	}
	// The remaining one or two output pixels (the last chroma column, or
	// the odd last pixel of a row cut inside a column).
	for ; i < n && 2*i < w; i++ {
		if i < n-1 {
			nextB = int(nearB[i+1])*3 + int(farB[i+1])
			nextR = int(nearR[i+1])*3 + int(farR[i+1])
			put(2*i, (thisB*3+lastB+8)>>4, (thisR*3+lastR+8)>>4)
			if 2*i+1 < w {
				put(2*i+1, (thisB*3+nextB+7)>>4, (thisR*3+nextR+7)>>4)
			}
			lastB, lastR = thisB, thisR
			thisB, thisR = nextB, nextR
			continue
		}
		put(2*i, (thisB*3+lastB+8)>>4, (thisR*3+lastR+8)>>4)
		if 2*i+1 < w {
			put(2*i+1, (thisB*4+7)>>4, (thisR*4+7)>>4)
		}
	}
}

// convertRows upsamples and color-converts the output rows up to (not
// including) y from the component planes.
func (d *decoder) convertRows(y int) {
	w := d.width
	for ; d.outRows < y; d.outRows++ {
		row := d.outRows
		if img, ok := d.out.(*image.Gray); ok {
			copy(img.Pix[row*img.Stride:row*img.Stride+w], d.comps[0].sampleRow(row))
			continue
		}
		img := d.out.(*image.RGBA)
		out := img.Pix[row*img.Stride : row*img.Stride+4*w]
		if d.fused420 {
			d.ycc420Row(row, out)
			continue
		}
		r0 := d.ups[0].row(row)[:w]
		r1 := d.ups[1].row(row)[:w]
		r2 := d.ups[2].row(row)[:w]
		switch d.colorSpace {
		case csYCbCr:
			yccRow(r0, r1, r2, out)
		case csRGB:
			for x := range r0 {
				o := out[4*x : 4*x+4 : 4*x+4]
				o[0], o[1], o[2], o[3] = r0[x], r1[x], r2[x], 255
			}
		case csCMYK, csYCCK:
			r3 := d.ups[3].row(row)[:w]
			cmykRow(r0, r1, r2, r3, out, d.colorSpace == csYCCK)
		}
	}
}

// yccRow is ycc_rgb_convert for one row, writing opaque RGBA.
func yccRow(ys, cbs, crs, out []byte) {
	cbs = cbs[:len(ys)]
	crs = crs[:len(ys)]
	out = out[:4*len(ys)]
	for x, yv := range ys {
		yy := int32(yv) + 256
		cr := &crTab[crs[x]]
		cb := &cbTab[cbs[x]]
		r := uint32(clamp[(yy+cr[0])&1023])
		g := uint32(clamp[(yy+(cb[1]+cr[1])>>16)&1023])
		b := uint32(clamp[(yy+cb[0])&1023])
		binary.LittleEndian.PutUint32(out[4*x:], r|g<<8|b<<16|0xff000000)
	}
}

// cmykRow turns libjpeg's CMYK output (ycck_cmyk_convert first for YCCK)
// into RGB as Pillow does: its "CMYK;I" raw mode inverts the four channels
// (Adobe's convention) and convert("RGB") computes
// R = (255-K) - (C*(255-K))/255 with its rounding MULDIV255.
func cmykRow(c0, c1, c2, k, out []byte, ycck bool) {
	for x := range c0 {
		var c, m, yy int
		if ycck {
			c, m, yy = ycckToCMY(c0[x], c1[x], c2[x])
		} else {
			c, m, yy = int(c0[x]), int(c1[x]), int(c2[x])
		}
		// Pillow's "CMYK;I" unpacking inverts every channel.
		ci, mi, yi, ki := 255-c, 255-m, 255-yy, 255-int(k[x])
		nk := 255 - ki
		o := out[4*x : 4*x+4 : 4*x+4]
		o[0] = uint8(nk - mulDiv255(ci, nk))
		o[1] = uint8(nk - mulDiv255(mi, nk))
		o[2] = uint8(nk - mulDiv255(yi, nk))
		o[3] = 255
	}
}

// ycckToCMY is ycck_cmyk_convert for the first three channels.
func ycckToCMY(y, cb, cr byte) (c, m, yy int) {
	yv := int32(y)
	c = int(clamp[255-(yv+crRTab[cr])+256])
	m = int(clamp[255-(yv+(cbGTab[cb]+crGTab[cr])>>16)+256])
	yy = int(clamp[255-(yv+cbBTab[cb])+256])
	return
}

// mulDiv255 is Pillow's MULDIV255: a*b/255 rounded.
func mulDiv255(a, b int) int {
	t := a*b + 128
	return ((t >> 8) + t) >> 8
}
