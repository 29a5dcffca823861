package vit

import (
	"context"
	"math/rand"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// blipTower returns random weights of a tiny BLIP-style vision tower under
// "vision_model.", without the qkv bias.
func blipTower(r *rand.Rand, cfg EncoderConfig) map[string]*tensor.Tensor {
	d, n := cfg.HiddenSize, cfg.NumPatches()+1
	rnd := func(shape ...int) *tensor.Tensor { return randTensor(r, shape...) }
	m := map[string]*tensor.Tensor{
		"vision_model.embeddings.patch_embedding.weight": rnd(d, cfg.NumChannels, cfg.PatchSize, cfg.PatchSize),
		"vision_model.embeddings.patch_embedding.bias":   rnd(d),
		"vision_model.embeddings.class_embedding":        rnd(1, 1, d),
		"vision_model.embeddings.position_embedding":     rnd(1, n, d),
		"vision_model.post_layernorm.weight":             rnd(d),
		"vision_model.post_layernorm.bias":               rnd(d),
	}
	for _, name := range []string{"layer_norm1", "layer_norm2"} {
		m["vision_model.encoder.layers.0."+name+".weight"] = rnd(d)
		m["vision_model.encoder.layers.0."+name+".bias"] = rnd(d)
	}
	m["vision_model.encoder.layers.0.self_attn.qkv.weight"] = rnd(3*d, d)
	m["vision_model.encoder.layers.0.self_attn.projection.weight"] = rnd(d, d)
	m["vision_model.encoder.layers.0.self_attn.projection.bias"] = rnd(d)
	m["vision_model.encoder.layers.0.mlp.fc1.weight"] = rnd(cfg.IntermediateSize, d)
	m["vision_model.encoder.layers.0.mlp.fc1.bias"] = rnd(cfg.IntermediateSize)
	m["vision_model.encoder.layers.0.mlp.fc2.weight"] = rnd(d, cfg.IntermediateSize)
	m["vision_model.encoder.layers.0.mlp.fc2.bias"] = rnd(d)
	return m
}

// TestNewBLIP2Encoder checks the three ways BLIP-2's qkv bias is stored:
// fused (qkv.bias, transformers' saves), split (q_bias and v_bias with a
// zero key bias) and absent (qkv_bias false, same as a zero bias).
func TestNewBLIP2Encoder(t *testing.T) {
	cfg := EncoderConfig{HiddenSize: 8, NumLayers: 1, NumHeads: 2, IntermediateSize: 16, HiddenAct: "gelu",
		LayerNormEps: 1e-6, ImageSize: 8, PatchSize: 4, NumChannels: 3, QKVBias: true}
	d := cfg.HiddenSize
	r := rand.New(rand.NewSource(1))
	base := blipTower(r, cfg)
	q, v := tensor.New(d), tensor.New(d)
	for i := range d {
		q.Data()[i], v.Data()[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
	}
	fused := tensor.New(3 * d)
	copy(fused.Data(), q.Data())
	copy(fused.Data()[2*d:], v.Data())
	px := tensor.New(2, 3, 8, 8)
	for i := range px.Data() {
		px.Data()[i] = float32(r.NormFloat64())
	}
	run := func(extra map[string]*tensor.Tensor, cfg EncoderConfig) []float32 {
		t.Helper()
		m := map[string]*tensor.Tensor{}
		for k, x := range base {
			m[k] = x
		}
		for k, x := range extra {
			m[k] = x
		}
		s := checkpoint.NewStore("test", m)
		e, err := NewBLIP2Encoder(s.Root().Sub("vision_model"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Err(false); err != nil {
			t.Fatal(err)
		}
		out, err := e.Forward(context.Background(), px, false)
		if err != nil {
			t.Fatal(err)
		}
		return out.Data()
	}
	const a = "vision_model.encoder.layers.0.self_attn."
	want := run(map[string]*tensor.Tensor{a + "qkv.bias": fused}, cfg)
	if d, at := testdata.MaxAbsDiff(run(map[string]*tensor.Tensor{a + "q_bias": q, a + "v_bias": v}, cfg), want); d > 1e-6 {
		t.Errorf("q_bias/v_bias: max|Δ| %g at %d from qkv.bias", d, at)
	}
	zero := run(map[string]*tensor.Tensor{a + "qkv.bias": tensor.New(3 * d)}, cfg)
	noBias := cfg
	noBias.QKVBias = false
	if d, at := testdata.MaxAbsDiff(run(nil, noBias), zero); d > 1e-6 {
		t.Errorf("qkv_bias false: max|Δ| %g at %d from a zero bias", d, at)
	}
	if d, _ := testdata.MaxAbsDiff(zero, want); d < 1e-4 {
		t.Errorf("the bias changes nothing (max|Δ| %g): the test cannot fail", d)
	}
	// A missing bias is reported.
	s := checkpoint.NewStore("test", base)
	if _, err := NewBLIP2Encoder(s.Root().Sub("vision_model"), cfg); err != nil {
		t.Fatal(err)
	}
	if s.Err(false) == nil {
		t.Error("no error for a missing qkv.bias")
	}
}
