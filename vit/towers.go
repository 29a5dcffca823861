package vit

import (
	"fmt"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// The vision towers of CLIP, BLIP and the models built on them (LLaVA's
// CLIP tower, BLIP-2's) are ViT encoders under other weight names; these
// constructors fill an Encoder from them, so that every family runs the one
// encoder.

// NewCLIPEncoder builds an Encoder from the weight names of transformers'
// CLIPVisionTransformer under w (the view of "vision_model."):
//
//	embeddings.patch_embedding.weight (no bias), embeddings.class_embedding,
//	embeddings.position_embedding.weight, pre_layrnorm,
//	encoder.layers.N.self_attn.{q,k,v,out}_proj,
//	encoder.layers.N.{layer_norm1,layer_norm2}, encoder.layers.N.mlp.{fc1,fc2},
//	post_layernorm.
//
// CLIP normalizes only the pooled class token with post_layernorm: it is
// PooledNorm (see Pooled), and Norm is nil, so that Forward and
// ForwardHidden return the hidden states as CLIP's last_hidden_state and
// hidden_states. Weight problems are recorded in the store.
func NewCLIPEncoder(w checkpoint.Weights, cfg EncoderConfig) (*Encoder, error) {
	cfg.PatchBias, cfg.QKVBias = false, true
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d, eps := cfg.HiddenSize, float32(cfg.LayerNormEps)
	emb := w.Sub("embeddings")
	e := &Encoder{
		Config:     cfg,
		Patch:      nn.NewPatchEmbedding(emb.Sub("patch_embedding"), cfg.NumChannels, d, cfg.PatchSize, false),
		CLS:        emb.Upload("class_embedding", d),
		Pos:        emb.Upload("position_embedding.weight", cfg.NumPatches()+1, d),
		PreNorm:    nn.NewLayerNorm(w.Sub("pre_layrnorm"), d, eps),
		PooledNorm: nn.NewLayerNorm(w.Sub("post_layernorm"), d, eps),
	}
	for i := 0; i < cfg.NumLayers; i++ {
		l := w.Subf("encoder.layers.%d", i)
		a := l.Sub("self_attn")
		e.Layers = append(e.Layers, cfg.block(
			cfg.attention(a.Sub("q_proj"), a.Sub("k_proj"), a.Sub("v_proj"), a.Sub("out_proj"), true),
			l.Sub("layer_norm1"), l.Sub("layer_norm2"), l.Sub("mlp.fc1"), l.Sub("mlp.fc2")))
	}
	return e, nil
}

// NewBLIPEncoder builds an Encoder from the weight names of transformers'
// BlipVisionModel under w (the view of "vision_model."):
//
//	embeddings.patch_embedding.{weight,bias}, embeddings.class_embedding
//	[1,1,D], embeddings.position_embedding [1,N+1,D],
//	encoder.layers.N.self_attn.qkv (fused, with bias),
//	encoder.layers.N.self_attn.projection,
//	encoder.layers.N.{layer_norm1,layer_norm2}, encoder.layers.N.mlp.{fc1,fc2},
//	post_layernorm (Norm: the whole last hidden state).
//
// Weight problems are recorded in the store.
func NewBLIPEncoder(w checkpoint.Weights, cfg EncoderConfig) (*Encoder, error) {
	cfg.QKVBias = true
	return newBLIPStyleEncoder(w, cfg)
}

// NewBLIP2Encoder builds an Encoder from the weight names of transformers'
// Blip2VisionModel under w (the view of "vision_model."): BLIP's names
// (see NewBLIPEncoder), with the fused qkv projection's bias present only
// when cfg.QKVBias is set (vision_config.qkv_bias). Transformers builds
// that bias from a query and a value bias with a zero key bias and saves
// it as self_attn.qkv.bias; checkpoints that keep the two halves apart
// (self_attn.q_bias and self_attn.v_bias, as LAVIS does) are read too.
//
// Weight problems are recorded in the store.
func NewBLIP2Encoder(w checkpoint.Weights, cfg EncoderConfig) (*Encoder, error) {
	return newBLIPStyleEncoder(w, cfg)
}

// newBLIPStyleEncoder reads BLIP's and BLIP-2's vision towers.
func newBLIPStyleEncoder(w checkpoint.Weights, cfg EncoderConfig) (*Encoder, error) {
	cfg.PatchBias = true
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d, eps := cfg.HiddenSize, float32(cfg.LayerNormEps)
	n := cfg.NumPatches() + 1
	emb := w.Sub("embeddings")
	e := &Encoder{
		Config: cfg,
		Patch:  nn.NewPatchEmbedding(emb.Sub("patch_embedding"), cfg.NumChannels, d, cfg.PatchSize, true),
		CLS:    emb.Upload("class_embedding", 1, 1, d).MustReshape(d),
		Pos:    emb.Upload("position_embedding", 1, n, d).MustReshape(n, d),
		Norm:   nn.NewLayerNorm(w.Sub("post_layernorm"), d, eps),
	}
	for i := 0; i < cfg.NumLayers; i++ {
		l := w.Subf("encoder.layers.%d", i)
		qkv := nn.NewLinear(l.Sub("self_attn.qkv"), d, 3*d, false)
		if cfg.QKVBias {
			qkv.B = qkvBias(l.Sub("self_attn"), d)
		}
		attn := &nn.Attention{
			Q: qkv.Rows(0, d), K: qkv.Rows(d, 2*d), V: qkv.Rows(2*d, 3*d),
			O:     nn.NewLinear(l.Sub("self_attn.projection"), d, d, true),
			Heads: cfg.NumHeads,
		}
		e.Layers = append(e.Layers, cfg.block(attn, l.Sub("layer_norm1"), l.Sub("layer_norm2"), l.Sub("mlp.fc1"), l.Sub("mlp.fc2")))
	}
	return e, nil
}

// qkvBias reads the fused projection's bias [3D] under a (the view of
// "self_attn.") on the store's device: qkv.bias, or q_bias and v_bias with
// a zero key bias between them when only those are stored (joined on the
// host at load, then uploaded).
func qkvBias(a checkpoint.Weights, d int) *tensor.Tensor {
	if a.Has("qkv.bias") || !a.Has("q_bias") || !a.Has("v_bias") {
		return a.Upload("qkv.bias", 3*d)
	}
	b, err := tensor.Concat(0, a.Tensor("q_bias", d), tensor.New(d), a.Tensor("v_bias", d))
	if err != nil { // not reached: the shapes are checked by Tensor
		panic(err)
	}
	return a.UploadTensor(b)
}

// Pooled returns the class token of each row of a last hidden state
// [B, 1+N, D] as [B, D], normalized by PooledNorm when set (CLIP's
// pooler_output).
func (e *Encoder) Pooled(last *tensor.Tensor) (*tensor.Tensor, error) {
	if last == nil || last.Rank() != 3 || last.Dim(2) != e.Config.HiddenSize {
		return nil, fmt.Errorf("%w: hidden states must be [batch, tokens, %d]", ErrInput, e.Config.HiddenSize)
	}
	cls, err := tensor.Position(last, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInput, err)
	}
	if e.PooledNorm == nil {
		return cls, nil
	}
	y := e.PooledNorm.Forward(cls)
	tensor.Release(cls)
	return y, nil
}

