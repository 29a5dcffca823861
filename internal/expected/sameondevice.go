package expected

import (
	"testing"

	"github.com/goformer/goformer/tensor"
)

// SameOnDevice runs a computation on the host (host) and on a device d
// (dev), failing tb on an error or unless the results are identical
// (SameBits); it returns the transfers the device call made.
func SameOnDevice(tb testing.TB, what string, d *tensor.Device, host, dev func() (*tensor.Tensor, error)) tensor.Transfers {
	tb.Helper()
	want, err := host()
	if err != nil {
		tb.Fatalf("%s on the host: %v", what, err)
	}
	var got *tensor.Tensor
	tr := Transfers(d, func() { got, err = dev() })
	if err != nil {
		tb.Fatalf("%s on the device: %v", what, err)
	}
	SameBits(tb, what, want, got)
	return tr
}
