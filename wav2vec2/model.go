package wav2vec2

import (
	"context"
	"fmt"
	"math"

	"github.com/goformer/goformer/task"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// ErrInput marks unusable input: audio shorter than the feature encoder's
// receptive field, or samples that are not finite numbers.
var ErrInput = task.NewInputError("wav2vec2: invalid input")

// convLayer is one layer of the convolutional feature encoder.
type convLayer struct {
	conv *nn.Conv1d
	// norm is "group" (per-channel normalisation over time, affine),
	// "layer" (normalisation over channels at each frame) or "".
	norm       string
	normW      *tensor.Tensor
	normB      *tensor.Tensor
	normEps    float32
	activation func(float32) float32 // a named activation (tensor.Act)
}

// Network is the wav2vec2 or HuBERT CTC network (transformers'
// Wav2Vec2ForCTC and HubertForCTC, which differ only in their weight names
// and HuBERT's optional feature-projection layer norm): the convolutional
// feature encoder, the feature projection, the transformer encoder with its
// convolutional position embedding, and the CTC head. It is immutable after
// construction and safe for concurrent use.
type Network struct {
	cfg     Config
	dev     *tensor.Device // where the weights live and forward passes run (nil: the host)
	convs   []convLayer
	fpNorm  *nn.LayerNorm // nil for HuBERT with feat_proj_layer_norm false
	fpProj  *nn.Linear
	posConv *nn.Conv1d // weight norm already applied
	posAct  func(float32) float32
	encNorm *nn.LayerNorm
	layers  []*nn.EncoderBlock
	head    *nn.Linear
}

// NewNetwork builds the network from weights named as transformers names
// Wav2Vec2ForCTC's ("wav2vec2.feature_extractor.conv_layers.0.conv.weight",
// …, "lm_head.weight") or, for model_type "hubert", HubertForCTC's
// ("hubert.feature_extractor.…"); a bare Wav2Vec2Model's or HubertModel's
// unprefixed names are accepted too, without the CTC head. Weights the
// network does not use for inference (masked_spec_embed, a quantizer) are
// left alone. The position embedding's weight norm may be
// stored as weight_g/weight_v, as parametrizations.weight.original0/1 or
// already folded into weight. Every missing or mis-shaped tensor is listed
// in one error wrapping checkpoint.ErrMissingWeights.
//
// The network computes on the weights' device (checkpoint.Weights.Device,
// set with nn.WithDevice through Load): its weights are uploaded there as
// it is built, and its results (Logits, Hidden, Features, Forward) are
// tensors on that device (tensor.ToHost brings them to the host).
func NewNetwork(cfg Config, w checkpoint.Weights) (*Network, error) {
	if err := w.CheckStore("wav2vec2"); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("wav2vec2: %w", err)
	}
	featAct, err := tensor.Activation(cfg.FeatExtractActivation)
	if err != nil {
		return nil, fmt.Errorf("wav2vec2: %w: feat_extract_activation: %v", nn.ErrConfig, err)
	}
	act, err := tensor.Activation(cfg.HiddenAct)
	if err != nil {
		return nil, fmt.Errorf("wav2vec2: %w: hidden_act: %v", nn.ErrConfig, err)
	}
	bw := w
	if p := cfg.weightPrefix(); w.Has(p + ".feature_projection.projection.weight") {
		bw = w.Sub(p)
	}
	n := &Network{cfg: cfg, dev: w.Device()}
	in := 1
	for i, out := range cfg.ConvDim {
		lw := bw.Sub("feature_extractor").Subf("conv_layers.%d", i)
		l := convLayer{
			conv:       nn.NewConv1d(lw.Sub("conv"), in, out, cfg.ConvKernel[i], cfg.ConvStride[i], 0, 1, cfg.ConvBias),
			activation: featAct,
			normEps:    1e-5, // nn.GroupNorm / nn.LayerNorm defaults; the config's eps is not used here
		}
		if cfg.FeatExtractNorm == "layer" || i == 0 {
			l.norm = cfg.FeatExtractNorm
			l.normW = lw.Upload("layer_norm.weight", out)
			l.normB = lw.Upload("layer_norm.bias", out)
		}
		n.convs = append(n.convs, l)
		in = out
	}
	d := cfg.HiddenSize
	eps := float32(cfg.LayerNormEps)
	last := cfg.ConvDim[len(cfg.ConvDim)-1]
	if cfg.hasFeatProjLayerNorm() {
		n.fpNorm = nn.NewLayerNorm(bw.Sub("feature_projection.layer_norm"), last, eps)
	}
	n.fpProj = nn.NewLinear(bw.Sub("feature_projection.projection"), last, d, true)

	ew := bw.Sub("encoder")
	k, g := cfg.NumConvPosEmbeddings, cfg.NumConvPosEmbeddingGroups
	n.posConv = &nn.Conv1d{
		W:       ew.UploadTensor(posConvWeight(ew.Sub("pos_conv_embed.conv"), d, d/g, k)),
		B:       ew.Upload("pos_conv_embed.conv.bias", d),
		Padding: k / 2, Stride: 1, Groups: g,
	}
	n.posAct = featAct
	n.encNorm = nn.NewLayerNorm(ew.Sub("layer_norm"), d, eps)
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		lw := ew.Subf("layers.%d", i)
		n.layers = append(n.layers, &nn.EncoderBlock{
			PreNorm: cfg.DoStableLayerNorm,
			Attn:    nn.NewAttention(lw.Sub("attention"), d, cfg.NumAttentionHeads, true).FuseQKV(),
			LN1:     nn.NewLayerNorm(lw.Sub("layer_norm"), d, eps),
			LN2:     nn.NewLayerNorm(lw.Sub("final_layer_norm"), d, eps),
			MLP:     nn.NewMLP(lw.Sub("feed_forward.intermediate_dense"), lw.Sub("feed_forward.output_dense"), d, cfg.IntermediateSize, true, act),
		})
	}
	if bw.Prefix() != w.Prefix() || w.Has("lm_head.weight") {
		n.head = nn.NewLinear(w.Sub("lm_head"), d, cfg.VocabSize, true)
	}
	if err := w.Store().Err(false); err != nil {
		return nil, fmt.Errorf("wav2vec2: %w", err)
	}
	return n, nil
}

