package cuda

import "github.com/goformer/goformer/tensor"

// sentinel is an error of this package that is also a tensor.ErrDevice.
type sentinel struct{ msg string }

func (s *sentinel) Error() string { return s.msg }
func (s *sentinel) Unwrap() error { return tensor.ErrDevice }

var (
	// ErrNotAvailable is wrapped by the error of Open when CUDA cannot be
	// used: goformer built without the build tag cuda, the NVIDIA driver
	// (libcuda.so.1), cuBLAS or NVRTC not found, no such device. The
	// message names what is missing. It wraps tensor.ErrDevice.
	ErrNotAvailable error = &sentinel{"cuda: not available"}

	// ErrOutOfMemory is wrapped by the error of an operation that did not
	// get the device memory it needs (after the device's cache of free
	// blocks was returned to the driver). The device stays usable. It
	// wraps tensor.ErrDevice.
	ErrOutOfMemory error = &sentinel{"cuda: out of device memory"}

	// ErrClosed is wrapped by the error of an operation on a closed
	// device. It wraps tensor.ErrDevice.
	ErrClosed error = &sentinel{"cuda: device closed"}

	// ErrUnsupported is wrapped by the error of an operation the CUDA
	// backend does not run (int8 weights, a head dimension above 256). It
	// wraps tensor.ErrDevice.
	ErrUnsupported error = &sentinel{"cuda: unsupported operation"}
)

// Options configure a device (OpenWith).
type Options struct {
	// TensorCores trades precision for speed: products with F16/BF16
	// weights round their activations to the weight's 16-bit type and
	// run on tensor cores (FP32 accumulation), and float32 products use
	// TF32. Off (the default), every product takes float32 activations
	// and weights widened to float32 exactly, as the host does.
	TensorCores bool
	// Sync waits for every kernel and checks its result, so that a
	// failing kernel is named in the error (slow; for debugging). The
	// environment variable GOFORMER_CUDA_SYNC=1 sets it too.
	Sync bool
}

// MemoryStats describes the device memory of a CUDA device (Memory).
type MemoryStats struct {
	// InUse is the bytes held by live tensors, packed weights and
	// packed keys/values; Cached the bytes of freed blocks kept for
	// reuse (returned to the driver when an allocation would fail, and by
	// Close).
	InUse, Cached int64
	// Free and Total are the driver's figures for the whole GPU.
	Free, Total int64
}
