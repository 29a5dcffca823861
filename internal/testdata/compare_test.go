package testdata_test

import (
	"math"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

func TestMaxAbsDiff(t *testing.T) {
	nan := float32(math.NaN())
	for _, c := range []struct {
		a, b []float32
		d    float64
		at   int
	}{
		{nil, nil, 0, -1},
		{[]float32{1, 2, 3}, []float32{1, 2.5, 2}, 1, 2},
		{[]float32{1, 2}, []float32{1, 2}, 0, 0},
		{[]float32{1, nan, 3}, []float32{1, 2, 3}, math.Inf(1), 1},
		{[]float32{1, 2}, []float32{1, 2, 3}, math.Inf(1), -1},
	} {
		if d, at := testdata.MaxAbsDiff(c.a, c.b); d != c.d || at != c.at {
			t.Errorf("MaxAbsDiff(%v, %v) = %g, %d, want %g, %d", c.a, c.b, d, at, c.d, c.at)
		}
	}
	if d := testdata.MaxAbsDiffRows([][]float32{{1, 2}, {3, 4}}, [][]float32{{1, 2}, {3, 4.25}}); d != 0.25 {
		t.Errorf("MaxAbsDiffRows = %g", d)
	}
	if d := testdata.MaxAbsDiffRows([][]float32{{1}}, [][]float32{{1}, {2}}); !math.IsInf(d, 1) {
		t.Errorf("MaxAbsDiffRows of different counts = %g", d)
	}
}

func TestTensorDiff(t *testing.T) {
	a := tensor.MustFromData([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	b := tensor.MustFromData([]float32{1, 4, 2, 5, 3, 6.5}, 3, 2)
	// b transposed is a strided view: compared in row-major order.
	if d := testdata.TensorDiff(t, "transposed", a, b.Transpose(0, 1)); d != 0.5 {
		t.Errorf("TensorDiff = %g, want 0.5", d)
	}
	if d := testdata.RowsDiff(t, "rows", [][]float32{{1, 2, 3}, {4, 5, 7}}, a); d != 1 {
		t.Errorf("RowsDiff = %g, want 1", d)
	}
	if d := testdata.RelDiff(t, "rel", a, tensor.MustFromData([]float32{1, 2, 3, 4, 5, 8}, 2, 3)); d != 0.25 {
		t.Errorf("RelDiff = %g, want 0.25", d)
	}
	if m := testdata.MaxAbs([]float32{-3, 2}); m != 3 {
		t.Errorf("MaxAbs = %g", m)
	}
}
