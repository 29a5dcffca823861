//go:build unix

package testdata

import (
	"syscall"
	"time"
)

// CPUTimes returns the user and system CPU time of the process so far
// (zero when the system does not say).
func CPUTimes() (user, sys time.Duration) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
