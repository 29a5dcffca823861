package nn

import (
	"fmt"
	"path/filepath"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/tensor"
)

// LoadOption is an option of a model package's Load function that concerns
// how the weights are held (whisper.Option, blip.Option and gpt2.Option are
// this type).
type LoadOption func(*LoadOptions)

// LoadOptions are what LoadOption values set.
type LoadOptions struct {
	// WeightType is the element type float32 checkpoint weights of linear
	// layers are packed in (see checkpoint.Store.WeightType).
	WeightType tensor.WeightType
	// KVType is the element type decoders keep the cross-attention keys and
	// values of an encoder output in (see Attention.KVType).
	KVType tensor.WeightType
	// SelfKVType is the element type decoders keep their self-attention
	// caches of past positions in (see Attention.KVType, WithSelfKVType).
	SelfKVType tensor.WeightType
	// Device is where the model keeps its weights and computes (nil: the
	// host). See WithDevice.
	Device *tensor.Device
}

// WithDevice builds the model on device d: weights are uploaded and
// packed there at load, forward passes run there with only inputs
// uploaded and results downloaded, and Close frees the device memory.
// tensor.NewCheckingDevice gives a device that proves this on the CPU; the
// cuda package (build tag cuda) gives GPUs. nil means the host.
func WithDevice(d *tensor.Device) LoadOption {
	return func(o *LoadOptions) { o.Device = d }
}

// WithWeightType packs the float32 weights of linear layers as t
// (tensor.WeightF16 or WeightBF16) instead of float32, or quantizes the
// weights of linear layers to int8 (tensor.WeightQ8, whatever their
// checkpoint type; products then quantize their activations too), or
// makes linear layers compute in bfloat16 (tensor.WeightBF16Dot, whatever
// their checkpoint type).
func WithWeightType(t tensor.WeightType) LoadOption {
	return func(o *LoadOptions) { o.WeightType = t }
}

// WithKVType keeps the cross-attention keys and values that a decoder
// computes once per encoder output packed as t (tensor.WeightF16 or
// WeightBF16) instead of float32.
func WithKVType(t tensor.WeightType) LoadOption {
	return func(o *LoadOptions) { o.KVType = t }
}

// WithSelfKVType keeps a decoder's self-attention caches (the keys and
// values of the positions decoded so far, nn.KVCache) as t
// (tensor.WeightF16 or WeightBF16; tensor.HalfKV) instead of float32:
// half their memory and of the bytes each decoded token reads from them,
// at the cost of rounding them, which costs more accuracy than rounding
// the cross-attention keys and values (WithKVType): see the 16-bit
// self-attention cache section of tensor/PERFORMANCE.md. On a device that
// keeps no 16-bit caches (cuda) they stay float32. Models whose decoders
// take WithKVType (whisper, blip, gpt2 captioning) take it too.
func WithSelfKVType(t tensor.WeightType) LoadOption {
	return func(o *LoadOptions) { o.SelfKVType = t }
}

// ApplyLoadOptions applies opts in order and checks the result (an error
// wrapping ErrConfig for an unknown weight type).
func ApplyLoadOptions(opts []LoadOption) (LoadOptions, error) {
	var o LoadOptions
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	if err := CheckWeightType(o.WeightType); err != nil {
		return o, err
	}
	if err := CheckKVType(o.KVType); err != nil {
		return o, err
	}
	if err := CheckKVType(o.SelfKVType); err != nil {
		return o, err
	}
	return o, nil
}

// Apply sets the options on a store before a model is built from it.
func (o LoadOptions) Apply(s *checkpoint.Store) { s.WeightType, s.Device = o.WeightType, o.Device }

// StartLoad is the first step of a family's Load(dir, opts...): it applies
// opts and reads dir/config.json with loadConfig (the family's LoadConfig,
// whose errors are returned as they are). Option errors are wrapped with
// pkg.
func StartLoad[C any](pkg, dir string, opts []LoadOption, loadConfig func(path string) (C, error)) (LoadOptions, C, error) {
	var none C
	o, err := ApplyLoadOptions(opts)
	if err != nil {
		return o, none, fmt.Errorf("%s: %w", pkg, err)
	}
	c, err := loadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return o, none, err
	}
	return o, c, nil
}

// LoadStore opens the checkpoint in dir (checkpoint.LoadDir) with o
// applied, builds a model from it with build, then makes every weight the
// build registered resident (the store's Prepare: packed, on the device),
// so that the first call runs as fast as the next ones. It closes the
// store when build or Prepare fails, and otherwise returns the model and
// the store, which the model's Close is to close. Errors opening or
// preparing the checkpoint are wrapped with pkg ("wav2vec2: ..."); build's
// are returned as they are.
func LoadStore[M any](pkg, dir string, o LoadOptions, build func(*checkpoint.Store) (M, error)) (M, *checkpoint.Store, error) {
	var none M
	store, err := checkpoint.LoadDir(dir)
	if err != nil {
		return none, nil, fmt.Errorf("%s: %w", pkg, err)
	}
	o.Apply(store)
	m, err := build(store)
	if err != nil {
		store.Close()
		return none, nil, err
	}
	if err := store.Prepare(); err != nil {
		store.Close()
		return none, nil, fmt.Errorf("%s: %s: %w", pkg, store.Source, err)
	}
	return m, store, nil
}

// ApplyKV sets KVType on the cross-attention of decoder blocks and
// SelfKVType on their self-attention (nil ones are skipped).
func (o LoadOptions) ApplyKV(blocks []*DecoderBlock) {
	for _, b := range blocks {
		if b == nil {
			continue
		}
		if b.SelfAttn != nil {
			b.SelfAttn.KVType = o.SelfKVType
		}
		if b.CrossAttn != nil {
			b.CrossAttn.KVType = o.KVType
		}
	}
}

// CheckWeightType returns an error wrapping ErrConfig unless t is one of
// tensor.WeightF32, WeightF16, WeightBF16, WeightQ8 and WeightBF16Dot.
func CheckWeightType(t tensor.WeightType) error {
	switch t {
	case tensor.WeightF32, tensor.WeightF16, tensor.WeightBF16, tensor.WeightQ8, tensor.WeightBF16Dot:
		return nil
	}
	return fmt.Errorf("%w: unknown weight type %d (want F32, F16, BF16, Q8 or BF16Dot)", ErrConfig, int(t))
}

// CheckKVType returns an error wrapping ErrConfig unless t is one of
// tensor.WeightF32, WeightF16 and WeightBF16 (the types attention keys and
// values can be kept in).
func CheckKVType(t tensor.WeightType) error {
	switch t {
	case tensor.WeightF32, tensor.WeightF16, tensor.WeightBF16:
		return nil
	}
	return fmt.Errorf("%w: key/value type %v not supported (want F32, F16 or BF16)", ErrConfig, t)
}
