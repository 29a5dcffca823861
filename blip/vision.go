package blip

import (
	"context"
	"fmt"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/tensor"
	"github.com/goformer/goformer/vit"
)

// visionModel is BLIP's ViT: the shared ViT encoder filled from BLIP's
// weight names (a patch embedding with bias, a class token, learned
// positions, pre-LN encoder layers with a fused qkv projection, and a final
// post_layernorm).
type visionModel struct {
	cfg VisionConfig
	dev *tensor.Device
	enc *vit.Encoder
}

// newVisionModel builds the vision model from weights under
// "vision_model.".
func newVisionModel(w checkpoint.Weights, cfg VisionConfig) (*visionModel, error) {
	enc, err := vit.NewBLIPEncoder(w, cfg.EncoderConfig())
	if err != nil {
		return nil, fmt.Errorf("vision_config: %w", err)
	}
	return &visionModel{cfg: cfg, dev: w.Device(), enc: enc}, nil
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

// forward returns the last hidden state [B, N+1, D] after post_layernorm,
// on the model's device (pixel values on the host are uploaded).
func (m *visionModel) forward(ctx context.Context, px *tensor.Tensor) (*tensor.Tensor, error) {
	if err := m.checkPixels(px); err != nil {
		return nil, err
	}
	u, err := m.dev.Upload(px)
	if err != nil {
		return nil, fmt.Errorf("blip: %w", err)
	}
	if u != px {
		defer tensor.Release(u)
	}
	return m.enc.Forward(ctx, u, false)
}
