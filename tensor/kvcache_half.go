package tensor

import (
	"fmt"
	"math"

	"github.com/goformer/goformer/tensor/internal/kern"
)

// HalfKV is a growable cache of self-attention keys and values kept as
// 16-bit floats (WeightF16 or WeightBF16): what incremental decoding
// appends one position at a time and every later position reads. It takes
// half the memory of a float32 cache and half the bytes each decoded
// token reads, at the cost of rounding the keys and values (rounded as
// PackKV rounds them, to nearest even). Unlike PackKV, it rounds in every
// build, with or without assembly kernels.
//
// Keys and values are stored per (batch row, head) as rows of head-dim
// values, [B, H, capacity, Dh], so that appending positions writes in
// place; the capacity doubles when full. AttentionHalfKV runs the
// arithmetic of Attention on them: decoding steps (at most 4 query rows)
// widen the keys a chunk at a time for the dot products and read the
// values 16-bit in place with the half GEMM kernels; longer query blocks
// widen a head's keys and values to float32 scratch. Widening is exact,
// so its results are those of Attention over the rounded keys and values,
// bit for bit.
//
// A HalfKV belongs to one decoding call: it is not safe for concurrent
// use. Its storage lives on the device it was made for (NewHalfKV).
type HalfKV struct {
	b, h, dh int
	len, cap int
	typ      WeightType
	// k, v hold [b, h, cap, dh] 16-bit values (host and checking device).
	k, v []uint16
	// dev is the device holding the cache (nil: host); a backend keeps
	// its own form of the storage in devData.
	dev     *Device
	devData any
}

// NewHalfKV returns an empty cache on d (nil: the host) for keys and
// values of batch rows of heads heads of headDim values, kept as t
// (WeightF16 or WeightBF16). A device that cannot keep such a cache
// returns an error wrapping ErrDevice (then keep a float32 cache).
func NewHalfKV(d *Device, batch, heads, headDim int, t WeightType) (*HalfKV, error) {
	if t != WeightF16 && t != WeightBF16 {
		return nil, fmt.Errorf("tensor: a 16-bit key/value cache of type %v (want F16 or BF16)", t)
	}
	if batch < 1 || heads < 1 || headDim < 1 {
		return nil, fmt.Errorf("%w: key/value cache of %d rows, %d heads of %d values", ErrShape, batch, heads, headDim)
	}
	if d != nil {
		return d.be.NewHalfKV(d, batch, heads, headDim, t)
	}
	return &HalfKV{b: batch, h: heads, dh: headDim, typ: t}, nil
}

// NewDeviceHalfKV returns an empty cache that lives on d with data as its
// backend's storage: how a backend's NewHalfKV represents what it keeps.
func NewDeviceHalfKV(d *Device, batch, heads, headDim int, t WeightType, data any) *HalfKV {
	return &HalfKV{b: batch, h: heads, dh: headDim, typ: t, dev: d, devData: data}
}

// Device returns the device holding the cache (nil: the host).
func (c *HalfKV) Device() *Device { return c.dev }

// DeviceData returns what the backend of the cache's device keeps for it.
func (c *HalfKV) DeviceData() any { return c.devData }

// SetDeviceData replaces what the backend keeps for the cache (a backend
// growing or reordering its storage).
func (c *HalfKV) SetDeviceData(data any) { c.devData = data }

// Len returns the number of cached positions.
func (c *HalfKV) Len() int { return c.len }

// Batch returns the number of batch rows.
func (c *HalfKV) Batch() int { return c.b }

// Heads returns the number of heads.
func (c *HalfKV) Heads() int { return c.h }

// HeadDim returns the number of values per head.
func (c *HalfKV) HeadDim() int { return c.dh }

// Type returns the element type the keys and values are kept in.
func (c *HalfKV) Type() WeightType { return c.typ }

// Bytes returns the memory the host storage of the cache takes (0 on a
// device that keeps its own).
func (c *HalfKV) Bytes() int { return 2 * (len(c.k) + len(c.v)) }

