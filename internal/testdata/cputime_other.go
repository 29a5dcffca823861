//go:build !unix

package testdata

import "time"

// CPUTimes is unavailable here: CPU-based figures read 0.
func CPUTimes() (user, sys time.Duration) { return 0, 0 }
