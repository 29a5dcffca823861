package expected

import (
	"errors"
	"fmt"
	"testing"

	"github.com/goformer/goformer/checkpoint"
)

func TestMissingWeights(t *testing.T) {
	err := fmt.Errorf("load: %w: a.weight, b.bias", checkpoint.ErrMissingWeights)
	for _, c := range []struct {
		name  string
		err   error
		names []string
		fail  bool
	}{
		{"every name", err, []string{"a.weight", "b.bias"}, false},
		{"a name missing", err, []string{"a.weight", "c.weight"}, true},
		{"another error", errors.New("a.weight"), []string{"a.weight"}, true},
		{"no error", nil, nil, true},
	} {
		if f := fails(t, func(tb testing.TB) { MissingWeights(tb, c.err, c.names...) }); f != c.fail {
			t.Errorf("%s: failed %v, want %v", c.name, f, c.fail)
		}
	}
}
