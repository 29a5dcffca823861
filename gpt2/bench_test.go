package gpt2

import (
	"context"
	"fmt"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/tensor"
	"github.com/goformer/goformer/vit"
)

// fill returns a tensor of pseudo-random values in [−scale, scale) (a cheap
// LCG: benchmarks need real sizes, not good randomness).
func fill(seed *uint64, scale float32, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	d := t.Data()
	for i := range d {
		*seed = *seed*6364136223846793005 + 1442695040888963407
		d[i] = scale * (float32(*seed>>40)/float32(1<<24)*2 - 1)
	}
	return t
}

// realSizeCaptioner builds nlpconnect/vit-gpt2-image-captioning's
// dimensions (ViT-base/16 at 224 px, GPT-2 124M with cross-attention) with
// random weights.
func realSizeCaptioner(b *testing.B) *Captioner {
	b.Helper()
	ec := vit.EncoderConfig{HiddenSize: 768, NumLayers: 12, NumHeads: 12, IntermediateSize: 3072, HiddenAct: "gelu",
		LayerNormEps: 1e-12, ImageSize: 224, PatchSize: 16, NumChannels: 3, QKVBias: true, PatchBias: true}
	return randomCaptioner(b, ec, DefaultConfig())
}

// randomCaptioner builds a captioner of the given encoder and decoder
// dimensions (dc.NEmbd must be the encoder's width; the decoder gets
// cross-attention, and its last token starts and ends captions) with random
// weights.
func randomCaptioner(tb testing.TB, ec vit.EncoderConfig, dc Config) *Captioner {
	tb.Helper()
	seed := uint64(1)
	m := map[string]*tensor.Tensor{}
	d := ec.HiddenSize
	m["encoder.embeddings.cls_token"] = fill(&seed, 0.02, 1, 1, d)
	m["encoder.embeddings.position_embeddings"] = fill(&seed, 0.02, 1, ec.NumPatches()+1, d)
	m["encoder.embeddings.patch_embeddings.projection.weight"] = fill(&seed, 0.02, d, ec.NumChannels, ec.PatchSize, ec.PatchSize)
	m["encoder.embeddings.patch_embeddings.projection.bias"] = fill(&seed, 0.02, d)
	ln := func(p string, n int) {
		m[p+".weight"] = fill(&seed, 0.1, n)
		m[p+".bias"] = fill(&seed, 0.1, n)
	}
	lin := func(p string, in, out int) {
		m[p+".weight"] = fill(&seed, 0.02, out, in)
		m[p+".bias"] = fill(&seed, 0.02, out)
	}
	ln("encoder.layernorm", d)
	for i := 0; i < ec.NumLayers; i++ {
		p := fmt.Sprintf("encoder.encoder.layer.%d.", i)
		for _, n := range []string{"query", "key", "value"} {
			lin(p+"attention.attention."+n, d, d)
		}
		lin(p+"attention.output.dense", d, d)
		lin(p+"intermediate.dense", d, ec.IntermediateSize)
		lin(p+"output.dense", ec.IntermediateSize, d)
		ln(p+"layernorm_before", d)
		ln(p+"layernorm_after", d)
	}
	dc.AddCrossAttention = true
	conv := func(p string, in, out int) {
		m[p+".weight"] = fill(&seed, 0.02, in, out)
		m[p+".bias"] = fill(&seed, 0.02, out)
	}
	m["decoder.transformer.wte.weight"] = fill(&seed, 0.02, dc.VocabSize, d)
	m["decoder.transformer.wpe.weight"] = fill(&seed, 0.02, dc.NPositions, d)
	ln("decoder.transformer.ln_f", d)
	for i := 0; i < dc.NLayer; i++ {
		p := fmt.Sprintf("decoder.transformer.h.%d.", i)
		ln(p+"ln_1", d)
		ln(p+"ln_2", d)
		ln(p+"ln_cross_attn", d)
		conv(p+"attn.c_attn", d, 3*d)
		conv(p+"attn.c_proj", d, d)
		conv(p+"crossattention.q_attn", d, d)
		conv(p+"crossattention.c_attn", d, 2*d)
		conv(p+"crossattention.c_proj", d, d)
		conv(p+"mlp.c_fc", d, dc.NInner)
		conv(p+"mlp.c_proj", dc.NInner, d)
	}
	gen := defaultGeneration()
	gen.DecoderStartTokenID, gen.EOSTokenIDs = dc.VocabSize-1, []int{dc.VocabSize - 1}
	c, err := NewCaptioner(checkpoint.NewStore("random", m).Root(), ec, dc, gen)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// BenchmarkCaptionRealSize captions one 224×224 image with 16 greedy tokens
// (the end token is disabled so every iteration does the same work).
// Run with -benchtime=1x: it allocates ~1 GB of weights.
func BenchmarkCaptionRealSize(b *testing.B) {
	c := realSizeCaptioner(b)
	seed := uint64(7)
	px := fill(&seed, 1, 1, 3, 224, 224)
	ctx := context.Background()
	search := c.Search(CaptionOptions{MaxNewTokens: 16})
	search.EOS = nil
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		enc, err := c.Encode(ctx, px)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Decoder().Generate(ctx, enc, []int{50256}, search); err != nil {
			b.Fatal(err)
		}
	}
}
