package nn

import (
	"errors"
	"fmt"
	"sync"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/tensor"
)

// Attention is multi-head attention with separate query, key, value and
// output projections, usable as self-attention (optionally causal, with a
// growing KV cache) and as cross-attention (keys/values computed once per
// encoder output).
type Attention struct {
	Q, K, V, O *Linear
	Heads      int
	// Scale multiplies the scores; 0 means 1/√(head dim).
	Scale float32
	// KVType, when tensor.WeightF16 or WeightBF16, keeps keys and values
	// in that type: ProjectKV packs cross-attention keys and values so
	// (tensor.PackKV), and Self with a KVCache keeps the cache's past keys
	// and values so (tensor.HalfKV). Half their memory and of the bytes
	// each decoded token reads, at the cost of rounding them. On a device
	// that keeps no 16-bit caches (cuda) the self-attention cache stays
	// float32. Set it before the first use (LoadOptions.ApplyKV sets it
	// from WithKVType on cross-attention, from WithSelfKVType on
	// self-attention).
	KVType tensor.WeightType

	// Self-attention projects Q, K and V in one product with their weights
	// packed side by side (built on first use; Q, K and V must not change
	// afterwards).
	qkvOnce sync.Once
	qkv     *tensor.PackedB
	qkvBias *tensor.Tensor
}

// NewAttention reads attention over dim-wide inputs with heads heads from
// the linear layers q_proj, k_proj, v_proj and out_proj of w (each
// [dim, dim]), with or without biases. A self-attention takes .FuseQKV().
func NewAttention(w checkpoint.Weights, dim, heads int, bias bool) *Attention {
	return &Attention{
		Q:     NewLinear(w.Sub("q_proj"), dim, dim, bias),
		K:     NewLinear(w.Sub("k_proj"), dim, dim, bias),
		V:     NewLinear(w.Sub("v_proj"), dim, dim, bias),
		O:     NewLinear(w.Sub("out_proj"), dim, dim, bias),
		Heads: heads,
	}
}

// NewBERTAttention reads a BERT-style attention (transformers'
// BertAttention and the models built like it: BLIP's text model, BLIP-2's
// Q-Former) from w: the query, key and value projections under
// self+".query", ".key" and ".value" ("self" in BERT, "attention" in
// BLIP-2's Q-Former) and the output projection output.dense, all with
// biases. Queries and outputs are dim wide; keys and values are projected
// from kvDim-wide inputs (dim for self-attention, the encoder's width for
// cross-attention). A self-attention takes .FuseQKV().
func NewBERTAttention(w checkpoint.Weights, self string, dim, kvDim, heads int) *Attention {
	s := w.Sub(self)
	return &Attention{
		Q:     NewLinear(s.Sub("query"), dim, dim, true),
		K:     NewLinear(s.Sub("key"), kvDim, dim, true),
		V:     NewLinear(s.Sub("value"), kvDim, dim, true),
		O:     NewLinear(w.Sub("output.dense"), dim, dim, true),
		Heads: heads,
	}
}

// FuseQKV marks a self-attention whose query, key and value projections
// are to be packed side by side, one product instead of three: the store's
// Prepare (model Load) packs them so, not one by one, and its Close frees
// them. Without it the fused weight is packed at the first Self. It
// returns a, for use in a composite literal.
func (a *Attention) FuseQKV() *Attention {
	if a.Q == nil || a.K == nil || a.V == nil || a.Q.store == nil {
		return a
	}
	for _, l := range []*Linear{a.Q, a.K, a.V} {
		l.fused = true
	}
	a.Q.store.OnPrepare(func() error {
		if w, _ := a.fusedQKV(); w != nil {
			return nil
		}
		// Not fusable: pack them one by one.
		for _, l := range []*Linear{a.Q, a.K, a.V} {
			l.Pack()
			if l.packErr != nil {
				return l.packErr
			}
		}
		return nil
	})
	a.Q.store.OnClose(func() {
		a.qkvOnce.Do(func() {})
		a.qkv.Free()
		tensor.Release(a.qkvBias)
	})
	return a
}

