package goformer

import (
	"github.com/goformer/goformer/cuda"
	"github.com/goformer/goformer/tensor"
)

// openCUDA opens GPU n with the cuda package: a device in a build with
// -tags cuda where the driver, cuBLAS and NVRTC load; otherwise an error
// wrapping cuda.ErrNotAvailable (and tensor.ErrDevice) that says why.
func openCUDA(n int) (*tensor.Device, error) { return cuda.Open(n) }
