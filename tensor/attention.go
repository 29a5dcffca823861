package tensor

import (
	"fmt"
	"math"

	"github.com/goformer/goformer/tensor/internal/kern"
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
	// KVHeads, when positive and below Heads, is the number of key/value
	// heads of grouped-query attention: k and v are [B, Tk, KVHeads·Dh]
	// and query head h reads key/value head h / (Heads/KVHeads), as
	// transformers' repeat_kv pairs them. Heads must be a multiple of it.
	// 0 means Heads (every query head has its own keys and values).
	KVHeads int
}

// Attention computes multi-head scaled dot-product attention on tensors in
// token layout: q is [B, Tq, H·Dh], k and v are [B, Tk, H·Dh] (or
// [B, Tk, KVHeads·Dh] with grouped-query attention, see
// AttentionOptions.KVHeads); the result is [B, Tq, H·Dh] with heads
// concatenated, as the output projection expects.
// Scores are computed a block of query rows at a time, so memory stays at
// one block × Tk per worker.
func Attention(q, k, v *Tensor, opt AttentionOptions) (*Tensor, error) {
	if q.Rank() != 3 || k.Rank() != 3 || v.Rank() != 3 {
		return nil, fmt.Errorf("%w: attention wants [B, T, D] operands, got %v %v %v", ErrShape, q.shape, k.shape, v.shape)
	}
	if d := deviceOf(q, k, v, opt.Mask, opt.Probs); d != nil {
		return d.be.Attention(q, k, v, opt)
	}
	b, tq, d := q.Dim(0), q.Dim(1), q.Dim(2)
	tk := k.Dim(1)
	h, kvh, dh, err := attentionHeads(q, k, v, opt)
	if err != nil {
		return nil, err
	}
	scale := opt.Scale
	if scale == 0 {
		scale = float32(1 / math.Sqrt(float64(dh)))
	}
	job := attnJobs.get()
	defer attnJobs.put(job)
	*job = attnJob{b: b, tq: tq, tk: tk, h: h, dh: dh, d: d, scale: scale, causal: opt.Causal, group: h / kvh}
	if err := job.setMaskProbs(opt); err != nil {
		return nil, err
	}
	job.q, job.qb, job.qld = rowMajor3(q)
	job.k, job.kb, job.kld = rowMajor3(k)
	job.v, job.vb, job.vld = rowMajor3(v)
	out := newUninit(b, tq, d)
	job.out = out.data
	job.run(fastSet, workers(int(q.threads)))
	return out, nil
}

// attnJobs recycles attention jobs (a call allocates nothing but its result).
var attnJobs jobPool[attnJob]

// setMaskProbs checks opt's mask and probabilities buffer against the
// job's [B, Tq, Tk] scores and H heads and records them.
func (a *attnJob) setMaskProbs(opt AttentionOptions) error {
	if opt.Mask != nil {
		ms := opt.Mask.shape
		if len(ms) > 3 {
			return fmt.Errorf("%w: attention mask %v must broadcast to [B, Tq, Tk]", ErrShape, ms)
		}
		if _, err := broadcastShapes([]int{a.b, a.tq, a.tk}, ms); err != nil {
			return fmt.Errorf("%w: attention mask %v vs [%d %d %d]", ErrShape, ms, a.b, a.tq, a.tk)
		}
		mc := opt.Mask.Contiguous()
		a.mask = mc.Data()
		st := broadcastStrides(mc, []int{a.b, a.tq, a.tk})
		a.msb, a.msq, a.msk = st[0], st[1], st[2]
	}
	if opt.Probs != nil {
		if opt.Probs.Len() != a.b*a.h*a.tq*a.tk || !opt.Probs.IsContiguous() {
			return fmt.Errorf("%w: attention probs buffer %v for [%d %d %d %d]", ErrShape, opt.Probs.shape, a.b, a.h, a.tq, a.tk)
		}
		a.probs = opt.Probs.data[opt.Probs.offset:]
	}
	return nil
}