// fusedQKV returns the packed [Q; K; V] weight and bias, or nil when the
// projections cannot be fused.
func (a *Attention) fusedQKV() (*tensor.PackedB, *tensor.Tensor) {
	a.qkvOnce.Do(func() {
		if a.Q == nil || a.K == nil || a.V == nil || !a.Q.hasWeight() || !a.K.hasWeight() || !a.V.hasWeight() {
			return
		}
		in := a.Q.In()
		if a.K.In() != in || a.V.In() != in || a.K.Dev != a.Q.Dev || a.V.Dev != a.Q.Dev {
			return
		}
		dev := a.Q.Dev
		w, err := tensor.Concat(0, a.Q.Weight(), a.K.Weight(), a.V.Weight())
		if err != nil {
			return
		}
		if dev != nil {
			hw := w
			if w, err = dev.Upload(hw); err != nil {
				return
			}
			defer tensor.Release(w)
		}
		typ := a.Q.Type
		if a.K.Type != typ || a.V.Type != typ {
			typ = tensor.WeightF32
		}
		p, err := tensor.PackWeightAs(w, typ)
		if err != nil {
			return
		}
		if a.Q.B != nil || a.K.B != nil || a.V.B != nil {
			parts := make([]*tensor.Tensor, 3)
			for i, l := range []*Linear{a.Q, a.K, a.V} {
				if l.B != nil {
					parts[i] = l.B.MustReshape(l.Out())
				} else {
					parts[i] = dev.New(l.Out())
				}
			}
			if a.qkvBias, err = tensor.Concat(0, parts...); err != nil {
				return
			}
		}
		a.qkv = p
		for _, l := range []*Linear{a.Q, a.K, a.V} {
			l.releaseSource()
		}
	})
	return a.qkv, a.qkvBias
}

// KVCache holds the keys and values of past positions for one
// self-attention layer during incremental decoding. Its zero value is ready
// to use; it belongs to one decoding call and is not safe for concurrent use.
// Its storage lives on the device of the keys it is given.
//
// Used by Attention.Self of an attention whose KVType is 16-bit, it keeps
// the keys and values in that type (a tensor.HalfKV); otherwise, and for
// Append, float32. A cache holds one kind: a 16-bit cache refuses Append.
type KVCache struct {
	// kt, vt hold the keys and values as [b, cap, d] (recycled storage,
	// tensor.Release).
	kt, vt   *tensor.Tensor
	b, d     int
	len, cap int
	// half, when set, holds the keys and values instead of kt and vt.
	half *tensor.HalfKV
}

// Len returns the number of cached positions.
func (c *KVCache) Len() int {
	if c.half != nil {
		return c.half.Len()
	}
	return c.len
}

// useHalf reports whether self-attention of a on keys k [B, T, D] keeps c
// 16-bit, making the 16-bit cache on first use. An empty cache takes the
// kind of its first use; a device without 16-bit caches keeps float32.
func (c *KVCache) useHalf(a *Attention, k *tensor.Tensor) bool {
	if c.half != nil {
		h := c.half
		if h.Batch() == k.Dim(0) && h.Heads()*h.HeadDim() == k.Dim(2) && h.Device() == k.Device() {
			return true
		}
		// Another batch or width: a new sequence, as append does.
		c.Release()
	}
	if a.KVType != tensor.WeightF16 && a.KVType != tensor.WeightBF16 || c.len > 0 || a.Heads < 1 || k.Dim(2)%a.Heads != 0 {
		return false
	}
	h, err := tensor.NewHalfKV(k.Device(), k.Dim(0), a.Heads, k.Dim(2)/a.Heads, a.KVType)
	if errors.Is(err, tensor.ErrDevice) {
		return false
	}
	c.Release()
	c.half = must2(h, err)
	return true
}

