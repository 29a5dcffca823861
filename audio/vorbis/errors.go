package vorbis

import (
	"errors"
	"fmt"
)

// Errors returned by the decoder wrap one of these.
var (
	// ErrCorrupt: the stream is malformed or truncated.
	ErrCorrupt = errors.New("vorbis: corrupt stream")
	// ErrUnsupported: a valid stream using a feature this decoder lacks
	// (floor type 0, Ogg versions other than 0, chained streams that change
	// rate or channel count).
	ErrUnsupported = errors.New("vorbis: unsupported stream")
)

// errTruncated marks a stream that ends early; it wraps ErrCorrupt.
var errTruncated = fmt.Errorf("%w: truncated", ErrCorrupt)
