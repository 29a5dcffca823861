package tensor

import (
	"fmt"
	"math"
)

// AttentionOptions configures Attention.
type AttentionOptions struct {
	// Heads splits the model dimension into this many heads (≥ 1).
	Heads int
	// Scale multiplies the scores; 0 means 1/√(head dimension).
	Scale float32
	// Causal lets query i (at absolute position Tk−Tq+i) see keys ≤ that
	// position only, which also serves incremental decoding with a cache.
	Causal bool
	// Mask, when set, is added to the scores; its shape broadcasts to
	// [B, Tq, Tk] (e.g. [B, 1, Tk] for key padding). Use a large negative
	// value or −Inf to drop a position.
	Mask *Tensor
	// Probs, when non-nil, receives the attention probabilities
	// [B, Heads, Tq, Tk] (for word-level timestamps); leave nil otherwise.
	Probs *Tensor
}

// Attention computes multi-head scaled dot-product attention on tensors in
// token layout: q is [B, Tq, H·Dh], k and v are [B, Tk, H·Dh]; the result
// is [B, Tq, H·Dh] with heads concatenated, as the output projection expects.
// Scores are computed a block of query rows at a time, so memory stays at
// one block × Tk per worker.
func Attention(q, k, v *Tensor, opt AttentionOptions) (*Tensor, error) {
	if q.Rank() != 3 || k.Rank() != 3 || v.Rank() != 3 {
		return nil, fmt.Errorf("%w: attention wants [B, T, D] operands, got %v %v %v", ErrShape, q.shape, k.shape, v.shape)
	}
	b, tq, d := q.Dim(0), q.Dim(1), q.Dim(2)
	tk := k.Dim(1)
	h := opt.Heads
	if h < 1 || d%h != 0 || k.Dim(0) != b || v.Dim(0) != b || k.Dim(2) != d || v.Dim(2) != d || v.Dim(1) != tk {
		return nil, fmt.Errorf("%w: attention q %v k %v v %v with %d heads", ErrShape, q.shape, k.shape, v.shape, h)
	}
	dh := d / h
	scale := opt.Scale
	if scale == 0 {
		scale = float32(1 / math.Sqrt(float64(dh)))
	}
	var maskData []float32
	var msb, msq, msk int
	if opt.Mask != nil {
		ms := opt.Mask.shape
		if len(ms) > 3 {
			return nil, fmt.Errorf("%w: attention mask %v must broadcast to [B, Tq, Tk]", ErrShape, ms)
		}
		if _, err := broadcastShapes([]int{b, tq, tk}, ms); err != nil {
			return nil, fmt.Errorf("%w: attention mask %v vs [%d %d %d]", ErrShape, ms, b, tq, tk)
		}
		mc := opt.Mask.Contiguous()
		maskData = mc.Data()
		st := broadcastStrides(mc, []int{b, tq, tk})
		msb, msq, msk = st[0], st[1], st[2]
	}
	if opt.Probs != nil && (opt.Probs.Len() != b*h*tq*tk || !opt.Probs.IsContiguous()) {
		return nil, fmt.Errorf("%w: attention probs buffer %v for [%d %d %d %d]", ErrShape, opt.Probs.shape, b, h, tq, tk)
	}
	qc, qb, qld := rowMajor3(q)
	kc, kb, kld := rowMajor3(k)
	vc, vb, vld := rowMajor3(v)
	out := New(b, tq, d)
	const block = 64
	nblk := (tq + block - 1) / block
	offset := tk - tq
	Parallel(b*h*nblk, 1, func(lo, hi int) {
		scores := make([]float32, block*tk)
		for job := lo; job < hi; job++ {
			bi := job / (h * nblk)
			head := (job / nblk) % h
			q0 := (job % nblk) * block
			rows := min(block, tq-q0)
			s := scores[:rows*tk]
			qa := qc[bi*qb+q0*qld+head*dh:]
			ka := kc[bi*kb+head*dh:]
			va := vc[bi*vb+head*dh:]
			Gemm(false, true, rows, tk, dh, scale, qa, qld, ka, kld, 0, s, tk)
			for r := 0; r < rows; r++ {
				row := s[r*tk : (r+1)*tk]
				if maskData != nil {
					mo := bi*msb + (q0+r)*msq
					for j := range row {
						row[j] += maskData[mo+j*msk]
					}
				}
				if opt.Causal {
					lim := offset + q0 + r + 1
					for j := max(lim, 0); j < tk; j++ {
						row[j] = float32(math.Inf(-1))
					}
				}
				SoftmaxRow(row)
			}
			if opt.Probs != nil {
				copy(opt.Probs.data[opt.Probs.offset+((bi*h+head)*tq+q0)*tk:], s)
			}
			Gemm(false, false, rows, dh, tk, 1, s, tk, va, vld, 0, out.data[(bi*tq+q0)*d+head*dh:], d)
		}
	})
	return out, nil
}

// rowMajor3 returns storage, batch stride and row stride for a rank-3 tensor
// whose last dimension is dense (copying it otherwise). Views such as a
// key/value cache with spare capacity are used in place.
func rowMajor3(t *Tensor) (data []float32, batchStride, rowStride int) {
	if t.strides[2] != 1 && t.shape[2] > 1 {
		t = t.Contiguous()
	}
	rs := t.strides[1]
	if t.shape[1] == 1 {
		rs = t.shape[2]
	}
	return t.data[t.offset:], t.strides[0], rs
}
