// Package cudatest opens the CUDA device for tests and benchmarks of the
// model packages, the same way everywhere.
package cudatest

import (
	"os"
	"testing"

	"github.com/goformer/goformer/cuda"
	"github.com/goformer/goformer/tensor"
)

// Open returns cuda:0, closed when tb ends. Where no device opens it skips
// (missing test hardware), or fails when GOFORMER_REQUIRE_CUDA=1.
func Open(tb testing.TB) *tensor.Device {
	tb.Helper()
	d, err := cuda.Open(0)
	if err != nil {
		if os.Getenv("GOFORMER_REQUIRE_CUDA") == "1" {
			tb.Fatal(err)
		}
		tb.Skipf("skipping: missing test hardware: no CUDA device (%v)", err)
	}
	tb.Cleanup(func() { cuda.Close(d) })
	return d
}