// attnJob is one Attention call: operands as (storage, batch stride, row
// stride), heads of dh columns at offset head·dh.
type attnJob struct {
	q, k, v          []float32
	qb, qld          int
	kb, kld          int
	vb, vld          int
	b, tq, tk, h, dh int
	d                int
	scale            float32
	// group is the number of query heads sharing one key/value head
	// (grouped-query attention); 0 or 1: none.
	group         int
	mask          []float32
	msb, msq, msk int
	causal        bool
	probs, out    []float32
	// How run splits the work: kernel set, query-row chunks per (batch,
	// head) and blocks of blk rows.
	set               *kern.Set
	chunks, nblk, blk int
}

// attnBlock is the most query rows whose scores are held at once; with
// assembly kernels the block is the largest multiple of the micro-tile
// height that fits (56 rows for AVX-512), so no tile is partial.
const attnBlock = 64

// blockRows returns the query block height for kernel set s.
func blockRows(s *kern.Set) int {
	if s == nil {
		return attnBlock
	}
	return attnBlock / s.MR * s.MR
}

// run splits the work by (batch, head) and, when there are fewer of those
// than threads, by ranges of query rows.
func (a *attnJob) run(s *kern.Set, threads int) {
	units := a.b * a.h
	blk := blockRows(s)
	nblk := (a.tq + blk - 1) / blk
	chunks := 1
	if units < threads && a.tq > 4 {
		chunks = min(nblk, (threads+units-1)/units)
	}
	a.set, a.chunks, a.nblk, a.blk = s, chunks, nblk, blk
	parallelRange(threads, units*chunks, 1, a)
}

// runRange does the (batch, head, query chunk) units [lo, hi) of run.
func (a *attnJob) runRange(lo, hi int) {
	chunks, nblk, blk := a.chunks, a.nblk, a.blk
	for j := lo; j < hi; j++ {
		u, c := j/chunks, j%chunks
		r0 := min(a.tq, c*nblk/chunks*blk)
		r1 := min(a.tq, (c+1)*nblk/chunks*blk)
		if a.set == nil {
			a.headRef(u/a.h, u%a.h, r0, r1)
		} else {
			a.head(a.set, u/a.h, u%a.h, r0, r1)
		}
	}
}

// rowScores applies mask and causality to the scores of query row r and
// turns them into exp(score − max) in place, returning 1/Σ (0 for a row
// with nothing to attend to). With probs set, the normalised row is stored.
func (a *attnJob) rowScores(row []float32, bi, head, r int) float32 {
	if a.mask != nil {
		mo := bi*a.msb + r*a.msq
		switch a.msk {
		case 1:
			kern.VecAdd(row, a.mask[mo:mo+a.tk])
		case 0:
			mv := a.mask[mo]
			for j := range row {
				row[j] += mv
			}
		default:
			for j := range row {
				row[j] += a.mask[mo+j*a.msk]
			}
		}
	}
	if a.causal {
		lim := a.tk - a.tq + r + 1
		for j := max(lim, 0); j < a.tk; j++ {
			row[j] = float32(math.Inf(-1))
		}
	}
	m := kern.VecMax(row)
	var inv float32
	if math.IsInf(float64(m), -1) {
		clear(row)
	} else {
		inv = 1 / kern.VecExpSum(row, m)
	}
	if a.probs != nil {
		p := a.probs[((bi*a.h+head)*a.tq+r)*a.tk:][:a.tk]
		copy(p, row)
		kern.VecScale(p, inv)
	}
	return inv
}

