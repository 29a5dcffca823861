package tensor

// ModelOps are the operations the model families need beyond the general
// ones of Backend: each moved a loop over host memory out of a family's
// forward pass. Each is an exported function of this package (with its
// host kernel) and a method here of the same name that a backend runs.
type ModelOps interface {
	// ops: general

	// ops: vit

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

	// ops: end
}
