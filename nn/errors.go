package nn

import "errors"

// Sentinel errors a caller can test with errors.Is.
var (
	// ErrCorruptCheckpoint marks weights files that are truncated, malformed
	// or inconsistent (header beyond the file, bad offsets, byte counts that
	// do not match shapes).
	ErrCorruptCheckpoint = errors.New("corrupt checkpoint")
	// ErrUnsupportedDType marks a tensor stored in a dtype goformer cannot read.
	ErrUnsupportedDType = errors.New("unsupported dtype")
	// ErrForbiddenPickle marks a PyTorch pickle that asks for a global other
	// than the tensor-storage classes; it is refused, never executed.
	ErrForbiddenPickle = errors.New("forbidden pickle global")
	// ErrMissingWeights marks a checkpoint that lacks tensors the model needs,
	// or has tensors of the wrong shape.
	ErrMissingWeights = errors.New("weights do not match the model")
	// ErrConfig marks a config.json that is malformed or lacks required fields.
	ErrConfig = errors.New("invalid config")
	// ErrUnsupportedArchitecture marks a config whose architecture or model
	// type no goformer package implements.
	ErrUnsupportedArchitecture = errors.New("unsupported architecture")
)
