package goformer

import (
	"fmt"

	"github.com/goformer/goformer/tensor"
)

// openCUDA opens GPU n; replaced when the cuda package lands.
func openCUDA(n int) (*tensor.Device, error) {
	return nil, fmt.Errorf("%w: cuda:%d: this build has no CUDA backend (build with -tags cuda)", tensor.ErrDevice, n)
}
