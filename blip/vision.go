package blip

import (
	"context"
	"fmt"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// visionModel is BLIP's ViT: a patch embedding with bias, a class token,
// learned positions, pre-LN encoder layers with a fused qkv projection, and
// a final post_layernorm.
type visionModel struct {
	cfg    VisionConfig
	patch  *nn.PatchEmbedding
	cls    *tensor.Tensor // [D]
	pos    *tensor.Tensor // [N+1, D]
	layers []*nn.EncoderBlock
	post   *nn.LayerNorm
}

// newVisionModel builds the vision model from weights under
// "vision_model.".
func newVisionModel(w checkpoint.Weights, cfg VisionConfig) (*visionModel, error) {
	act, err := tensor.Activation(cfg.HiddenAct)
	if err != nil {
		return nil, fmt.Errorf("%w: vision_config.hidden_act: %v", nn.ErrConfig, err)
	}
	d, eps := cfg.HiddenSize, float32(cfg.LayerNormEps)
	emb := w.Sub("embeddings")
	m := &visionModel{
		cfg:   cfg,
		patch: nn.NewPatchEmbedding(emb.Sub("patch_embedding"), cfg.NumChannels, d, cfg.PatchSize, true),
		cls:   emb.Tensor("class_embedding", 1, 1, d).MustReshape(d),
		pos:   emb.Tensor("position_embedding", 1, cfg.numPositions(), d).MustReshape(cfg.numPositions(), d),
		post:  nn.NewLayerNorm(w.Sub("post_layernorm"), d, eps),
	}
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		lw := w.Subf("encoder.layers.%d", i)
		qkv := nn.NewLinear(lw.Sub("self_attn.qkv"), d, 3*d, true)
		part := func(j int) *nn.Linear {
			return qkv.Rows(j*d, (j+1)*d)
		}
		m.layers = append(m.layers, &nn.EncoderBlock{
			PreNorm: true,
			Attn: &nn.Attention{
				Q: part(0), K: part(1), V: part(2),
				O:     nn.NewLinear(lw.Sub("self_attn.projection"), d, d, true),
				Heads: cfg.NumAttentionHeads,
			},
			LN1: nn.NewLayerNorm(lw.Sub("layer_norm1"), d, eps),
			LN2: nn.NewLayerNorm(lw.Sub("layer_norm2"), d, eps),
			MLP: &nn.MLP{
				FC1: nn.NewLinear(lw.Sub("mlp.fc1"), d, cfg.IntermediateSize, true),
				FC2: nn.NewLinear(lw.Sub("mlp.fc2"), cfg.IntermediateSize, d, true),
				Act: act,
			},
		})
	}
	return m, nil
}

// checkPixels validates pixel values [B, C, H, W] against the config.
func (m *visionModel) checkPixels(px *tensor.Tensor) error {
	c := m.cfg
	if px == nil {
		return fmt.Errorf("%w: pixel values are nil", ErrInput)
	}
	s := px.Shape()
	if len(s) != 4 || s[0] < 1 || s[1] != c.NumChannels || s[2] != c.ImageSize || s[3] != c.ImageSize {
		return fmt.Errorf("%w: pixel values have shape %v, want [B≥1, %d, %d, %d]", ErrInput, s, c.NumChannels, c.ImageSize, c.ImageSize)
	}
	return nil
}

// forward returns the last hidden state [B, N+1, D] after post_layernorm.
func (m *visionModel) forward(ctx context.Context, px *tensor.Tensor) (*tensor.Tensor, error) {
	if err := m.checkPixels(px); err != nil {
		return nil, err
	}
	patches, err := m.patch.Forward(px)
	if err != nil {
		return nil, fmt.Errorf("blip: patch embedding: %w", err)
	}
	b, n, d := patches.Dim(0), patches.Dim(1), patches.Dim(2)
	x := tensor.New(b, n+1, d)
	xd, pd, pos, cls := x.Data(), patches.Data(), m.pos.Data(), m.cls.Data()
	for bi := 0; bi < b; bi++ {
		row := xd[bi*(n+1)*d:]
		for j := 0; j < d; j++ {
			row[j] = cls[j] + pos[j]
		}
		for t := 0; t < n; t++ {
			dst := row[(t+1)*d : (t+2)*d]
			src := pd[(bi*n+t)*d : (bi*n+t+1)*d]
			pp := pos[(t+1)*d : (t+2)*d]
			for j := range dst {
				dst[j] = src[j] + pp[j]
			}
		}
	}
	tensor.Release(patches)
	for _, l := range m.layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		y := l.Forward(x, nn.AttnOptions{})
		tensor.Release(x) // recycled by the next layer or call
		x = y
	}
	y := m.post.Forward(x)
	tensor.Release(x)
	return y, nil
}
