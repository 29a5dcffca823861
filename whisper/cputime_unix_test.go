//go:build unix

package whisper

import (
	"syscall"
	"time"
)

// processCPU returns the user+system CPU time of the process so far, to
// report CPU per operation next to wall time on a shared machine.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