// alloc replaces the storage by room for b rows of capacity nc on dev,
// keeping the first keep positions of the rows idx (old row idx[i] to new
// row i; nil: the same rows in order).
func (c *KVCache) alloc(dev *tensor.Device, b, nc int, idx []int, keep int) {
	kt, vt := dev.New(b, nc, c.d), dev.New(b, nc, c.d)
	if keep > 0 && c.kt != nil {
		for _, p := range [2][2]*tensor.Tensor{{kt, c.kt}, {vt, c.vt}} {
			src := p[1].Slice(1, 0, keep)
			if idx != nil {
				g := must(tensor.Gather(src, idx))
				tensor.Release(src)
				src = g
			}
			dst := p[0].Slice(1, 0, keep)
			if err := tensor.Copy(dst, src); err != nil {
				panic("nn: " + err.Error())
			}
			tensor.Release(dst)
			tensor.Release(src)
		}
	}
	tensor.Release(c.kt)
	tensor.Release(c.vt)
	c.kt, c.vt, c.b, c.cap = kt, vt, b, nc
}

// append adds [B, T, D] keys and values and returns views of all cached
// positions [B, Len, D]; release them after use.
func (c *KVCache) append(k, v *tensor.Tensor) (*tensor.Tensor, *tensor.Tensor) {
	b, t, d := k.Dim(0), k.Dim(1), k.Dim(2)
	if c.kt == nil || c.b != b || c.d != d || c.kt.Device() != k.Device() {
		c.Release()
		c.b, c.d = b, d
	}
	if c.len+t > c.cap {
		c.alloc(k.Device(), b, max(2*c.cap, c.len+t, 16), nil, c.len)
	}
	for _, p := range [2][2]*tensor.Tensor{{c.kt, k}, {c.vt, v}} {
		dst := p[0].Slice(1, c.len, c.len+t)
		if err := tensor.Copy(dst, p[1]); err != nil {
			panic("nn: " + err.Error())
		}
		tensor.Release(dst)
	}
	c.len += t
	return c.kt.Slice(1, 0, c.len), c.vt.Slice(1, 0, c.len)
}

// Reorder keeps batch rows in the order given (beam search): row i of the
// result is old row idx[i]. len(idx) may differ from the old batch size.
func (c *KVCache) Reorder(idx []int) {
	if c.half != nil {
		if err := c.half.Reorder(idx); err != nil {
			panic("nn: " + err.Error())
		}
		return
	}
	if c.kt == nil {
		return
	}
	c.alloc(c.kt.Device(), len(idx), c.cap, idx, c.len)
}

// Reset empties the cache, keeping its memory.
func (c *KVCache) Reset() {
	c.len = 0
	if c.half != nil {
		c.half.Reset()
	}
}

// Release empties the cache and hands its memory back for reuse
// (tensor.Release).
func (c *KVCache) Release() {
	c.half.Free()
	tensor.Release(c.kt)
	tensor.Release(c.vt)
	*c = KVCache{}
}

// CrossKV holds the projected keys and values of an encoder output.
type CrossKV struct {
	K, V *tensor.Tensor
	// Packed, when set instead of K and V, holds them packed (Attention.KVType).
	Packed *tensor.PackedKV
}

// Batch returns the number of batch rows.
func (kv *CrossKV) Batch() int {
	if kv.Packed != nil {
		return kv.Packed.Batch()
	}
	return kv.K.Dim(0)
}

// Len returns the number of encoder positions.
func (kv *CrossKV) Len() int {
	if kv.Packed != nil {
		return kv.Packed.Len()
	}
	return kv.K.Dim(1)
}

// Reorder selects batch rows (beam search over a shared encoder output).
func (kv *CrossKV) Reorder(idx []int) {
	if kv.Packed != nil {
		old := kv.Packed
		kv.Packed = must2(old.Reorder(idx))
		old.Free()
		return
	}
	k, v := gatherRows(kv.K, idx), gatherRows(kv.V, idx)
	tensor.Release(kv.K)
	tensor.Release(kv.V)
	kv.K, kv.V = k, v
}

// Release hands the keys and values back for reuse (tensor.Release); kv is
// empty afterwards.
func (kv *CrossKV) Release() {
	tensor.Release(kv.K)
	tensor.Release(kv.V)
	kv.Packed.Free()
	*kv = CrossKV{}
}

func must2[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("nn: %v", err))
	}
	return v
}