// head computes query rows [r0, r1) of one (batch, head) with the fast
// kernels: K and V are packed once, scores are computed attnBlock rows at a
// time, and the softmax normalisation is applied to the output rows.
func (a *attnJob) head(s *kern.Set, bi, head, r0, r1 int) {
	if r0 >= r1 {
		return
	}
	tk, dh := a.tk, a.dh
	qa := a.q[bi*a.qb+head*dh:]
	ka := a.k[bi*a.kb+a.kvOff(head):]
	va := a.v[bi*a.vb+a.kvOff(head):]
	oa := a.out[bi*a.tq*a.d+head*dh:]
	if r1-r0 <= 4 {
		// Decoding: a few query rows against the cache, no packing.
		sb := getBuf(tk)
		defer putBuf(sb)
		row := *sb
		for r := r0; r < r1; r++ {
			kern.VecDots(qa[r*a.qld:r*a.qld+dh], ka, a.kld, a.scale, row)
			inv := a.rowScores(row, bi, head, r)
			o := oa[r*a.d : r*a.d+dh]
			if !gemv1Strided(s, tk, dh, inv, row, va, a.vld, o) {
				gemmBlock(s, false, false, 0, 1, 0, dh, tk, inv, row, tk, va, a.vld, nil, 0, o, dh, nil, nil)
			}
		}
		return
	}
	kbuf := getBuf(packedLen(s, dh, tk))
	vbuf := getBuf(packedLen(s, tk, dh))
	sbuf := getBuf(attnBlock * tk)
	defer putBuf(kbuf)
	defer putBuf(vbuf)
	defer putBuf(sbuf)
	var pk, pv PackedB
	pk.packInto(s, true, dh, tk, ka, a.kld, *kbuf)
	pv.packInto(s, false, tk, dh, va, a.vld, *vbuf)
	var inv [attnBlock]float32
	blk := blockRows(s)
	for q0 := r0; q0 < r1; q0 += blk {
		rows := min(blk, r1-q0)
		sc := (*sbuf)[:rows*tk]
		gemmBlock(s, false, false, 0, rows, 0, tk, dh, a.scale, qa[q0*a.qld:], a.qld, nil, 0, &pk, 0, sc, tk, nil, nil)
		for r := 0; r < rows; r++ {
			inv[r] = a.rowScores(sc[r*tk:(r+1)*tk], bi, head, q0+r)
		}
		o := oa[q0*a.d:]
		gemmBlock(s, false, false, 0, rows, 0, dh, tk, 1, sc, tk, nil, 0, &pv, 0, o, a.d, nil, nil)
		for r := 0; r < rows; r++ {
			kern.VecScale(o[r*a.d:r*a.d+dh], inv[r])
		}
	}
}

// headRef is head with the portable GEMM (no assembly kernels).
func (a *attnJob) headRef(bi, head, r0, r1 int) {
	tk, dh := a.tk, a.dh
	sb := getBuf(attnBlock * tk)
	defer putBuf(sb)
	for q0 := r0; q0 < r1; q0 += attnBlock {
		rows := min(attnBlock, r1-q0)
		sc := (*sb)[:rows*tk]
		qa := a.q[bi*a.qb+q0*a.qld+head*dh:]
		ka := a.k[bi*a.kb+a.kvOff(head):]
		va := a.v[bi*a.vb+a.kvOff(head):]
		GemmRef(false, true, rows, tk, dh, a.scale, qa, a.qld, ka, a.kld, 0, sc, tk)
		o := a.out[(bi*a.tq+q0)*a.d+head*dh:]
		for r := 0; r < rows; r++ {
			row := sc[r*tk : (r+1)*tk]
			inv := a.rowScores(row, bi, head, q0+r)
			kern.VecScale(row, inv)
		}
		GemmRef(false, false, rows, dh, tk, 1, sc, tk, va, a.vld, 0, o, a.d)
	}
}

// kvOff returns the column offset of the keys and values query head head
// reads.
func (a *attnJob) kvOff(head int) int {
	if a.group > 1 {
		return head / a.group * a.dh
	}
	return head * a.dh
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

// attentionHeads checks the [B, T, D] operands of Attention against
// opt's head counts and returns the query heads, the key/value heads and
// the head dimension.
func attentionHeads(q, k, v *Tensor, opt AttentionOptions) (h, kvh, dh int, err error) {
	h, kvh = opt.Heads, opt.KVHeads
	if kvh <= 0 {
		kvh = h
	}
	d := q.Dim(2)
	ok := h >= 1 && d%h == 0 && kvh <= h && h%kvh == 0
	if ok {
		dh = d / h
		dkv := kvh * dh
		ok = k.Dim(0) == q.Dim(0) && v.Dim(0) == q.Dim(0) && k.Dim(2) == dkv && v.Dim(2) == dkv && v.Dim(1) == k.Dim(1)
	}
	if !ok {
		return 0, 0, 0, fmt.Errorf("%w: attention q %v k %v v %v with %d heads, %d key/value heads", ErrShape, q.shape, k.shape, v.shape, h, kvh)
	}
	return h, kvh, dh, nil
}
