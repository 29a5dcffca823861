package tensor

// Shape rules exported for device backends (package cuda), so that a
// backend applies exactly the rules the host kernels apply.

// BroadcastShapes returns the numpy broadcast of shapes a and b (the
// result shape of Add, Mul, ... of such operands, and of the batch
// dimensions of MatMul); an error wrapping ErrShape when they do not
// broadcast.
func BroadcastShapes(a, b []int) ([]int, error) { return broadcastShapes(a, b) }

// BicubicTaps returns, for each of outSize outputs of UpsampleBicubic
// along one axis of inSize inputs, the 4 clamped input indices and their
// weights (idx[4i+j], wts[4i+j]), computed in the same float32 steps as
// the host kernel.
func BicubicTaps(inSize, outSize int, scaleFactor float64) (idx []int, wts []float32) {
	return cubicTaps(inSize, outSize, scaleFactor)
}
