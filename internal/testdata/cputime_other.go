//go:build !unix

package testdata

import "time"

// ProcessCPU is unavailable here: it returns 0, so CPU metrics read 0.
func ProcessCPU() time.Duration { return 0 }
