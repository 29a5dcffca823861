package testdata

import (
	"errors"
	"testing"
)

// Validator is a parsed configuration that checks itself.
type Validator interface{ Validate() error }

// Parsed is the common check of the config-parsing fuzz targets on what a
// parser returned: it reports whether the parser accepted its input (err is
// nil), failing tb when err wraps none of the sentinels or when an accepted
// config does not validate.
func Parsed[C Validator](tb testing.TB, c C, err error, sentinels ...error) bool {
	tb.Helper()
	if err != nil {
		WantError(tb, "parsing", err, sentinels...)
		return false
	}
	if err := c.Validate(); err != nil {
		tb.Fatalf("accepted config does not validate: %v", err)
	}
	return true
}

// WantError fails tb unless err wraps one of the sentinels.
func WantError(tb testing.TB, what string, err error, sentinels ...error) {
	tb.Helper()
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	tb.Fatalf("%s: error %v wraps none of %v", what, err, sentinels)
}
