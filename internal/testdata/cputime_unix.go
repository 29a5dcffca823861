//go:build unix

package testdata

import (
	"syscall"
	"time"
)

// ProcessCPU returns the user+system CPU time of the process so far, for
// benchmarks that report CPU per operation next to wall time on a shared
// machine. It returns 0 where the platform does not tell.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
