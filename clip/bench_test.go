package clip

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// randomStore fills a Hub-layout weight store for cfg with random values
// (N(0, 0.02²)-ish; layer norms at 1/0), for benchmarks at real sizes.
func randomStore(cfg Config, seed uint64) *checkpoint.Store {
	r := rand.New(rand.NewPCG(seed, 1))
	m := map[string]*tensor.Tensor{}
	rnd := func(name string, shape ...int) {
		m[name] = expected.Normal(r, 0.02, shape...)
	}
	ln := func(name string, dim int) {
		w := tensor.New(dim)
		for i := range w.Data() {
			w.Data()[i] = 1
		}
		m[name+".weight"] = w
		m[name+".bias"] = tensor.New(dim)
	}
	layers := func(prefix string, n, d, inter int) {
		for i := range n {
			p := fmt.Sprintf("%s.encoder.layers.%d.", prefix, i)
			for _, q := range []string{"q_proj", "k_proj", "v_proj", "out_proj"} {
				rnd(p+"self_attn."+q+".weight", d, d)
				rnd(p+"self_attn."+q+".bias", d)
			}
			ln(p+"layer_norm1", d)
			ln(p+"layer_norm2", d)
			rnd(p+"mlp.fc1.weight", inter, d)
			rnd(p+"mlp.fc1.bias", inter)
			rnd(p+"mlp.fc2.weight", d, inter)
			rnd(p+"mlp.fc2.bias", d)
		}
	}
	t, v := cfg.Text, cfg.Vision
	rnd("text_model.embeddings.token_embedding.weight", t.VocabSize, t.HiddenSize)
	rnd("text_model.embeddings.position_embedding.weight", t.MaxPositionEmbeddings, t.HiddenSize)
	layers("text_model", t.NumHiddenLayers, t.HiddenSize, t.IntermediateSize)
	ln("text_model.final_layer_norm", t.HiddenSize)
	rnd("vision_model.embeddings.patch_embedding.weight", v.HiddenSize, v.NumChannels, v.PatchSize, v.PatchSize)
	rnd("vision_model.embeddings.class_embedding", v.HiddenSize)
	rnd("vision_model.embeddings.position_embedding.weight", v.EncoderConfig().NumPatches()+1, v.HiddenSize)
	ln("vision_model.pre_layrnorm", v.HiddenSize)
	layers("vision_model", v.NumHiddenLayers, v.HiddenSize, v.IntermediateSize)
	ln("vision_model.post_layernorm", v.HiddenSize)
	rnd("text_projection.weight", cfg.ProjectionDim, t.HiddenSize)
	rnd("visual_projection.weight", cfg.ProjectionDim, v.HiddenSize)
	m["logit_scale"] = tensor.MustFromData([]float32{float32(cfg.LogitScaleInit)})
	return checkpoint.NewStore("random", m)
}

// benchModel builds clip-vit-base-patch32 with random weights, linear
// weights packed as GOFORMER_BENCH_WEIGHTS says (float32 unset).
func benchModel(b *testing.B) *Model {
	b.Helper()
	cfg, err := LoadConfig(filepath.Join(testdata.Path(b, "configs", "clip-vit-base-patch32"), "config.json"))
	if err != nil {
		b.Fatal(err)
	}
	st := randomStore(cfg, 1)
	st.WeightType = expected.BenchWeightType(b)
	m, err := New(cfg, st.Root())
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkImageEmbed embeds one preprocessed image with
// clip-vit-base-patch32's dimensions.
func BenchmarkImageEmbed(b *testing.B) {
	m := benchModel(b)
	c := m.Config().Vision
	pix := tensor.New(1, c.NumChannels, c.ImageSize, c.ImageSize)
	r := rand.New(rand.NewPCG(2, 2))
	for i := range pix.Data() {
		pix.Data()[i] = float32(r.NormFloat64())
	}
	ctx := context.Background()
	// One untimed pass packs the weights (a one-time load cost, measured
	// by tensor's BenchmarkPackWeight).
	if _, err := m.ImageFeatures(ctx, pix); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := testdata.ProcessCPU()
	for b.Loop() {
		if _, err := m.ImageFeatures(ctx, pix); err != nil {
			b.Fatal(err)
		}
	}
	// CPU time per embedding: what other jobs on a shared machine do not
	// dilute (wall time does).
	b.ReportMetric(float64((testdata.ProcessCPU()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
}

// BenchmarkTextEmbed embeds 8 texts of 16 tokens (start, 14 words, end)
// with clip-vit-base-patch32's dimensions.
func BenchmarkTextEmbed(b *testing.B) {
	m := benchModel(b)
	c := m.Config().Text
	r := rand.New(rand.NewPCG(3, 3))
	ids := make([][]int, 8)
	for i := range ids {
		ids[i] = make([]int, 16)
		ids[i][0] = c.BosTokenID
		for j := 1; j < 15; j++ {
			ids[i][j] = r.IntN(c.VocabSize - 2)
		}
		ids[i][15] = c.EosTokenID
	}
	ctx := context.Background()
	if _, err := m.TextFeatures(ctx, ids, nil); err != nil { // packs the weights
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.TextFeatures(ctx, ids, nil); err != nil {
			b.Fatal(err)
		}
	}
}
