package tensor

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// TestUpsampleBicubicDevice resizes grids on the host and on the checking
// device (contiguous and strided inputs, up and down, non-square): the
// results are identical and stay on the device.
func TestUpsampleBicubicDevice(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	d := NewCheckingDevice()
	for _, c := range []struct {
		h, w, ch, oh, ow int
		sh, sw           float64
	}{
		{4, 4, 5, 7, 5, 1.775, 1.275},
		{3, 3, 2, 3, 3, 1.0333, 1.0333},
		{6, 4, 3, 2, 9, 0.35, 2.3},
	} {
		x := randT(r, c.h, c.w, c.ch)
		want := mustT(UpsampleBicubic(x, c.oh, c.ow, c.sh, c.sw))
		dx := d.MustUpload(x)
		got := mustT(UpsampleBicubic(dx, c.oh, c.ow, c.sh, c.sw))
		sameBits(t, "UpsampleBicubic", want, got)
		// A strided view gives the same as its contiguous copy.
		xs := randT(r, c.w, c.h, c.ch)
		xt := xs.Permute(1, 0, 2)
		want = mustT(UpsampleBicubic(xt.Clone(), c.oh, c.ow, c.sh, c.sw))
		sameBits(t, "UpsampleBicubic (strided)", want, mustT(UpsampleBicubic(d.MustUpload(xs).Permute(1, 0, 2), c.oh, c.ow, c.sh, c.sw)))
		got2 := mustT(UpsampleBicubic(xt, c.oh, c.ow, c.sh, c.sw))
		if d, _ := maxDiff(want.Data(), got2.Data()); d != 0 {
			t.Errorf("strided host input: max|Δ| %g from its contiguous copy", d)
		}
	}
}

// TestUpsampleBicubic checks the kernel's arithmetic on cases with known
// answers: a constant grid stays constant (the weights sum to one), scale
// 1 at the same size is the identity, and bad arguments are errors.
func TestUpsampleBicubic(t *testing.T) {
	x := New(3, 3, 2)
	for i := range x.data {
		x.data[i] = 0.5
	}
	up := mustT(UpsampleBicubic(x, 7, 4, 7.0/3, 4.0/3))
	if !SameShape(up, New(7, 4, 2)) {
		t.Fatalf("shape %v", up.Shape())
	}
	for i, v := range up.Data() {
		if math.Abs(float64(v)-0.5) > 1e-6 {
			t.Fatalf("constant grid resized to %v at %d", v, i)
		}
	}
	r := rand.New(rand.NewPCG(5, 6))
	y := randT(r, 4, 5, 3)
	same := mustT(UpsampleBicubic(y, 4, 5, 1, 1))
	if d, at := maxDiff(same.Data(), y.Data()); d != 0 {
		t.Errorf("scale 1: max|Δ| %g at %d from the input", d, at)
	}
	for _, bad := range []func() (*Tensor, error){
		func() (*Tensor, error) { return UpsampleBicubic(nil, 2, 2, 1, 1) },
		func() (*Tensor, error) { return UpsampleBicubic(New(4, 4), 2, 2, 1, 1) },
		func() (*Tensor, error) { return UpsampleBicubic(y, 0, 2, 1, 1) },
		func() (*Tensor, error) { return UpsampleBicubic(y, 2, 2, 0, 1) },
		func() (*Tensor, error) { return UpsampleBicubic(y, 2, 2, 1, math.NaN()) },
		func() (*Tensor, error) { return UpsampleBicubic(y, 2, 2, math.Inf(1), 1) },
	} {
		if _, err := bad(); !errors.Is(err, ErrShape) {
			t.Errorf("bad arguments: %v, want ErrShape", err)
		}
	}
}

func maxDiff(a, b []float32) (float64, int) {
	m, at := 0.0, -1
	for i := range a {
		if d := math.Abs(float64(a[i]) - float64(b[i])); d > m {
			m, at = d, i
		}
	}
	return m, at
}
