//go:build cuda

package cuda

import (
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/goformer/goformer/tensor"
)

// maxHeadDim is the largest head dimension the attention kernel holds in
// registers (8 values per lane of a warp).
const maxHeadDim = 256

// attnArgs are the arguments of the attention kernel (see kernelSource).
type attnArgs struct {
	out, q                  uintptr
	qb, qld                 int
	k                       uintptr
	kb, khs, kld            int
	v                       uintptr
	vb, vhs, vld            int
	bmap                    uintptr
	batch, tq, tk, h, group int
	dh                      int
	scale                   float32
	causal                  bool
	mask                    uintptr
	msb, msq, msk           int
	probs                   uintptr
}

func (b *backend) attention(kernel int, a *attnArgs) error {
	units := int64(a.batch) * int64(a.h) * int64(a.tq)
	if units == 0 || a.dh == 0 {
		return nil
	}
	causal := 0
	if a.causal {
		causal = 1
	}
	var p params
	p.ptr(a.out).ptr(a.q).i64(a.qb).i64(a.qld).
		ptr(a.k).i64(a.kb).i64(a.khs).i64(a.kld).
		ptr(a.v).i64(a.vb).i64(a.vhs).i64(a.vld).
		ptr(a.bmap).i32(a.batch).i32(a.tq).i32(a.tk).i32(a.h).i32(a.group).i32(a.dh).
		f32(a.scale).i32(causal).ptr(a.mask).i64(a.msb).i64(a.msq).i64(a.msk).ptr(a.probs)
	const warps = 4 // ATTN_WARPS
	return b.launch(kernel, gridFor(units, warps), 32*warps, &p)
}

// maskProbs checks the mask and probabilities buffer of an attention over
// [B, Tq, Tk] scores and H heads, and fills their arguments; the returned
// temporary (a contiguous copy of the mask) is the caller's to release.
func (b *backend) maskProbs(a *attnArgs, opt tensor.AttentionOptions) (tmp *tensor.Tensor, err error) {
	if m := opt.Mask; m != nil {
		ms := m.Shape()
		want := []int{a.batch, a.tq, a.tk}
		bs, err := tensor.BroadcastShapes(want, ms)
		if len(ms) > 3 || err != nil || bs[0] != a.batch || bs[1] != a.tq || bs[2] != a.tk {
			return nil, fmt.Errorf("%w: attention mask %v must broadcast to [B, Tq, Tk] = %v", tensor.ErrShape, ms, want)
		}
		mc, mtmp, err := b.contiguous(m)
		if err != nil {
			return nil, err
		}
		if mtmp {
			tmp = mc
		}
		st := broadcastStrides(mc, want)
		a.mask, a.msb, a.msq, a.msk = mc.DeviceAddr(), st[0], st[1], st[2]
	}
	if p := opt.Probs; p != nil {
		if p.Len() != a.batch*a.h*a.tq*a.tk || !p.IsContiguous() {
			if tmp != nil {
				tensor.Release(tmp)
			}
			return nil, fmt.Errorf("%w: attention probs buffer %v for [%d %d %d %d]", tensor.ErrShape, p.Shape(), a.batch, a.h, a.tq, a.tk)
		}
		a.probs = p.DeviceAddr()
	}
	return tmp, nil
}

// rowMajor3 returns t when its last dimension is dense, else a contiguous
// copy (tmp set).
func (b *backend) rowMajor3(t *tensor.Tensor) (*tensor.Tensor, bool, error) {
	if t.Dim(2) <= 1 || t.Strides()[2] == 1 {
		return t, false, nil
	}
	c, err := b.clone(t)
	return c, err == nil, err
}

func checkAttnSizes(vs ...int) error {
	if !fitsInt32(vs...) {
		return fmt.Errorf("%w: attention sizes %v", ErrUnsupported, vs)
	}
	return nil
}