// Append adds the keys and values of T new positions, k and v
// [B, T, H·Dh] float32 (any strides), rounded to the cache's type.
func (c *HalfKV) Append(k, v *Tensor) error {
	if k == nil || v == nil || k.Rank() != 3 || !SameShape(k, v) || k.Dim(0) != c.b || k.Dim(2) != c.h*c.dh || k.Dim(1) < 1 {
		var ks []int
		if k != nil {
			ks = k.shape
		}
		return fmt.Errorf("%w: appending keys %v to a key/value cache of [%d %d %d×%d]", ErrShape, ks, c.b, c.len, c.h, c.dh)
	}
	if c.len+k.Dim(1) > math.MaxInt32 {
		return fmt.Errorf("%w: key/value cache of %d positions", ErrShape, c.len+k.Dim(1))
	}
	if d := dev2(k, v); d != nil || c.dev != nil {
		if d == nil {
			d = c.dev
		}
		if err := d.be.AppendHalfKV(c, k, v); err != nil {
			return err
		}
	} else {
		c.appendStore(k, v)
	}
	c.len += k.Dim(1)
	return nil
}

// appendStore writes positions [len, len+T) of the host storage, growing
// it when full.
func (c *HalfKV) appendStore(k, v *Tensor) {
	t := k.Dim(1)
	if c.len+t > c.cap {
		c.realloc(c.b, max(2*c.cap, c.len+t, 16), nil)
	}
	h, dh, d := c.h, c.dh, c.h*c.dh
	for i, src := range [2]*Tensor{k, v} {
		dst := c.k
		if i == 1 {
			dst = c.v
		}
		data, bs, rs := rowMajor3(src)
		for bi := 0; bi < c.b; bi++ {
			for j := 0; j < t; j++ {
				row := data[bi*bs+j*rs : bi*bs+j*rs+d]
				for hd := 0; hd < h; hd++ {
					o := ((bi*h+hd)*c.cap + c.len + j) * dh
					narrowHalf(dst[o:o+dh], row[hd*dh:(hd+1)*dh], c.typ)
				}
			}
		}
	}
}

// realloc replaces the host storage by b rows of capacity nc, keeping the
// cached positions of rows idx (old row idx[i] becomes row i; nil: the
// same rows in order).
func (c *HalfKV) realloc(b, nc int, idx []int) {
	n := b * c.h * nc * c.dh
	nk, nv := make([]uint16, n), make([]uint16, n)
	if c.len > 0 {
		keep := c.len * c.dh
		for i := 0; i < b; i++ {
			j := i
			if idx != nil {
				j = idx[i]
			}
			for hd := 0; hd < c.h; hd++ {
				src := (j*c.h + hd) * c.cap * c.dh
				dst := (i*c.h + hd) * nc * c.dh
				copy(nk[dst:dst+keep], c.k[src:src+keep])
				copy(nv[dst:dst+keep], c.v[src:src+keep])
			}
		}
	}
	c.k, c.v, c.cap = nk, nv, nc
}

// narrowHalf rounds src to t (WeightF16 or WeightBF16) as PackKV does.
func narrowHalf(dst []uint16, src []float32, t WeightType) {
	if t == WeightBF16 {
		kern.NarrowBF16(dst, src)
		return
	}
	narrowF16(dst, src)
}

// narrowF16 is kern.NarrowF16 (IEEE half, to nearest even) with a short
// path for values whose result is a normal half or infinity, the rest
// (zeros, subnormals, NaN) rounded by kern.NarrowF16.
func narrowF16(dst []uint16, src []float32) {
	for i, v := range src[:len(dst)] {
		b := math.Float32bits(v)
		a := b & 0x7fffffff
		if a >= 0x38800000 && a < 0x47800000 {
			// Round the 13 dropped mantissa bits to nearest even (a carry
			// moves into the exponent), then rebias 127 → 15.
			a += 0x0fff + (a>>13)&1
			dst[i] = uint16(b>>16&0x8000) | uint16((a-0x38000000)>>13)
			continue
		}
		kern.NarrowF16(dst[i:i+1], src[i:i+1])
	}
}