// VisionConfig is the vision_config of the families built on a ViT tower
// (transformers' CLIPVisionConfig, BlipVisionConfig and the like): the
// fields their config.json files share, named after their keys in the
// json tags. EncoderConfig turns it into the tower's EncoderConfig.
type VisionConfig struct {
	// HiddenSize is the transformer width.
	HiddenSize int `json:"hidden_size"`
	// IntermediateSize is the width of the MLP's hidden layer.
	IntermediateSize int `json:"intermediate_size"`
	// NumHiddenLayers is the number of transformer blocks.
	NumHiddenLayers int `json:"num_hidden_layers"`
	// NumAttentionHeads splits HiddenSize into heads.
	NumAttentionHeads int `json:"num_attention_heads"`
	// NumChannels is the number of image channels (3).
	NumChannels int `json:"num_channels"`
	// ImageSize is the side of the square input in pixels.
	ImageSize int `json:"image_size"`
	// PatchSize is the side of a patch in pixels.
	PatchSize int `json:"patch_size"`
	// HiddenAct is the MLP activation.
	HiddenAct string `json:"hidden_act"`
	// LayerNormEps is the layer norms' epsilon.
	LayerNormEps float64 `json:"layer_norm_eps"`
}

// NumPatches is the number of patches of one image, (ImageSize /
// PatchSize)²; 0 when PatchSize is not positive.
func (c VisionConfig) NumPatches() int {
	if c.PatchSize <= 0 {
		return 0
	}
	g := c.ImageSize / c.PatchSize
	return g * g
}

// Validate checks c as EncoderConfig.Validate checks the tower's
// configuration; errors wrap nn.ErrConfig and name the field.
func (c VisionConfig) Validate() error { return c.EncoderConfig().Validate() }

// EncoderConfig returns the encoder configuration of c; the family's
// constructor (NewCLIPEncoder, NewBLIPEncoder, …) sets the biases.
func (c VisionConfig) EncoderConfig() EncoderConfig {
	return EncoderConfig{
		HiddenSize: c.HiddenSize, NumLayers: c.NumHiddenLayers, NumHeads: c.NumAttentionHeads,
		IntermediateSize: c.IntermediateSize, HiddenAct: c.HiddenAct, LayerNormEps: c.LayerNormEps,
		ImageSize: c.ImageSize, PatchSize: c.PatchSize, NumChannels: c.NumChannels,
	}
}
