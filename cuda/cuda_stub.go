//go:build !cuda

package cuda

import (
	"fmt"

	"github.com/goformer/goformer/tensor"
)

// Open returns the CUDA device of the given ordinal. This build has no
// CUDA backend: it always fails with an error wrapping ErrNotAvailable
// (and tensor.ErrDevice). Build with -tags cuda for it.
func Open(ordinal int) (*tensor.Device, error) {
	return OpenWith(ordinal, Options{})
}

// OpenWith is Open with options. This build has no CUDA backend (see Open).
func OpenWith(ordinal int, opts Options) (*tensor.Device, error) {
	return nil, fmt.Errorf("%w: goformer was built without -tags cuda (cuda:%d requested)", ErrNotAvailable, ordinal)
}

// Close frees the device memory of d, a device Open returned. In this
// build no such device exists; Close of nil or of another device returns
// an error wrapping tensor.ErrDevice.
func Close(d *tensor.Device) error {
	return fmt.Errorf("%w: %s is not a CUDA device (goformer was built without -tags cuda)", tensor.ErrDevice, d.Name())
}

// Available reports whether CUDA can be used, and if not, why: in this
// build, never.
func Available() error {
	return fmt.Errorf("%w: goformer was built without -tags cuda", ErrNotAvailable)
}

// Memory returns d's memory figures. In this build no CUDA device exists.
func Memory(d *tensor.Device) (MemoryStats, error) {
	return MemoryStats{}, Close(d)
}
