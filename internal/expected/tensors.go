package expected

import (
	"testing"

	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// Tensors returns copies of the named tensors of the fixture's
// expected.safetensors, as float32. A name the file does not hold is
// missing test data (testdata.Missing: the test is skipped, or failed
// under CI=true).
func Tensors(tb testing.TB, fixture string, names ...string) []*tensor.Tensor {
	tb.Helper()
	path := Path(tb, fixture)
	s := open(tb, path)
	out := make([]*tensor.Tensor, len(names))
	for i, n := range names {
		x, err := s.Tensor(n)
		if err != nil {
			testdata.Missing(tb, "%s in %s: %v", n, path, err)
		}
		out[i] = x.Clone()
	}
	return out
}
