package expected

import (
	"math"
	"slices"
	"testing"

	"github.com/goformer/goformer/tensor"
)

// The helpers of the TestDevice tests, which run a model on
// tensor.NewCheckingDevice and require results identical to the host
// model's, with few transfers.

// SameBits fails tb unless got, a tensor on a device, holds exactly the
// values of want, a host tensor (bit for bit, same shape); it downloads
// got to compare.
func SameBits(tb testing.TB, what string, want, got *tensor.Tensor) {
	tb.Helper()
	if got.OnHost() {
		tb.Fatalf("%s: result on the host, want on the device", what)
	}
	if !want.OnHost() {
		tb.Fatalf("%s: host result on %s", what, want.Device())
	}
	h, err := tensor.ToHost(got)
	if err != nil {
		tb.Fatal(err)
	}
	if !slices.Equal(h.Shape(), want.Shape()) {
		tb.Fatalf("%s: shape %v, want %v", what, h.Shape(), want.Shape())
	}
	wd, gd := want.Contiguous().Data(), h.Data()
	for i := range wd {
		if math.Float32bits(wd[i]) != math.Float32bits(gd[i]) {
			tb.Fatalf("%s: element %d = %v on the device, %v on the host", what, i, gd[i], wd[i])
		}
	}
}

// Transfers returns the copies between the host and d that f made.
func Transfers(d *tensor.Device, f func()) tensor.Transfers {
	a := d.Transfers()
	f()
	b := d.Transfers()
	return tensor.Transfers{
		Uploads: b.Uploads - a.Uploads, Downloads: b.Downloads - a.Downloads,
		UploadBytes: b.UploadBytes - a.UploadBytes, DownloadBytes: b.DownloadBytes - a.DownloadBytes,
	}
}

// CheckTransfers runs f and reports an error (the test goes on) unless it
// made exactly ups uploads to d and downs downloads from it.
func CheckTransfers(tb testing.TB, what string, d *tensor.Device, ups, downs int64, f func()) {
	tb.Helper()
	if tr := Transfers(d, f); tr.Uploads != ups || tr.Downloads != downs {
		tb.Errorf("%s: %d uploads and %d downloads, want %d and %d", what, tr.Uploads, tr.Downloads, ups, downs)
	}
}
