package expected

import (
	"fmt"
	"math"
	"testing"

	"github.com/goformer/goformer/tensor"
)

// More helpers of the TestDevice tests (see SameBits and Transfers).

// OnDevice runs f, a call of a model on d, and returns the copies between
// the host and d it made. An error from f, or a panic (an operation that
// read device storage on the host, or mixed devices), fails tb at once.
func OnDevice(tb testing.TB, d *tensor.Device, what string, f func() error) tensor.Transfers {
	tb.Helper()
	var err error
	tr := Transfers(d, func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		err = f()
	})
	if err != nil {
		tb.Fatalf("%s on the device: %v", what, err)
	}
	return tr
}

// ExactTransfers reports an error (the test goes on) unless got is
// exactly the transfers wanted, bytes included.
func ExactTransfers(tb testing.TB, what string, got, want tensor.Transfers) {
	tb.Helper()
	if got != want {
		tb.Errorf("%s: transfers %+v, want %+v (inputs up, results down, nothing else)", what, got, want)
	}
}

// CheckStepTransfers reports an error unless tr, what a generation of rows
// sequences over a vocabulary of vocab tokens moved, is at most maxUp
// uploads (the inputs) and one download per decoding step (at least one,
// at most maxSteps) of at most the rows' logits.
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

// SameRows reports an error unless got holds exactly the rows of want, bit
// for bit (results downloaded from a device against the host's).
func SameRows(tb testing.TB, what string, want, got [][]float32) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Errorf("%s: %d rows, want %d", what, len(got), len(want))
		return
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			tb.Errorf("%s: row %d has %d values, want %d", what, i, len(got[i]), len(want[i]))
			return
		}
		for j := range want[i] {
			if math.Float32bits(got[i][j]) != math.Float32bits(want[i][j]) {
				tb.Errorf("%s: [%d][%d] = %v on the device, %v on the host", what, i, j, got[i][j], want[i][j])
				return
			}
		}
	}
}