// posConvWeight returns the position convolution's weight [out, in/groups,
// k] with PyTorch's weight norm (dim=2) applied: w = g · v / ‖v‖, the norm
// taken over the first two dimensions for each kernel tap. It is a host
// tensor (NewNetwork uploads it).
func posConvWeight(w checkpoint.Weights, out, inPerGroup, k int) *tensor.Tensor {
	var gName, vName string
	switch {
	case w.Has("weight_g") || w.Has("weight_v"):
		gName, vName = "weight_g", "weight_v"
	case w.Has("parametrizations.weight.original0") || w.Has("parametrizations.weight.original1"):
		gName, vName = "parametrizations.weight.original0", "parametrizations.weight.original1"
	case w.Has("weight"):
		return w.Tensor("weight", out, inPerGroup, k)
	default:
		gName, vName = "weight_g", "weight_v" // reported missing
	}
	g := w.Tensor(gName, 1, 1, k)
	v := w.Tensor(vName, out, inPerGroup, k)
	return weightNormDim2(g, v)
}

// weightNormDim2 computes g·v/‖v‖ with the norm over dimensions 0 and 1.
//
//goformer:host load time: the weight norm of checkpoint tensors, uploaded afterwards
func weightNormDim2(g, v *tensor.Tensor) *tensor.Tensor {
	out, inPerGroup, k := v.Dim(0), v.Dim(1), v.Dim(2)
	vd, gd := v.Contiguous().Data(), g.Contiguous().Data()
	norms := make([]float64, k)
	for r := 0; r < out*inPerGroup; r++ {
		row := vd[r*k : (r+1)*k]
		for j, x := range row {
			norms[j] += float64(x) * float64(x)
		}
	}
	scale := make([]float32, k)
	for j := range scale {
		scale[j] = float32(float64(gd[j]) / math.Sqrt(norms[j]))
	}
	res := tensor.New(out, inPerGroup, k)
	rd := res.Data()
	for r := 0; r < out*inPerGroup; r++ {
		for j := 0; j < k; j++ {
			rd[r*k+j] = vd[r*k+j] * scale[j]
		}
	}
	return res
}

// Config returns the network's configuration.
func (n *Network) Config() Config { return n.cfg }

// Device returns the device the network computes on (nil: the host).
func (n *Network) Device() *tensor.Device { return n.dev }

// Features runs the convolutional feature encoder on normalised samples and
// returns the extracted features [frames, conv_dim[-1]] (transformers'
// extract_features before the projection's layer norm), on the network's
// device.
func (n *Network) Features(ctx context.Context, inputValues []float32) (*tensor.Tensor, error) {
	if n.cfg.OutputFrames(len(inputValues)) < 1 {
		return nil, fmt.Errorf("%w: %d samples are shorter than the feature encoder's receptive field", ErrInput, len(inputValues))
	}
	x, err := n.dev.FromHost(inputValues, 1, len(inputValues)) // [C=1, L]
	if err != nil {
		return nil, fmt.Errorf("wav2vec2: %w", err)
	}
	for i := range n.convs {
		if err := ctx.Err(); err != nil {
			tensor.Release(x)
			return nil, err
		}
		l := &n.convs[i]
		y, err := l.conv.Forward(x)
		if err != nil {
			tensor.Release(x)
			return nil, fmt.Errorf("wav2vec2: conv layer %d: %w", i, err)
		}
		switch l.norm {
		case "group":
			err = tensor.GroupNormChannels(y, l.normW, l.normB, l.normEps)
		case "layer":
			err = tensor.LayerNormChannels(y, l.normW, l.normB, l.normEps)
		}
		if err != nil {
			tensor.Release(x)
			tensor.Release(y)
			return nil, fmt.Errorf("wav2vec2: conv layer %d: %w", i, err)
		}
		tensor.MapInPlace(y, l.activation)
		tensor.Release(x) // a no-op for the caller's samples
		x = y
	}
	out := transposed(x)
	tensor.Release(x)
	return out, nil
}

