package tensor

// ModelOps are the operations the model families need beyond the general
// ones of Backend: each moved a loop over host memory out of a family's
// forward pass. Each is an exported function of this package (with its
// host kernel) and a method here of the same name that a backend runs.
type ModelOps interface {
	// ops: general

	// ops: vit

	// UpsampleBicubic resizes a channels-last grid [H, W, C] bicubically
	// (PyTorch's interpolate, align_corners=False, given scale factors):
	// ViT position embeddings at another input size.
	UpsampleBicubic(x *Tensor, outH, outW int, scaleH, scaleW float64) (*Tensor, error)

	// ops: clip

	// ops: whisper

	// ops: blip

	// ops: gpt2

	// ops: wav2vec2

	// GroupNormChannels normalises each channel of a contiguous [C, T]
	// over time in place (nn.GroupNorm, one group per channel).
	GroupNormChannels(x, w, b *Tensor, eps float32) error
	// LayerNormChannels normalises a contiguous [C, T] over the channels
	// of each frame in place.
	LayerNormChannels(x, w, b *Tensor, eps float32) error

	// ops: llm

	// RMSNorm is Llama's RMS norm (float64 mean of squares) to a new tensor.
	RMSNorm(x, w *Tensor, eps float64) (*Tensor, error)
	// Rope rotates the heads of x [B, T, heads·dim] in place, row (b, t)
	// at position pos[b·T+t] (rotate_half pairing).
	Rope(x *Tensor, heads int, invFreq []float32, scale float64, pos []int) error
	// GateInPlace multiplies g by u elementwise in place (SwiGLU).
	GateInPlace(g, u *Tensor) error

	// ops: end
}
