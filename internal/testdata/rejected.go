package testdata

import (
	"errors"
	"testing"
)

// Rejected reports whether a parser rejected its input (err is not nil),
// failing tb unless the error wraps one of targets, the sentinels its
// errors must match (a fuzz target's check).
func Rejected(tb testing.TB, err error, targets ...error) bool {
	tb.Helper()
	if err == nil {
		return false
	}
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	tb.Fatalf("error %v matches none of %v", err, targets)
	return true
}