// transposed returns a contiguous copy of the transpose of a 2-D tensor.
func transposed(x *tensor.Tensor) *tensor.Tensor {
	v := x.Transpose(0, 1)
	c := v.Clone()
	tensor.Release(v)
	return c
}

// Hidden runs the whole encoder on normalised samples and returns the last
// hidden state [frames, hidden_size], on the network's device.
func (n *Network) Hidden(ctx context.Context, inputValues []float32) (*tensor.Tensor, error) {
	h, err := n.encode(ctx, [][]float32{inputValues}, nil)
	if err != nil {
		return nil, err
	}
	v := h.MustReshape(h.Dim(1), h.Dim(2))
	if n.dev == nil {
		return v, nil // a view of h, which the garbage collector frees
	}
	// On a device, storage is freed by Release only, which a view cannot
	// do for h: return a tensor that owns its storage.
	c := v.Clone()
	tensor.Release(v)
	tensor.Release(h)
	return c, nil
}

// encode runs the encoder on rows of normalised samples, all of one length,
// and returns the last hidden state [rows, frames, hidden_size]. frames,
// when not nil, holds the valid frames of each row (the feature-level
// attention mask transformers derives from the sample-level one): the
// hidden states of the frames past it are zeroed before the position
// embedding and every attention layer ignores them as keys.
func (n *Network) encode(ctx context.Context, rows [][]float32, frames []int) (*tensor.Tensor, error) {
	var x *tensor.Tensor // features [B, T, C]
	for i, row := range rows {
		f, err := n.Features(ctx, row)
		if err != nil {
			tensor.Release(x)
			return nil, err
		}
		if x == nil {
			x = n.dev.New(len(rows), f.Dim(0), f.Dim(1))
		}
		v := x.Index(i)
		err = tensor.Copy(v, f)
		tensor.Release(v)
		tensor.Release(f)
		if err != nil {
			tensor.Release(x)
			return nil, fmt.Errorf("wav2vec2: %w", err)
		}
	}
	t := x.Dim(1)
	// Intermediates are released once used (recycled by later calls).
	if n.fpNorm != nil {
		normed := n.fpNorm.Forward(x)
		tensor.Release(x)
		x = normed
	}
	h := n.fpProj.Forward(x) // [B, T, D]
	tensor.Release(x)
	var mask *tensor.Tensor
	if frames != nil {
		var err error
		if mask, err = paddingMask(h, frames); err != nil {
			tensor.Release(h)
			return nil, fmt.Errorf("wav2vec2: attention mask: %w", err)
		}
		defer tensor.Release(mask)
	}

	// Convolutional position embedding on [B, D, T].
	ht := h.Transpose(1, 2)
	hc := ht.Clone()
	tensor.Release(ht)
	pos, err := n.posConv.Forward(hc)
	tensor.Release(hc)
	if err != nil {
		tensor.Release(h)
		return nil, fmt.Errorf("wav2vec2: position embedding: %w", err)
	}
	sl := pos.Slice(2, 0, t) // drop the extra frame of an even kernel
	pt := sl.Transpose(1, 2)
	pe := pt.Clone() // [B, T, D]
	tensor.Release(pt)
	tensor.Release(sl)
	tensor.Release(pos)
	tensor.MapInPlace(pe, n.posAct)
	err = tensor.AddInPlace(h, pe)
	tensor.Release(pe)
	if err != nil {
		tensor.Release(h)
		return nil, fmt.Errorf("wav2vec2: position embedding: %w", err)
	}
	if !n.cfg.DoStableLayerNorm {
		y := n.encNorm.Forward(h)
		tensor.Release(h)
		h = y
	}
	for _, l := range n.layers {
		if err := ctx.Err(); err != nil {
			tensor.Release(h)
			return nil, err
		}
		y := l.Forward(h, nn.AttnOptions{Mask: mask})
		tensor.Release(h)
		h = y
	}
	if n.cfg.DoStableLayerNorm {
		y := n.encNorm.Forward(h)
		tensor.Release(h)
		h = y
	}
	return h, nil
}

// Logits runs the network on normalised samples (input_values) and returns
// the CTC logits [frames, vocab_size], on the network's device.
func (n *Network) Logits(ctx context.Context, inputValues []float32) (*tensor.Tensor, error) {
	if n.head == nil {
		return nil, fmt.Errorf("wav2vec2: %w: the checkpoint has no CTC head (lm_head)", checkpoint.ErrMissingWeights)
	}
	h, err := n.encode(ctx, [][]float32{inputValues}, nil)
	if err != nil {
		return nil, err
	}
	v := h.MustReshape(h.Dim(1), h.Dim(2))
	logits := n.head.Forward(v)
	// Release h (on a device its storage is freed by Release only).
	tensor.Release(v)
	tensor.Release(h)
	return logits, nil
}
