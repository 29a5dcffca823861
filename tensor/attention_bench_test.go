package tensor

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkAttentionDecode is one decoding step's attention of Whisper-base
// (8 heads of 64) over 1500 encoder frames, as cross-attention runs it:
// one query row against keys and values in token layout (f32) and packed
// (f16), each of six layers' copies in turn so that they come from memory
// as in a whole decoder step.
func BenchmarkAttentionDecode(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	const layers, tk, d, heads = 6, 1500, 512, 8
	q := randT(r, 1, 1, d)
	ks := make([]*Tensor, layers)
	vs := make([]*Tensor, layers)
	kvs := make([]*PackedKV, layers)
	for i := range ks {
		ks[i], vs[i] = randT(r, 1, tk, d), randT(r, 1, tk, d)
		kvs[i] = mustKV(PackKV(ks[i], vs[i], heads, WeightF16))
	}
	b.Run("f32", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			Release(mustT(Attention(q, ks[i%layers], vs[i%layers], AttentionOptions{Heads: heads})))
		}
	})
	b.Run("packed-f16", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			Release(mustT(AttentionPacked(q, kvs[i%layers], AttentionOptions{Heads: heads})))
		}
	})
}

// BenchmarkAttentionSelfCache is one decoding step's self-attention of
// Whisper-base (8 heads of 64, causal) over tk cached positions, six
// layers' caches in turn: float32 keys and values in a [1, cap, 512]
// cache (as nn.KVCache keeps them) against a 16-bit HalfKV.
func BenchmarkAttentionSelfCache(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	const layers, d, heads = 6, 512, 8
	q := randT(r, 1, 1, d)
	for _, tk := range []int{64, 224, 448} {
		ks := make([]*Tensor, layers)
		vs := make([]*Tensor, layers)
		hs := make([]*HalfKV, layers)
		for i := range ks {
			k, v := randT(r, 1, 2*tk, d), randT(r, 1, 2*tk, d)
			ks[i], vs[i] = k.Slice(1, 0, tk), v.Slice(1, 0, tk)
			hs[i] = ok(NewHalfKV(nil, 1, heads, d/heads, WeightF16))
			if err := hs[i].Append(ks[i], vs[i]); err != nil {
				b.Fatal(err)
			}
		}
		opt := AttentionOptions{Heads: heads, Causal: true}
		b.Run(fmt.Sprintf("f32/%d", tk), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				Release(mustT(Attention(q, ks[i%layers], vs[i%layers], opt)))
			}
		})
		b.Run(fmt.Sprintf("f16/%d", tk), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				Release(mustT(AttentionHalfKV(q, hs[i%layers], opt)))
			}
		})
	}
}
