package expected

import (
	"errors"
	"strings"
	"testing"

	"github.com/goformer/goformer/checkpoint"
)

// MissingWeights checks the error of loading a checkpoint that lacks
// tensors (or holds misshapen or unexpected ones): it fails tb at once
// unless err wraps checkpoint.ErrMissingWeights, and reports an error (the
// test goes on) for each of names that the error's message does not
// contain, since every problem must be reported in the one error.
func MissingWeights(tb testing.TB, err error, names ...string) {
	tb.Helper()
	if !errors.Is(err, checkpoint.ErrMissingWeights) {
		tb.Fatalf("error %v, want one wrapping checkpoint.ErrMissingWeights", err)
	}
	for _, name := range names {
		if !strings.Contains(err.Error(), name) {
			tb.Errorf("error does not name %s: %.300s", name, err)
		}
	}
}