func (b *backend) Attention(q, k, v *tensor.Tensor, opt tensor.AttentionOptions) (*tensor.Tensor, error) {
	if err := b.own(q, k, v, opt.Mask, opt.Probs); err != nil {
		return nil, err
	}
	bs, tq, tk := q.Dim(0), q.Dim(1), k.Dim(1)
	h, kvh, dh, err := tensor.AttentionHeads(q, k, v, opt)
	if err != nil {
		return nil, err
	}
	a := attnArgs{batch: bs, tq: tq, tk: tk, h: h, group: h / kvh, dh: dh, scale: defaultScale(opt.Scale, dh), causal: opt.Causal}
	if err := checkAttn(&a); err != nil {
		return nil, err
	}
	done, err := replaceEach(b.rowMajor3, &k, &v)
	if err != nil {
		return nil, err
	}
	defer done()
	ks, vs := k.Strides(), v.Strides()
	a.k, a.kb, a.khs, a.kld = k.DeviceAddr(), ks[0], dh, ks[1]
	a.v, a.vb, a.vhs, a.vld = v.DeviceAddr(), vs[0], dh, vs[1]
	return b.runAttention(kAttentionF32, &a, q, opt)
}

// checkAttn rejects attention sizes the kernel does not take.
func checkAttn(a *attnArgs) error {
	if a.dh > maxHeadDim {
		return fmt.Errorf("%w: attention head dimension %d (at most %d)", ErrUnsupported, a.dh, maxHeadDim)
	}
	return checkAttnSizes(a.batch, a.tq, a.tk, a.h, a.h*a.dh)
}

// runAttention completes a's arguments (sizes, keys and values set) with
// opt's mask and probabilities buffer, q (rows made dense) and a new
// [B, Tq, H·Dh] result, and runs kernel into that result.
func (b *backend) runAttention(kernel int, a *attnArgs, q *tensor.Tensor, opt tensor.AttentionOptions) (*tensor.Tensor, error) {
	mtmp, err := b.maskProbs(a, opt)
	if err != nil {
		return nil, err
	}
	defer releaseIf(mtmp, mtmp != nil)
	done, err := replaceEach(b.rowMajor3, &q)
	if err != nil {
		return nil, err
	}
	defer done()
	out, err := b.newTensor([]int{a.batch, a.tq, a.h * a.dh})
	if err != nil {
		return nil, err
	}
	qs := q.Strides()
	a.out, a.q, a.qb, a.qld = out.DeviceAddr(), q.DeviceAddr(), qs[0], qs[1]
	if err := b.attention(kernel, a); err != nil {
		tensor.Release(out)
		return nil, err
	}
	return out, nil
}

// kvStore is the device memory of packed keys and values: both [B, H,
// Tk, Dh] of one element type. Reordered copies share it: it counts the
// kvData referring to it and returns its blocks to the allocator when
// the last of them is freed (FreeKV, or its cleanup when garbage
// collected without one).
type kvStore struct {
	k, v uintptr
	t    tensor.WeightType
	refs atomic.Int64
	mem  *allocator
}

// unref drops one reference, releasing the blocks with the last.
func (st *kvStore) unref() {
	if st.refs.Add(-1) == 0 {
		st.mem.release(st.k)
		st.mem.release(st.v)
	}
}

// kvData is what a PackedKV keeps on the device: the store and the map
// from its batch rows to the store's (nil and 0: the identity).
type kvData struct {
	store    *kvStore
	rows     []int
	rowsDev  uintptr
	freeOnce // FreeKV drops the references, or the cleanup does
}

// kvRefs is what freeing a kvData releases.
type kvRefs struct {
	store   *kvStore
	rowsDev uintptr
}

func (r kvRefs) release() {
	r.store.mem.release(r.rowsDev)
	r.store.unref()
}

