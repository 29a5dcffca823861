package checkpoint

import "errors"

// Sentinel errors a caller can test with errors.Is.
var (
	// ErrCorrupt marks weights files that are truncated, malformed or
	// inconsistent (header beyond the file, bad offsets, byte counts that do
	// not match shapes, undecodable pickles).
	ErrCorrupt = errors.New("corrupt checkpoint")
	// ErrUnsupportedDType marks a tensor stored in a dtype goformer cannot read.
	ErrUnsupportedDType = errors.New("unsupported dtype")
	// ErrForbiddenPickle marks a PyTorch pickle that asks for a global other
	// than the tensor-storage classes (and, in a TorchScript archive, its
	// module classes); it is refused, never executed.
	ErrForbiddenPickle = errors.New("forbidden pickle global")
	// ErrMissingWeights marks a checkpoint that lacks tensors the model needs,
	// or has tensors of the wrong shape (see Store.Err).
	ErrMissingWeights = errors.New("weights do not match the model")
	// ErrNotFound is returned when a model directory holds no weights file.
	ErrNotFound = errors.New("no checkpoint found")
)
