package tensor

import (
	"fmt"
	"math"

	"github.com/goformer/goformer/tensor/internal/kern"
)

// PackedKV holds attention keys and values that many queries will read —
// the cross-attention of a decoder over a fixed encoder output — packed
// once per (batch row, head) for the GEMM kernels: keys as the right-hand
// side of q·Kᵀ, values as that of p·V. Kept as WeightF16 or WeightBF16 they
// take half the memory and half the bytes each decoded token reads, at the
// cost of rounding them. A PackedKV is immutable and safe for concurrent
// use.
type PackedKV struct {
	b, tk, h, dh int
	k, v         []*PackedB // index batch·h + head
	dev          *Device    // nil: host
}

// Device returns the device holding the packed keys and values.
func (p *PackedKV) Device() *Device { return p.dev }

// Free releases the packed keys and values now (on a device, its memory)
// instead of leaving them to the garbage collector. They must not be used
// afterwards; results of Reorder stay valid.
func (p *PackedKV) Free() {
	if p == nil {
		return
	}
	if p.dev != nil {
		p.dev.be.FreeKV(p)
	}
	p.k, p.v = nil, nil
}

// PackKV packs keys and values [B, Tk, H·Dh] for heads heads, stored as t.
func PackKV(k, v *Tensor, heads int, t WeightType) (*PackedKV, error) {
	if d := dev2(k, v); d != nil {
		return d.be.PackKV(k, v, heads, t)
	}
	if k == nil || v == nil || k.Rank() != 3 || !SameShape(k, v) || heads < 1 || k.Dim(2)%heads != 0 {
		var ks, vs []int
		if k != nil {
			ks = k.shape
		}
		if v != nil {
			vs = v.shape
		}
		return nil, fmt.Errorf("%w: packing keys %v and values %v for %d heads", ErrShape, ks, vs, heads)
	}
	b, tk, d := k.Dim(0), k.Dim(1), k.Dim(2)
	dh := d / heads
	if tk == 0 || b == 0 || dh == 0 {
		return nil, fmt.Errorf("%w: packing keys %v: empty", ErrShape, k.shape)
	}
	kc, vc := k.Contiguous().data, v.Contiguous().data
	p := &PackedKV{b: b, tk: tk, h: heads, dh: dh, k: make([]*PackedB, b*heads), v: make([]*PackedB, b*heads)}
	// Scratch for one head's keys [Tk, Dh] and transposed values [Dh, Tk]
	// (the "weight" layouts PackWeightAs reads). Without assembly kernels a
	// PackedB refers to its source, so each head then gets its own.
	var kt, vt []float32
	for bi := 0; bi < b; bi++ {
		for hd := 0; hd < heads; hd++ {
			if kt == nil || fastSet == nil {
				kt, vt = make([]float32, tk*dh), make([]float32, dh*tk)
			}
			base := bi*tk*d + hd*dh
			for j := 0; j < tk; j++ {
				copy(kt[j*dh:(j+1)*dh], kc[base+j*d:base+j*d+dh])
				row := vc[base+j*d : base+j*d+dh]
				for c, x := range row {
					vt[c*tk+j] = x
				}
			}
			pk, err := PackWeightAs(MustFromData(kt, tk, dh), t)
			if err != nil {
				return nil, err
			}
			pv, err := PackWeightAs(MustFromData(vt, dh, tk), t)
			if err != nil {
				return nil, err
			}
			p.k[bi*heads+hd], p.v[bi*heads+hd] = pk, pv
		}
	}
	return p, nil
}

// Batch returns the number of batch rows.
func (p *PackedKV) Batch() int { return p.b }

// Len returns the number of key positions.
func (p *PackedKV) Len() int { return p.tk }

// Type returns the element type the keys and values are kept in.
func (p *PackedKV) Type() WeightType { return p.k[0].Type() }

// Keys returns the packed keys of one batch row and head: the B of
// q·Kᵀ (K = head dim, N = positions), for GemmPacked.
func (p *PackedKV) Keys(batch, head int) *PackedB { return p.k[batch*p.h+head] }

