package wav2vec2

import (
	"context"
	"fmt"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/tensor"
)

func fill(seed *uint64, scale, offset float32, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	d := t.Data()
	for i := range d {
		*seed = *seed*6364136223846793005 + 1442695040888963407
		d[i] = offset + scale*(float32(*seed>>40)/float32(1<<24)*2-1)
	}
	return t
}

// baseNetwork builds facebook/wav2vec2-base-960h's dimensions (Wav2Vec2Config
// defaults) with random weights.
func baseNetwork(b *testing.B) *Network {
	b.Helper()
	c := DefaultConfig()
	seed := uint64(3)
	m := map[string]*tensor.Tensor{}
	in := 1
	for i, out := range c.ConvDim {
		p := fmt.Sprintf("wav2vec2.feature_extractor.conv_layers.%d.", i)
		m[p+"conv.weight"] = fill(&seed, 0.1, 0, out, in, c.ConvKernel[i])
		if i == 0 {
			m[p+"layer_norm.weight"] = fill(&seed, 0.1, 1, out)
			m[p+"layer_norm.bias"] = fill(&seed, 0.1, 0, out)
		}
		in = out
	}
	d := c.HiddenSize
	ln := func(p string, n int) {
		m[p+".weight"] = fill(&seed, 0.1, 1, n)
		m[p+".bias"] = fill(&seed, 0.1, 0, n)
	}
	lin := func(p string, in, out int) {
		m[p+".weight"] = fill(&seed, 0.03, 0, out, in)
		m[p+".bias"] = fill(&seed, 0.03, 0, out)
	}
	ln("wav2vec2.feature_projection.layer_norm", 512)
	lin("wav2vec2.feature_projection.projection", 512, d)
	m["wav2vec2.encoder.pos_conv_embed.conv.weight_g"] = fill(&seed, 0.1, 1, 1, 1, c.NumConvPosEmbeddings)
	m["wav2vec2.encoder.pos_conv_embed.conv.weight_v"] = fill(&seed, 0.1, 0, d, d/c.NumConvPosEmbeddingGroups, c.NumConvPosEmbeddings)
	m["wav2vec2.encoder.pos_conv_embed.conv.bias"] = fill(&seed, 0.1, 0, d)
	ln("wav2vec2.encoder.layer_norm", d)
	for i := 0; i < c.NumHiddenLayers; i++ {
		p := fmt.Sprintf("wav2vec2.encoder.layers.%d.", i)
		for _, n := range []string{"q_proj", "k_proj", "v_proj", "out_proj"} {
			lin(p+"attention."+n, d, d)
		}
		lin(p+"feed_forward.intermediate_dense", d, c.IntermediateSize)
		lin(p+"feed_forward.output_dense", c.IntermediateSize, d)
		ln(p+"layer_norm", d)
		ln(p+"final_layer_norm", d)
	}
	lin("lm_head", d, c.VocabSize)
	n, err := NewNetwork(c, checkpoint.NewStore("random", m).Root())
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkLogitsBase runs wav2vec2-base on 5 s of audio. Use
// -benchtime=1x on shared machines.
func BenchmarkLogitsBase(b *testing.B) {
	n := baseNetwork(b)
	seed := uint64(11)
	pcm := fill(&seed, 0.5, 0, 5*16000).Data()
	iv := Normalize(pcm)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := n.Logits(ctx, iv); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(5*float64(b.N)/b.Elapsed().Seconds(), "audio-s/s")
}