// Reorder keeps the batch rows in the order given (beam search): row i
// becomes old row idx[i]; len(idx) may differ from the batch size.
func (c *HalfKV) Reorder(idx []int) error {
	if len(idx) == 0 {
		return fmt.Errorf("%w: reordering a key/value cache to no rows", ErrShape)
	}
	for _, j := range idx {
		if j < 0 || j >= c.b {
			return fmt.Errorf("%w: reorder index %d outside the batch of %d", ErrShape, j, c.b)
		}
	}
	if c.dev != nil {
		if err := c.dev.be.ReorderHalfKV(c, idx); err != nil {
			return err
		}
	} else if c.cap > 0 {
		c.realloc(len(idx), c.cap, idx)
	}
	c.b = len(idx)
	return nil
}

// Reset empties the cache, keeping its memory.
func (c *HalfKV) Reset() { c.len = 0 }

// Free releases the cache's storage now (on a device, its memory); the
// cache is empty afterwards and takes appends again. Freeing twice does
// nothing.
func (c *HalfKV) Free() {
	if c == nil {
		return
	}
	if c.dev != nil {
		c.dev.be.FreeHalfKV(c)
	}
	c.k, c.v, c.len, c.cap = nil, nil, 0, 0
}

// AttentionHalfKV is Attention of queries q [B, Tq, H·Dh] against every
// position cached in c (self-attention with a cache: append the new
// positions' keys and values first, so that with Causal query i, at
// position Len−Tq+i, sees the positions up to its own). opt.Heads, when
// set, must equal c's heads; opt.KVHeads must be 0 or the same. Masks,
// causality and Probs behave as in Attention; results are bit-identical
// to Attention over the keys and values widened from c.
func AttentionHalfKV(q *Tensor, c *HalfKV, opt AttentionOptions) (*Tensor, error) {
	if c == nil || q == nil || q.Rank() != 3 || q.Dim(0) != c.b || q.Dim(2) != c.h*c.dh || c.len == 0 ||
		(opt.Heads != 0 && opt.Heads != c.h) || (opt.KVHeads != 0 && opt.KVHeads != c.h) {
		var qs []int
		if q != nil {
			qs = q.shape
		}
		return nil, fmt.Errorf("%w: attention q %v against a key/value cache %v", ErrShape, qs, c.describe())
	}
	if d := deviceOf(q, opt.Mask, opt.Probs); d != nil || c.dev != nil {
		if d == nil {
			d = c.dev
		}
		return d.be.AttentionHalfKV(q, c, opt)
	}
	b, tq, d, tk, h := c.b, q.Dim(1), q.Dim(2), c.len, c.h
	scale := opt.Scale
	if scale == 0 {
		scale = float32(1 / math.Sqrt(float64(c.dh)))
	}
	job := halfAttnJobs.get()
	defer halfAttnJobs.put(job)
	job.c = c
	// group = h makes every head read its keys at offset 0 of the
	// per-head scratch the keys are widened into.
	job.a = attnJob{b: b, tq: tq, tk: tk, h: h, dh: c.dh, d: d, scale: scale, causal: opt.Causal, group: h}
	if err := job.a.setMaskProbs(opt); err != nil {
		return nil, err
	}
	job.a.q, job.a.qb, job.a.qld = rowMajor3(q)
	out := newUninit(b, tq, d)
	job.a.out = out.data
	// Split the work as Attention does.
	threads := workers(int(q.threads))
	s := fastSet
	units := b * h
	blk := blockRows(s)
	nblk := (tq + blk - 1) / blk
	chunks := 1
	if units < threads && tq > 4 {
		chunks = min(nblk, (threads+units-1)/units)
	}
	job.a.set, job.a.chunks, job.a.nblk, job.a.blk = s, chunks, nblk, blk
	parallelRange(threads, units*chunks, 1, job)
	return out, nil
}

// halfAttnJob is one AttentionHalfKV call (recycled).
type halfAttnJob struct {
	a attnJob
	c *HalfKV
}

var halfAttnJobs jobPool[halfAttnJob]