func gatherRows(t *tensor.Tensor, idx []int) *tensor.Tensor {
	return must(tensor.Gather(t, idx))
}

// AttnOptions are per-call options of Attention.Self and Attention.Cross.
type AttnOptions struct {
	Causal bool
	// Mask is added to the scores, broadcast to [B, Tq, Tk].
	Mask *tensor.Tensor
	// Cache, for self-attention, supplies past keys/values and receives the
	// new ones.
	Cache *KVCache
	// Probs, when non-nil, receives the attention probabilities
	// [B, Heads, Tq, Tk].
	Probs *tensor.Tensor
}

// Self runs self-attention on x [B, T, D].
func (a *Attention) Self(x *tensor.Tensor, opt AttnOptions) *tensor.Tensor {
	o := a.selfHeads(x, opt)
	defer tensor.Release(o)
	return a.O.Forward(o)
}

// selfHeads is Self before the output projection.
func (a *Attention) selfHeads(x *tensor.Tensor, opt AttnOptions) *tensor.Tensor {
	var q, k, v *tensor.Tensor
	if w, b := a.fusedQKV(); w != nil {
		qkv := must(tensor.LinearPacked(x, w, b))
		defer tensor.Release(qkv)
		dq, dk := a.Q.Out(), a.K.Out()
		q = qkv.Slice(-1, 0, dq)
		k = qkv.Slice(-1, dq, dq+dk)
		v = qkv.Slice(-1, dq+dk, qkv.Dim(-1))
		// Deferred calls run last first: the views go before qkv.
		defer tensor.Release(q)
		defer tensor.Release(k)
		defer tensor.Release(v)
	} else {
		q, k, v = a.Q.Forward(x), a.K.Forward(x), a.V.Forward(x)
		defer tensor.Release(q)
		defer tensor.Release(k)
		defer tensor.Release(v)
	}
	ka, va := k, v
	if c := opt.Cache; c != nil && c.useHalf(a, k) {
		if err := c.half.Append(k, v); err != nil {
			panic("nn: " + err.Error())
		}
		return must(tensor.AttentionHalfKV(q, c.half, tensor.AttentionOptions{
			Heads: a.Heads, Scale: a.Scale, Causal: opt.Causal, Mask: opt.Mask, Probs: opt.Probs,
		}))
	}
	if opt.Cache != nil {
		ka, va = opt.Cache.append(k, v)
		defer tensor.Release(ka)
		defer tensor.Release(va)
	}
	return must(tensor.Attention(q, ka, va, tensor.AttentionOptions{
		Heads: a.Heads, Scale: a.Scale, Causal: opt.Causal, Mask: opt.Mask, Probs: opt.Probs,
	}))
}

// ProjectKV computes cross-attention keys and values of an encoder output
// [B, Tk, Dk], once per input.
func (a *Attention) ProjectKV(enc *tensor.Tensor) *CrossKV {
	k, v := a.K.Forward(enc), a.V.Forward(enc)
	if a.KVType == tensor.WeightF32 {
		return &CrossKV{K: k, V: v}
	}
	p := must2(tensor.PackKV(k, v, a.Heads, a.KVType))
	tensor.Release(k)
	tensor.Release(v)
	return &CrossKV{Packed: p}
}

// Cross runs cross-attention from x [B, T, D] to precomputed keys/values.
func (a *Attention) Cross(x *tensor.Tensor, kv *CrossKV, opt AttnOptions) *tensor.Tensor {
	o := a.crossHeads(x, kv, opt)
	defer tensor.Release(o)
	return a.O.Forward(o)
}

// crossHeads is Cross before the output projection.
func (a *Attention) crossHeads(x *tensor.Tensor, kv *CrossKV, opt AttnOptions) *tensor.Tensor {
	q := a.Q.Forward(x)
	defer tensor.Release(q)
	ao := tensor.AttentionOptions{Heads: a.Heads, Scale: a.Scale, Mask: opt.Mask, Probs: opt.Probs}
	if kv.Packed != nil {
		return must(tensor.AttentionPacked(q, kv.Packed, ao))
	}
	return must(tensor.Attention(q, kv.K, kv.V, ao))
}
