package expected

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/goformer/goformer/tensor"
)

// The helpers below serve the TestDevice_ tests of the families, which run
// a model on tensor.NewCheckingDevice and require exactly what the host
// model gives (bit for bit), with only inputs uploaded and results
// downloaded.

// SameOnDevice fails tb unless got, a tensor on dev, holds exactly the
// values of the host tensor want: the same shape and the same float32 bits
// (NaNs included). It downloads got. Two nil tensors are the same.
func SameOnDevice(tb testing.TB, what string, dev *tensor.Device, want, got *tensor.Tensor) {
	tb.Helper()
	if want == nil || got == nil {
		if want != got {
			tb.Errorf("%s: host %v, device %v", what, want, got)
		}
		return
	}
	if got.Device() != dev {
		tb.Errorf("%s: result on %s, want on %s", what, got.Device(), dev)
		return
	}
	h, err := tensor.ToHost(got)
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
	if !slices.Equal(h.Shape(), want.Shape()) {
		tb.Errorf("%s: shape %v on the device, %v on the host", what, h.Shape(), want.Shape())
		return
	}
	SameBits(tb, what, want.Contiguous().Data(), h.Data())
}

// SameBits fails tb unless got holds exactly the float32 bits of want.
func SameBits(tb testing.TB, what string, want, got []float32) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			tb.Errorf("%s: element %d = %v on the device, %v on the host", what, i, got[i], want[i])
			return
		}
	}
}

// SameRows is SameBits row by row.
func SameRows(tb testing.TB, what string, want, got [][]float32) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Errorf("%s: %d rows, want %d", what, len(got), len(want))
		return
	}
	for i := range want {
		SameBits(tb, fmt.Sprintf("%s: row %d", what, i), want[i], got[i])
	}
}

// OnDevice runs f, a call of a model on dev, and returns the copies between
// the host and dev it made. An error from f, or a panic (an operation that
// read device storage on the host, or mixed devices), fails tb at once.
func OnDevice(tb testing.TB, dev *tensor.Device, what string, f func() error) tensor.Transfers {
	tb.Helper()
	before := dev.Transfers()
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return f()
	}()
	if err != nil {
		tb.Fatalf("%s on the device: %v", what, err)
	}
	after := dev.Transfers()
	return tensor.Transfers{
		Uploads: after.Uploads - before.Uploads, Downloads: after.Downloads - before.Downloads,
		UploadBytes: after.UploadBytes - before.UploadBytes, DownloadBytes: after.DownloadBytes - before.DownloadBytes,
	}
}

// CheckTransfers fails tb unless got is exactly the transfers wanted.
func CheckTransfers(tb testing.TB, what string, got, want tensor.Transfers) {
	tb.Helper()
	if got != want {
		tb.Errorf("%s: transfers %+v, want %+v (inputs up, results down, nothing else)", what, got, want)
	}
}

// CheckStepTransfers checks what a generation of rows sequences over a
// vocabulary of vocab tokens moved: at most maxUp uploads (the inputs), and
// one download per decoding step (at least one, at most maxSteps) of at
// most the rows' logits.
func CheckStepTransfers(tb testing.TB, what string, tr tensor.Transfers, maxUp, maxSteps int64, rows, vocab int) {
	tb.Helper()
	if tr.Uploads > maxUp {
		tb.Errorf("%s: %d uploads, want at most %d", what, tr.Uploads, maxUp)
	}
	if tr.Downloads < 1 || tr.Downloads > maxSteps {
		tb.Errorf("%s: %d downloads, want one per step (at most %d)", what, tr.Downloads, maxSteps)
	}
	if max := tr.Downloads * int64(4*rows*vocab); tr.DownloadBytes > max {
		tb.Errorf("%s: %d bytes downloaded in %d downloads, more than the logits of %d rows", what, tr.DownloadBytes, tr.Downloads, rows)
	}
}