// newKV returns packed keys and values of store (rows, rowsDev: the row
// map) holding a reference to it.
func (b *backend) newKV(store *kvStore, rows []int, rowsDev uintptr, bs, tk, heads, dh int) *tensor.PackedKV {
	store.refs.Add(1)
	data := &kvData{store: store, rows: rows, rowsDev: rowsDev}
	data.cleanup = runtime.AddCleanup(data, kvRefs.release, kvRefs{store, rowsDev})
	return tensor.NewDevicePackedKV(b.d, bs, tk, heads, dh, store.t, data)
}

// FreeKV releases packed keys and values now (tensor.PackedKV.Free): the
// store's memory returns to the allocator when no reordered copy refers
// to it any more. Freeing twice does nothing.
func (b *backend) FreeKV(kv *tensor.PackedKV) {
	if kv == nil || kv.Device() != b.d {
		return
	}
	data, ok := kv.DeviceData().(*kvData)
	if !ok || data == nil || !data.takeFree() {
		return
	}
	kvRefs{data.store, data.rowsDev}.release()
}

func (b *backend) kvOf(kv *tensor.PackedKV) (*kvData, error) {
	if kv == nil {
		return nil, fmt.Errorf("%w: nil packed keys and values", tensor.ErrShape)
	}
	return deviceState[*kvData](b, kv.Device(), kv.DeviceData(), "packed keys and values")
}

func (b *backend) PackKV(k, v *tensor.Tensor, heads int, t tensor.WeightType) (*tensor.PackedKV, error) {
	if err := b.own(k, v); err != nil {
		return nil, err
	}
	if k == nil || v == nil || k.Rank() != 3 || !tensor.SameShape(k, v) || heads < 1 || k.Dim(2)%heads != 0 {
		var ks, vs []int
		if k != nil {
			ks = k.Shape()
		}
		if v != nil {
			vs = v.Shape()
		}
		return nil, fmt.Errorf("%w: packing keys %v and values %v for %d heads", tensor.ErrShape, ks, vs, heads)
	}
	bs, tk, d := k.Dim(0), k.Dim(1), k.Dim(2)
	dh := d / heads
	if tk == 0 || bs == 0 || dh == 0 {
		return nil, fmt.Errorf("%w: packing keys %v: empty", tensor.ErrShape, k.Shape())
	}
	if err := checkWeightType(t); err != nil {
		return nil, err
	}
	if err := checkAttnSizes(bs, tk, heads, dh); err != nil {
		return nil, err
	}
	n := bs * tk * d
	st := &kvStore{t: t, mem: b.mem}
	for i, src := range []*tensor.Tensor{k, v} {
		sc, tmp, err := b.contiguous(src)
		if err != nil {
			b.freeStore(st)
			return nil, err
		}
		addr, err := b.mem.alloc(int64(n)*elemSize(t), true)
		if err == nil {
			var p params
			if t == tensor.WeightF32 {
				p.ptr(addr).ptr(sc.DeviceAddr()).i64(bs).i32(tk).i32(heads).i32(dh)
				err = b.launch(kPackHeadsF32, gridFor(int64(n), 256), 256, &p)
			} else {
				p.ptr(addr).ptr(sc.DeviceAddr()).i64(bs).i32(tk).i32(heads).i32(dh).i32(bf16Flag(t))
				err = b.launch(kPackHeadsHalf, gridFor(int64(n), 256), 256, &p)
			}
			if err != nil {
				b.mem.release(addr)
			}
		}
		releaseIf(sc, tmp)
		if err != nil {
			b.freeStore(st)
			return nil, err
		}
		if i == 0 {
			st.k = addr
		} else {
			st.v = addr
		}
	}
	return b.newKV(st, nil, 0, bs, tk, heads, dh), nil
}

func (b *backend) freeStore(st *kvStore) {
	b.mem.release(st.k)
	b.mem.release(st.v)
}

