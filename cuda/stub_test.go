//go:build !cuda

package cuda

import (
	"errors"
	"strings"
	"testing"

	"github.com/goformer/goformer/tensor"
)

// TestOpenWithoutTag: the default build has no CUDA backend, and says so.
func TestOpenWithoutTag(t *testing.T) {
	d, err := Open(0)
	if err == nil || d != nil {
		t.Fatalf("Open without -tags cuda = %v, %v; want an error", d, err)
	}
	if !errors.Is(err, ErrNotAvailable) || !errors.Is(err, tensor.ErrDevice) {
		t.Fatalf("error %v does not wrap ErrNotAvailable and tensor.ErrDevice", err)
	}
	if !strings.Contains(err.Error(), "-tags cuda") {
		t.Fatalf("error %q does not say how to build with CUDA", err)
	}
	if err := Available(); !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("Available = %v", err)
	}
	if err := Close(tensor.NewCheckingDevice()); !errors.Is(err, tensor.ErrDevice) {
		t.Fatalf("Close of a non-CUDA device = %v", err)
	}
}
