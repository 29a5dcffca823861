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

// AttentionHeads checks the [B, T, D] operands of Attention against
// opt's head counts (KVHeads 0 meaning Heads) and returns the number of
// query heads, of key/value heads and the head dimension; an error
// wrapping ErrShape when they do not fit.
func AttentionHeads(q, k, v *Tensor, opt AttentionOptions) (heads, kvHeads, headDim int, err error) {
	return attentionHeads(q, k, v, opt)
}

// BatchOffsets returns, for each flattened index of the broadcast batch
// shape out, the element offset (from offset) into an operand of batch
// shape in with the given strides (broadcast dimensions have size 1 or
// are missing), as MatMul walks its batches.
func BatchOffsets(out, in, strides []int, offset int) []int {
	return batchOffsets(out, in, strides, offset)
}

// MatMulShape checks the operands of MatMul(a, b) (MatMulT with transB),
// both of rank ≥ 2, and returns the broadcast batch shape and the sizes
// of each matrix product, m×k by k×n; an error wrapping ErrShape when the
// inner dimensions differ or the batch dimensions do not broadcast.
func MatMulShape(a, b *Tensor, transB bool) (batch []int, m, k, n int, err error) {
	return matmulShape(a, b, transB)
}

// ContiguousStrides returns the row-major strides of shape.
func ContiguousStrides(shape []int) []int { return contiguousStrides(shape) }