func (b *backend) ReorderKV(kv *tensor.PackedKV, idx []int) (*tensor.PackedKV, error) {
	if err := b.live(); err != nil {
		return nil, err
	}
	data, err := b.kvOf(kv)
	if err != nil {
		return nil, err
	}
	rows := make([]int, len(idx))
	for i, j := range idx {
		if j < 0 || j >= kv.Batch() {
			return nil, fmt.Errorf("%w: reorder index %d outside the batch of %d", tensor.ErrShape, j, kv.Batch())
		}
		if data.rows != nil {
			j = data.rows[j]
		}
		rows[i] = j
	}
	var rowsDev uintptr
	if len(rows) > 0 {
		if rowsDev, err = b.uploadInt32(rows, false); err != nil {
			return nil, err
		}
	}
	return b.newKV(data.store, rows, rowsDev, len(idx), kv.Len(), kv.Heads(), kv.HeadDim()), nil
}

func (b *backend) AttentionPacked(q *tensor.Tensor, kv *tensor.PackedKV, opt tensor.AttentionOptions) (*tensor.Tensor, error) {
	if err := b.own(q, opt.Mask, opt.Probs); err != nil {
		return nil, err
	}
	data, err := b.kvOf(kv)
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(data)
	bs, h, dh, tk := kv.Batch(), kv.Heads(), kv.HeadDim(), kv.Len()
	if q.Rank() != 3 || q.Dim(0) != bs || q.Dim(2) != h*dh || (opt.Heads != 0 && opt.Heads != h) {
		return nil, fmt.Errorf("%w: attention q %v against packed keys/values [%d %d %d×%d]", tensor.ErrShape, q.Shape(), bs, tk, h, dh)
	}
	a := attnArgs{batch: bs, tq: q.Dim(1), tk: tk, h: h, group: 1, dh: dh, scale: defaultScale(opt.Scale, dh), causal: opt.Causal}
	if err := checkAttn(&a); err != nil {
		return nil, err
	}
	st := data.store
	a.k, a.kb, a.khs, a.kld = st.k, h*tk*dh, tk*dh, dh
	a.v, a.vb, a.vhs, a.vld = st.v, h*tk*dh, tk*dh, dh
	a.bmap = data.rowsDev
	kernel := kAttentionF32
	switch st.t {
	case tensor.WeightF16:
		kernel = kAttentionF16
	case tensor.WeightBF16:
		kernel = kAttentionBF16
	}
	return b.runAttention(kernel, &a, q, opt)
}

// NewHalfKV: this backend keeps no 16-bit self-attention caches
// (tensor.HalfKV); it fails with an error wrapping ErrUnsupported (and
// tensor.ErrDevice), and package nn keeps float32 caches on cuda instead.
func (b *backend) NewHalfKV(d *tensor.Device, batch, heads, headDim int, t tensor.WeightType) (*tensor.HalfKV, error) {
	if err := b.live(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: a %v self-attention key/value cache (tensor.HalfKV) on %s: keep it float32", ErrUnsupported, t, d.Name())
}

// AppendHalfKV, ReorderHalfKV and AttentionHalfKV are never reached (no
// cache is made on this backend); they fail like NewHalfKV.
func (b *backend) AppendHalfKV(c *tensor.HalfKV, k, v *tensor.Tensor) error {
	return fmt.Errorf("%w: 16-bit key/value caches (tensor.HalfKV)", ErrUnsupported)
}

func (b *backend) ReorderHalfKV(c *tensor.HalfKV, idx []int) error {
	return fmt.Errorf("%w: 16-bit key/value caches (tensor.HalfKV)", ErrUnsupported)
}

func (b *backend) AttentionHalfKV(q *tensor.Tensor, c *tensor.HalfKV, opt tensor.AttentionOptions) (*tensor.Tensor, error) {
	return nil, fmt.Errorf("%w: 16-bit key/value caches (tensor.HalfKV)", ErrUnsupported)
}

// FreeHalfKV does nothing: this backend holds no such cache.
func (b *backend) FreeHalfKV(c *tensor.HalfKV) {}
