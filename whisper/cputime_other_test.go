//go:build !unix

package whisper

import "time"

// processCPU is unavailable here; the cpu-s/op metric reads 0.
func processCPU() time.Duration { return 0 }
