package expected

import (
	"math/rand/v2"

	"github.com/goformer/goformer/tensor"
)

// The seeded random tensors of the synthetic checkpoints that tests and
// benchmarks build without a checkpoint file.

// Uniform returns a host tensor of the shape holding offset + scale·u for
// each element in order, u drawn uniform in [−1, 1) from r.
func Uniform(r *rand.Rand, scale, offset float64, shape ...int) *tensor.Tensor {
	x := tensor.New(shape...)
	d := x.Data()
	for i := range d {
		d[i] = float32(offset + scale*(2*r.Float64()-1))
	}
	return x
}

// Normal returns a host tensor of the shape holding std·n for each element
// in order, n drawn from the standard normal distribution by r.
func Normal(r *rand.Rand, std float64, shape ...int) *tensor.Tensor {
	x := tensor.New(shape...)
	d := x.Data()
	for i := range d {
		d[i] = float32(r.NormFloat64() * std)
	}
	return x
}