// runRange does the (batch, head, query chunk) units [lo, hi): each widens
// its head's keys and values into scratch and runs Attention's kernel.
func (j *halfAttnJob) runRange(lo, hi int) {
	a, c := &j.a, j.c
	chunks, nblk, blk := a.chunks, a.nblk, a.blk
	if a.set != nil && a.tq <= 4 {
		for unit := lo; unit < hi; unit++ {
			j.decode(unit)
		}
		return
	}
	n := c.len * c.dh
	kb, vb := getBuf(n), getBuf(n)
	defer putBuf(kb)
	defer putBuf(vb)
	var u attnJob
	for w := lo; w < hi; w++ {
		unit, ch := w/chunks, w%chunks
		r0 := min(a.tq, ch*nblk/chunks*blk)
		r1 := min(a.tq, (ch+1)*nblk/chunks*blk)
		if r0 >= r1 {
			continue
		}
		bi, hd := unit/a.h, unit%a.h
		off := unit * c.cap * c.dh
		WidenHalf((*kb)[:n], c.k[off:off+n], c.typ)
		WidenHalf((*vb)[:n], c.v[off:off+n], c.typ)
		u = *a
		u.k, u.kb, u.kld = *kb, 0, c.dh
		u.v, u.vb, u.vld = *vb, 0, c.dh
		if a.set == nil {
			u.headRef(bi, hd, r0, r1)
		} else {
			u.head(a.set, bi, hd, r0, r1)
		}
	}
}

// halfKeyChunk is the number of cached keys decode widens at a time (an
// L1-sized scratch).
const halfKeyChunk = 64

// decode is runRange's work for one (batch, head) unit when there are at
// most 4 query rows (decoding), with the assembly kernels: the same
// arithmetic as Attention's decoding path (one dot product per key, then
// one row-times-values product) with the keys widened a chunk at a time
// and the values read 16-bit in place by the half GEMM kernels where the
// kernel set has them (the same float32 kernels otherwise, on the values
// widened).
func (j *halfAttnJob) decode(unit int) {
	a, c, s := &j.a, j.c, j.a.set
	tq, tk, dh := a.tq, a.tk, c.dh
	bi, hd := unit/a.h, unit%a.h
	off := unit * c.cap * dh
	sb := getBuf(tq * tk)
	kb := getBuf(halfKeyChunk * dh)
	defer putBuf(sb)
	defer putBuf(kb)
	qa := a.q[bi*a.qb+hd*dh:]
	for j0 := 0; j0 < tk; j0 += halfKeyChunk {
		n := min(halfKeyChunk, tk-j0)
		WidenHalf((*kb)[:n*dh], c.k[off+j0*dh:off+(j0+n)*dh], c.typ)
		for r := 0; r < tq; r++ {
			kern.VecDots(qa[r*a.qld:r*a.qld+dh], *kb, dh, a.scale, (*sb)[r*tk+j0:r*tk+j0+n])
		}
	}
	hk := s.F16
	if c.typ == WeightBF16 {
		hk = s.BF16
	}
	var vb *[]float32
	if hk == nil || !s.Masked {
		vb = getBuf(tk * dh)
		defer putBuf(vb)
		WidenHalf((*vb)[:tk*dh], c.v[off:off+tk*dh], c.typ)
	}
	oa := a.out[bi*tq*a.d+hd*dh:]
	for r := 0; r < tq; r++ {
		row := (*sb)[r*tk : (r+1)*tk]
		inv := a.rowScores(row, bi, hd, r)
		o := oa[r*a.d : r*a.d+dh]
		if vb != nil {
			gemmBlock(s, false, false, 0, 1, 0, dh, tk, inv, row, tk, *vb, dh, nil, 0, o, dh, nil, nil)
			continue
		}
		// gemmBlock's direct one-row loop, on the 16-bit rows in place.
		for pc := 0; pc < tk; pc += s.KC {
			kc := min(s.KC, tk-pc)
			flags, bt := 0, float32(0)
			if pc > 0 {
				flags, bt = kern.FlagBeta, 1
			}
			for jp := 0; jp < dh; jp += s.NR {
				jn := min(s.NR, dh-jp)
				hk[1](kc, &row[pc], tk, &c.v[off+pc*dh+jp], 2*dh, &o[jp], dh, inv, bt, nil, kern.Mask(jn), flags, nil)
			}
		}
	}
}

func (c *HalfKV) describe() string {
	if c == nil {
		return "nil"
	}
	return fmt.Sprintf("[%d %d %d×%d] %v", c.b, c.len, c.h, c.dh, c.typ)
}