// Reorder returns the keys and values of batch rows idx (beam search over a
// shared encoder output), sharing the packed data.
func (p *PackedKV) Reorder(idx []int) (*PackedKV, error) {
	if p.dev != nil {
		for _, j := range idx {
			if j < 0 || j >= p.b {
				return nil, fmt.Errorf("%w: reorder index %d outside the batch of %d", ErrShape, j, p.b)
			}
		}
		return p.dev.be.ReorderKV(p, idx)
	}
	out := &PackedKV{b: len(idx), tk: p.tk, h: p.h, dh: p.dh, k: make([]*PackedB, len(idx)*p.h), v: make([]*PackedB, len(idx)*p.h)}
	for i, j := range idx {
		if j < 0 || j >= p.b {
			return nil, fmt.Errorf("%w: reorder index %d outside the batch of %d", ErrShape, j, p.b)
		}
		copy(out.k[i*p.h:(i+1)*p.h], p.k[j*p.h:(j+1)*p.h])
		copy(out.v[i*p.h:(i+1)*p.h], p.v[j*p.h:(j+1)*p.h])
	}
	return out, nil
}

// AttentionPacked is Attention with packed keys and values: q is
// [B, Tq, H·Dh] for the B and H of kv (opt.Heads, when set, must equal H).
// Masks, causality and Probs behave as in Attention.
func AttentionPacked(q *Tensor, kv *PackedKV, opt AttentionOptions) (*Tensor, error) {
	if kv == nil || q == nil || q.Rank() != 3 || q.Dim(0) != kv.b || q.Dim(2) != kv.h*kv.dh || (opt.Heads != 0 && opt.Heads != kv.h) {
		var qs []int
		if q != nil {
			qs = q.shape
		}
		return nil, fmt.Errorf("%w: attention q %v against packed keys/values %v", ErrShape, qs, kv.describe())
	}
	if d := deviceOf(q, opt.Mask, opt.Probs); d != nil || kv.dev != nil {
		if d == nil {
			d = kv.dev
		}
		return d.be.AttentionPacked(q, kv, opt)
	}
	b, tq, d, tk := kv.b, q.Dim(1), q.Dim(2), kv.tk
	scale := opt.Scale
	if scale == 0 {
		scale = float32(1 / math.Sqrt(float64(kv.dh)))
	}
	job := packedAttnJobs.get()
	defer packedAttnJobs.put(job)
	job.kv = kv
	job.a = attnJob{b: b, tq: tq, tk: tk, h: kv.h, dh: kv.dh, d: d, scale: scale, causal: opt.Causal}
	if err := job.a.setMaskProbs(opt); err != nil {
		return nil, err
	}
	job.a.q, job.a.qb, job.a.qld = rowMajor3(q)
	out := newUninit(b, tq, d)
	job.a.out = out.data
	parallelRange(int(q.threads), b*kv.h, 1, job)
	return out, nil
}

// packedAttnJob is one AttentionPacked call (recycled).
type packedAttnJob struct {
	a  attnJob
	kv *PackedKV
}

var packedAttnJobs jobPool[packedAttnJob]

// runRange does the (batch, head) units [lo, hi).
func (j *packedAttnJob) runRange(lo, hi int) {
	a, kv := &j.a, j.kv
	tq, tk, d := a.tq, a.tk, a.d
	sb := getBuf(attnBlock * tk)
	defer putBuf(sb)
	var inv [attnBlock]float32
	for u := lo; u < hi; u++ {
		bi, hd := u/kv.h, u%kv.h
		qa := a.q[bi*a.qb+hd*kv.dh:]
		oa := a.out[bi*tq*d+hd*kv.dh:]
		for q0 := 0; q0 < tq; q0 += attnBlock {
			rows := min(attnBlock, tq-q0)
			sc := (*sb)[:rows*tk]
			gemmPacked(1, rows, a.scale, qa[q0*a.qld:], a.qld, kv.k[u], 0, sc, tk, nil, nil)
			for r := 0; r < rows; r++ {
				inv[r] = a.rowScores(sc[r*tk:(r+1)*tk], bi, hd, q0+r)
			}
			o := oa[q0*d:]
			gemmPacked(1, rows, 1, sc, tk, kv.v[u], 0, o, d, nil, nil)
			for r := 0; r < rows; r++ {
				kern.VecScale(o[r*d:r*d+kv.dh], inv[r])
			}
		}
	}
}

func (p *PackedKV) describe() string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprintf("[%d %d %d×%d] %v", p.b, p.tk, p.h, p.dh, p.Type())
}
