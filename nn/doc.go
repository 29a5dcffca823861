// Package nn holds the transformer layers the model packages are built
// from: Linear (packed once into the GEMM kernels' layout, 16-bit
// checkpoint weights kept 16-bit), LayerNorm, Embedding, Conv1d,
// PatchEmbedding, MLP, multi-head Attention with its KVCache for
// incremental decoding, and pre- or post-norm EncoderBlock and
// DecoderBlock.
//
// Layers are built from the weights of a checkpoint.Store, read through
// checkpoint.Weights views (NewLinear(w.Sub("fc1"), in, out, true)); a
// missing or mis-shaped tensor does not stop construction, it is recorded
// for checkpoint.Store.Err. After construction layers are immutable and
// their Forward methods are safe for concurrent use.
//
// The package also has what model packages share around the layers: the
// load options of their Load functions (LoadOption, WithWeightType,
// WithKVType), config.json reading (ReadJSON, DecodeJSON, Architecture)
// and the configuration sentinels ErrConfig and ErrUnsupportedArchitecture.
package nn
