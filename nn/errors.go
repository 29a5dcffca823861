package nn

import "errors"

// Sentinel errors a caller can test with errors.Is. The checkpoint errors
// (corrupt files, missing weights, forbidden pickles) are in package
// checkpoint.
var (
	// ErrConfig marks a config.json that is malformed or lacks required
	// fields, or an invalid load option.
	ErrConfig = errors.New("invalid config")
	// ErrUnsupportedArchitecture marks a config whose architecture or model
	// type no goformer package implements.
	ErrUnsupportedArchitecture = errors.New("unsupported architecture")
)
