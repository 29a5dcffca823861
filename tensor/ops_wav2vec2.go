package tensor

import (
	"fmt"
	"math"
)

// The normalisations of wav2vec2's convolutional feature encoder, whose
// activations are laid out channels first, [C, T].

// checkChannelNorm checks the operands of GroupNormChannels and
// LayerNormChannels: x a contiguous [C, T], w and b [C].
func checkChannelNorm(what string, x, w, b *Tensor) error {
	if x == nil || w == nil || b == nil {
		return fmt.Errorf("%w: %s of a nil tensor", ErrShape, what)
	}
	if x.Rank() != 2 || !x.IsContiguous() || w.Len() != x.Dim(0) || b.Len() != x.Dim(0) {
		return fmt.Errorf("%w: %s of %v with weight %v and bias %v (want a contiguous [C, T], [C], [C])", ErrShape, what, x.shape, w.shape, b.shape)
	}
	return nil
}

// channelNorm checks the operands of a normalisation of x [C, T] in
// place and runs it on x's device (onDevice) or on the host (onHost, with
// x's, w's and b's values).
func channelNorm(what string, x, w, b *Tensor, eps float32,
	onDevice func(ModelOps, *Tensor, *Tensor, *Tensor, float32) error,
	onHost func(th int, xd, wd, bd []float32, c, t int, eps float32)) error {
	if err := checkChannelNorm(what, x, w, b); err != nil {
		return err
	}
	if d := dev3(x, w, b); d != nil {
		return onDevice(d.be, x, w, b, eps)
	}
	onHost(int(x.threads), x.Data(), w.Contiguous().Data(), b.Contiguous().Data(), x.Dim(0), x.Dim(1), eps)
	return nil
}

// GroupNormChannels normalises x [C, T] (contiguous) in place as PyTorch's
// nn.GroupNorm with one group per channel: each channel is normalised over
// time (mean and biased variance accumulated in float64), then scaled by
// w[c] and shifted by b[c] (both [C]). It is the first layer norm of
// wav2vec2's feature encoder with feat_extract_norm "group".
func GroupNormChannels(x, w, b *Tensor, eps float32) error {
	return channelNorm("group norm per channel", x, w, b, eps, ModelOps.GroupNormChannels, groupNormChannels)
}

func groupNormChannels(th int, xd, wd, bd []float32, c, t int, eps float32) {
	parallelRange(th, c, 1, rangeFunc(func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			row := xd[ch*t : (ch+1)*t]
			var sum float64
			for _, v := range row {
				sum += float64(v)
			}
			mean := sum / float64(t)
			var sq float64
			for _, v := range row {
				dv := float64(v) - mean
				sq += dv * dv
			}
			inv := 1 / math.Sqrt(sq/float64(t)+float64(eps))
			a := float64(wd[ch]) * inv
			s := float64(bd[ch]) - mean*a
			for i, v := range row {
				row[i] = float32(float64(v)*a + s)
			}
		}
	}))
}

// LayerNormChannels normalises x [C, T] (contiguous) in place as PyTorch's
// nn.LayerNorm over the channels at each frame (transformers transposes to
// [T, C], normalises the last dimension and transposes back): mean and
// biased variance over the C values of each frame accumulated in float64,
// then scaled by w[c] and shifted by b[c] (both [C]). It is the layer norm
// of wav2vec2's feature encoder with feat_extract_norm "layer".
func LayerNormChannels(x, w, b *Tensor, eps float32) error {
	return channelNorm("layer norm over channels", x, w, b, eps, ModelOps.LayerNormChannels, layerNormChannels)
}

func layerNormChannels(th int, xd, wd, bd []float32, c, t int, eps float32) {
	parallelRange(th, t, 256, rangeFunc(func(lo, hi int) {
		n := hi - lo
		mean := make([]float64, n)
		sq := make([]float64, n)
		for ch := 0; ch < c; ch++ {
			row := xd[ch*t+lo : ch*t+hi]
			for i, v := range row {
				mean[i] += float64(v)
			}
		}
		for i := range mean {
			mean[i] /= float64(c)
		}
		for ch := 0; ch < c; ch++ {
			row := xd[ch*t+lo : ch*t+hi]
			for i, v := range row {
				dv := float64(v) - mean[i]
				sq[i] += dv * dv
			}
		}
		for i := range sq {
			sq[i] = 1 / math.Sqrt(sq[i]/float64(c)+float64(eps))
		}
		for ch := 0; ch < c; ch++ {
			row := xd[ch*t+lo : ch*t+hi]
			wv, bv := float64(wd[ch]), float64(bd[ch])
			for i, v := range row {
				row[i] = float32((float64(v)-mean[i])*sq[i]*wv + bv)
			}
		}
	}))
}

func (c *checkBackend) GroupNormChannels(x, w, b *Tensor, eps float32) error {
	return GroupNormChannels(c.host(x), c.host(w), c.host(b), eps)
}

func (c *checkBackend) LayerNormChannels(x, w, b *Tensor, eps float32) error {
	return LayerNormChannels(c.host(x), c.host(w), c.host(b), eps)
}
