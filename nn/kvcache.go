package nn

import (
	"fmt"

	"github.com/goformer/goformer/tensor"
)

// Append adds the keys and values of new positions, k and v [B, T, D], to
// the cache and returns views of every cached position, [B, Len, D], for
// attention code that is not Attention.Self (rotary embeddings, grouped
// keys and values). Release the views after use (tensor.Release); they are
// valid until the next Append, Reorder or Release. The batch size and
// width must stay those of the cached positions. Append keeps float32
// keys and values: a cache that Attention.Self keeps 16-bit (KVType)
// refuses it, so callers that need these views (rotary embeddings,
// grouped keys and values in package llm) keep float32 caches.
func (c *KVCache) Append(k, v *tensor.Tensor) (keys, values *tensor.Tensor, err error) {
	if c.half != nil {
		return nil, nil, fmt.Errorf("nn: %w: Append to a KV cache kept %v by Attention.Self (Attention.KVType); it has no float32 views", tensor.ErrShape, c.half.Type())
	}
	if k == nil || v == nil || k.Rank() != 3 || !tensor.SameShape(k, v) {
		return nil, nil, fmt.Errorf("nn: %w: KV cache keys and values must be [B, T, D] of one shape", tensor.ErrShape)
	}
	if k.Dim(0) < 1 || k.Dim(1) < 1 || k.Dim(2) < 1 {
		return nil, nil, fmt.Errorf("nn: %w: KV cache append of %v", tensor.ErrShape, k.Shape())
	}
	if c.len > 0 && (k.Dim(0) != c.b || k.Dim(2) != c.d) {
		return nil, nil, fmt.Errorf("nn: %w: KV cache of [%d, %d, %d] cannot take %v", tensor.ErrShape, c.b, c.len, c.d, k.Shape())
	}
	keys, values = c.append(k, v)
	return keys, values, nil
}
