package vit

import (
	"context"
	"fmt"
	"math"

	"github.com/goformer/goformer/task"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// ErrInput marks pixel values the encoder cannot take: wrong rank, channel
// count or size (when position embeddings are not interpolated), or an image
// smaller than one patch.
var ErrInput = task.NewInputError("vit: invalid input")

// EncoderConfig holds the dimensions of a ViT-style vision transformer.
type EncoderConfig struct {
	HiddenSize       int
	NumLayers        int
	NumHeads         int
	IntermediateSize int
	// HiddenAct is a HuggingFace activation name ("gelu", "quick_gelu", …).
	HiddenAct    string
	LayerNormEps float64
	// ImageSize is the training resolution (square); the position
	// embeddings cover (ImageSize/PatchSize)² patches plus the class token.
	ImageSize   int
	PatchSize   int
	NumChannels int
	// QKVBias gives the query, key and value projections a bias.
	QKVBias bool
	// PatchBias gives the patch-embedding convolution a bias (ViT, BLIP;
	// CLIP has none).
	PatchBias bool
}

// NumPatches returns the number of patches at the training resolution.
func (c EncoderConfig) NumPatches() int {
	g := c.ImageSize / c.PatchSize
	return g * g
}

// Validate checks that the sizes are positive and plausible, the width a
// multiple of the head count, the patch no larger than the image, the
// activation known and the layer-norm epsilon finite and non-negative.
// Errors wrap nn.ErrConfig and name the field by its config.json key. The
// constructors call it.
func (c EncoderConfig) Validate() error {
	var bad []string
	for _, f := range []struct {
		name string
		v    int
	}{
		{"hidden_size", c.HiddenSize}, {"num_hidden_layers", c.NumLayers}, {"num_attention_heads", c.NumHeads},
		{"intermediate_size", c.IntermediateSize}, {"image_size", c.ImageSize}, {"patch_size", c.PatchSize},
		{"num_channels", c.NumChannels},
	} {
		if f.v <= 0 {
			bad = append(bad, fmt.Sprintf("%s = %d", f.name, f.v))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: non-positive %v", nn.ErrConfig, bad)
	}
	if c.HiddenSize%c.NumHeads != 0 {
		return fmt.Errorf("%w: hidden_size %d is not a multiple of num_attention_heads %d", nn.ErrConfig, c.HiddenSize, c.NumHeads)
	}
	if c.PatchSize > c.ImageSize {
		return fmt.Errorf("%w: patch_size %d exceeds image_size %d", nn.ErrConfig, c.PatchSize, c.ImageSize)
	}
	const limit = 1 << 16
	if c.HiddenSize > limit || c.IntermediateSize > 4*limit || c.NumLayers > 1024 || c.ImageSize > limit || c.NumChannels > 64 {
		return fmt.Errorf("%w: implausible dimensions %+v", nn.ErrConfig, c)
	}
	if _, err := tensor.Activation(c.HiddenAct); err != nil {
		return fmt.Errorf("%w: hidden_act: %v", nn.ErrConfig, err)
	}
	if !(c.LayerNormEps >= 0) || math.IsInf(c.LayerNormEps, 0) {
		return fmt.Errorf("%w: layer_norm_eps %v", nn.ErrConfig, c.LayerNormEps)
	}
	return nil
}

// Encoder is a ViT-style vision transformer: patch embedding, a class token,
// learned position embeddings (bicubically interpolated for other input
// sizes), an optional layer norm before the blocks, pre-LN transformer
// blocks and an optional final layer norm.
//
// NewEncoder reads ViT's weight names, NewCLIPEncoder CLIP's and
// NewBLIPEncoder BLIP's: every vision family runs this one encoder. The
// fields are exported so that a tower under yet other names can be filled
// from its own weights. An Encoder is immutable after construction and safe
// for concurrent use.
//
// The constructors read every weight on the store's device (see
// checkpoint.Weights.Upload and nn.WithDevice) and register the packing of
// the linear layers with the store, whose Prepare (the model's Load) makes
// them resident: the forward pass then runs on that device, taking pixel
// values from the host or the device and returning device tensors (read
// them with tensor.ToHost).
type Encoder struct {
	Config EncoderConfig
	// Patch is the patch-embedding convolution.
	Patch *nn.PatchEmbedding
	// CLS is the class token [D], on the encoder's device.
	CLS *tensor.Tensor
	// Pos holds the position embeddings [1+NumPatches, D], class token
	// first, on the encoder's device.
	Pos *tensor.Tensor
	// PreNorm, when set, normalizes the embeddings before the first block
	// (CLIP's pre_layrnorm); nil for ViT.
	PreNorm *nn.LayerNorm
	// Layers are the transformer blocks (pre-LN).
	Layers []*nn.EncoderBlock
	// Norm, when set, normalizes the output of the last block (ViT's
	// vit.layernorm, BLIP's post_layernorm); nil where the model normalizes
	// only the pooled token.
	Norm *nn.LayerNorm
	// PooledNorm, when set, normalizes the pooled class token (CLIP's
	// post_layernorm); see Pooled.
	PooledNorm *nn.LayerNorm
}

// NewEncoder builds an Encoder from ViT's weight names under w, which is
// the view of the model's "vit." prefix (or of the root for a bare ViTModel
// checkpoint):
//
//	embeddings.cls_token, embeddings.position_embeddings,
//	embeddings.patch_embeddings.projection.{weight,bias},
//	encoder.layer.N.{layernorm_before,layernorm_after},
//	encoder.layer.N.attention.attention.{query,key,value},
//	encoder.layer.N.attention.output.dense,
//	encoder.layer.N.intermediate.dense, encoder.layer.N.output.dense,
//	layernorm.
//
// Missing or mis-shaped weights are recorded in the store: check
// w.Store().Err after construction. The error returned here is for an
// invalid configuration only.
func NewEncoder(w checkpoint.Weights, cfg EncoderConfig) (*Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d, eps := cfg.HiddenSize, float32(cfg.LayerNormEps)
	emb := w.Sub("embeddings")
	e := &Encoder{
		Config: cfg,
		Patch:  nn.NewPatchEmbedding(emb.Sub("patch_embeddings").Sub("projection"), cfg.NumChannels, d, cfg.PatchSize, cfg.PatchBias),
		CLS:    emb.Upload("cls_token", 1, 1, d).MustReshape(d),
		Pos:    emb.Upload("position_embeddings", 1, cfg.NumPatches()+1, d).MustReshape(cfg.NumPatches()+1, d),
		Norm:   nn.NewLayerNorm(w.Sub("layernorm"), d, eps),
	}
	for i := 0; i < cfg.NumLayers; i++ {
		l := w.Sub("encoder").Subf("layer.%d", i)
		att := l.Sub("attention")
		qkv := att.Sub("attention")
		e.Layers = append(e.Layers, cfg.block(
			cfg.attention(qkv.Sub("query"), qkv.Sub("key"), qkv.Sub("value"), att.Sub("output").Sub("dense"), cfg.QKVBias),
			l.Sub("layernorm_before"), l.Sub("layernorm_after"), l.Sub("intermediate").Sub("dense"), l.Sub("output").Sub("dense")))
	}
	return e, nil
}

// attention returns a self-attention of c with the query, key, value and
// output projections under q, k, v and o (the first three with biases when
// qkvBias is set).
func (c EncoderConfig) attention(q, k, v, o checkpoint.Weights, qkvBias bool) *nn.Attention {
	d := c.HiddenSize
	return &nn.Attention{
		Q:     nn.NewLinear(q, d, d, qkvBias),
		K:     nn.NewLinear(k, d, d, qkvBias),
		V:     nn.NewLinear(v, d, d, qkvBias),
		O:     nn.NewLinear(o, d, d, true),
		Heads: c.NumHeads,
	}
}

// block returns a pre-norm transformer layer of c: attn (its Q, K and V
// fused at Prepare), the layer norms under ln1 and ln2 and the MLP's
// projections under fc1 and fc2.
func (c EncoderConfig) block(attn *nn.Attention, ln1, ln2, fc1, fc2 checkpoint.Weights) *nn.EncoderBlock {
	act, _ := tensor.Activation(c.HiddenAct)
	d, eps := c.HiddenSize, float32(c.LayerNormEps)
	return &nn.EncoderBlock{
		PreNorm: true,
		Attn:    attn.FuseQKV(),
		LN1:     nn.NewLayerNorm(ln1, d, eps),
		LN2:     nn.NewLayerNorm(ln2, d, eps),
		MLP:     nn.NewMLP(fc1, fc2, d, c.IntermediateSize, true, act),
	}
}

// Device returns the device the encoder computes on (nil: the host): that
// of its patch embedding's weight.
func (e *Encoder) Device() *tensor.Device {
	if e == nil || e.Patch == nil || e.Patch.W == nil {
		return nil
	}
	return e.Patch.W.Device()
}

// checkPixels validates pixel values [B, C, H, W] against the encoder.
func (e *Encoder) checkPixels(pixels *tensor.Tensor, interpolate bool) error {
	if pixels == nil {
		return fmt.Errorf("%w: nil pixel values", ErrInput)
	}
	s := pixels.Shape()
	if len(s) != 4 {
		return fmt.Errorf("%w: pixel values of shape %v, want [batch, %d, height, width]", ErrInput, s, e.Config.NumChannels)
	}
	if s[0] < 1 {
		return fmt.Errorf("%w: empty batch", ErrInput)
	}
	if s[1] != e.Config.NumChannels {
		return fmt.Errorf("%w: %d channels, the model takes %d", ErrInput, s[1], e.Config.NumChannels)
	}
	p, size := e.Config.PatchSize, e.Config.ImageSize
	if !interpolate && (s[2] != size || s[3] != size) {
		return fmt.Errorf("%w: input image size (%d*%d) doesn't match model (%d*%d); resize it or interpolate the position encoding", ErrInput, s[2], s[3], size, size)
	}
	if s[2] < p || s[3] < p {
		return fmt.Errorf("%w: image %dx%d is smaller than one %dx%d patch", ErrInput, s[3], s[2], p, p)
	}
	if (s[2]/p)*(s[3]/p) > 1<<20 {
		return fmt.Errorf("%w: image %dx%d has too many patches", ErrInput, s[3], s[2])
	}
	return nil
}

// Embeddings returns the input of the first block for pixel values
// [B, C, H, W]: the class token followed by the patch embeddings, plus the
// position embeddings ([B, 1+N, D]). With interpolate false the input must
// be ImageSize×ImageSize; with interpolate true other sizes are accepted and
// the position embeddings are resized as transformers'
// interpolate_pos_encoding does.
func (e *Encoder) Embeddings(pixels *tensor.Tensor, interpolate bool) (*tensor.Tensor, error) {
	if err := e.checkPixels(pixels, interpolate); err != nil {
		return nil, err
	}
	px, err := e.Device().Upload(pixels)
	if err != nil {
		return nil, fmt.Errorf("vit: pixel values to %s: %w", e.Device(), err)
	}
	patches, err := e.Patch.Forward(px)
	if px != pixels {
		tensor.Release(px)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInput, err)
	}
	b, n, d := patches.Dim(0), patches.Dim(1), patches.Dim(2)
	pos := e.Pos
	if interpolate {
		if pos, err = interpolatePosEmbed(e.Pos, pixels.Dim(2)/e.Config.PatchSize, pixels.Dim(3)/e.Config.PatchSize, pixels.Dim(2) == pixels.Dim(3)); err != nil {
			tensor.Release(patches)
			return nil, err
		}
	}
	if np := pos.Dim(0) - 1; np != n {
		if pos != e.Pos {
			tensor.Release(pos)
		}
		tensor.Release(patches)
		return nil, fmt.Errorf("%w: %d patches, %d position embeddings", ErrInput, n, np)
	}
	// [CLS; patches] + pos, each sum computed once as before: the class
	// token and the patches are copied into place, then the position
	// embeddings are added to every row of the batch.
	out := e.Device().New(b, n+1, d)
	err = e.assemble(out, patches, pos)
	if pos != e.Pos {
		tensor.Release(pos)
	}
	tensor.Release(patches)
	if err != nil {
		tensor.Release(out)
		return nil, err
	}
	return out, nil
}

// assemble writes the class token and the patch embeddings [B, N, D] into
// out [B, 1+N, D] and adds the position embeddings pos [1+N, D].
func (e *Encoder) assemble(out, patches, pos *tensor.Tensor) error {
	b, n, d := patches.Dim(0), patches.Dim(1), patches.Dim(2)
	clsDst := out.Slice(1, 0, 1)
	defer tensor.Release(clsDst)
	cls, err := e.CLS.Expand(b, 1, d)
	if err != nil {
		return err
	}
	defer tensor.Release(cls)
	if err := tensor.Copy(clsDst, cls); err != nil {
		return err
	}
	rest := out.Slice(1, 1, n+1)
	defer tensor.Release(rest)
	if err := tensor.Copy(rest, patches); err != nil {
		return err
	}
	return tensor.AddInPlace(out, pos)
}

// Forward runs the encoder on pixel values [B, C, H, W] (on the host or the
// encoder's device) and returns the last hidden state [B, 1+N, D] (after
// Norm when set) on the encoder's device. The context is checked between
// blocks.
func (e *Encoder) Forward(ctx context.Context, pixels *tensor.Tensor, interpolate bool) (*tensor.Tensor, error) {
	last, _, err := e.forward(ctx, pixels, interpolate, false)
	return last, err
}

// ForwardHidden is Forward that also returns the hidden states as
// transformers' output_hidden_states=True does: the embeddings (after
// PreNorm when set) followed by the output of every block, 1+NumLayers
// tensors [B, 1+N, D]; the last one is the encoder output before Norm.
func (e *Encoder) ForwardHidden(ctx context.Context, pixels *tensor.Tensor, interpolate bool) (last *tensor.Tensor, hidden []*tensor.Tensor, err error) {
	return e.forward(ctx, pixels, interpolate, true)
}

func (e *Encoder) forward(ctx context.Context, pixels *tensor.Tensor, interpolate, collect bool) (*tensor.Tensor, []*tensor.Tensor, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	x, err := e.Embeddings(pixels, interpolate)
	if err != nil {
		return nil, nil, err
	}
	return e.run(ctx, x, true, collect)
}

// ForwardEmbeddings runs the blocks (and PreNorm, Norm when set) on
// embeddings [B, T, D] as returned by Embeddings (on the host or the
// encoder's device).
func (e *Encoder) ForwardEmbeddings(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if x == nil || x.Rank() != 3 || x.Dim(2) != e.Config.HiddenSize || x.Dim(0) < 1 || x.Dim(1) < 1 {
		return nil, fmt.Errorf("%w: embeddings must be [batch, tokens, %d]", ErrInput, e.Config.HiddenSize)
	}
	xd, err := e.Device().Upload(x)
	if err != nil {
		return nil, fmt.Errorf("vit: embeddings to %s: %w", e.Device(), err)
	}
	last, _, err := e.run(ctx, xd, xd != x, false)
	return last, err
}

// run applies the blocks to x. With own set x is an intermediate of ours;
// intermediates neither collected nor returned are released (recycled by
// the next call).
func (e *Encoder) run(ctx context.Context, x *tensor.Tensor, own, collect bool) (*tensor.Tensor, []*tensor.Tensor, error) {
	var hidden []*tensor.Tensor
	next := func(y *tensor.Tensor) {
		if own && !collect {
			tensor.Release(x)
		}
		x, own = y, true
	}
	if e.PreNorm != nil {
		next(e.PreNorm.Forward(x))
	}
	if collect {
		hidden = append(hidden, x)
	}
	for i, l := range e.Layers {
		if err := ctx.Err(); err != nil {
			if own && !collect {
				tensor.Release(x)
			}
			for _, h := range hidden {
				if h != x || own {
					tensor.Release(h)
				}
			}
			return nil, nil, fmt.Errorf("vit: encoder stopped before layer %d: %w", i, err)
		}
		// Blocks return a new tensor and leave their input untouched, so
		// collected states stay valid.
		next(l.Forward(x, nn.AttnOptions{}))
		if collect {
			hidden = append(hidden, x)
		}
	}
	if e.Norm != nil {
		next(e.Norm.Forward(x))
	}
	return x, hidden, nil
}
