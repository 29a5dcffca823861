package testdata

import (
	"slices"
	"testing"
)

// Index returns the position of name in list (a fixture's images, say),
// failing tb when it is not there.
func Index(tb testing.TB, list []string, name string) int {
	tb.Helper()
	i := slices.Index(list, name)
	if i < 0 {
		tb.Fatalf("%q is not among %v", name, list)
	}
	return i
}
