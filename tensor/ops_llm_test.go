package tensor

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// TestLLMOpsCheckingDevice runs the llm operations on the checking device
// and on the host: identical bits, results on the device.
func TestLLMOpsCheckingDevice(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	d := NewCheckingDevice()
	x := randT(r, 2, 3, 16)
	w := randT(r, 16)
	dx, dw := d.MustUpload(x), d.MustUpload(w)

	sameBits(t, "RMSNorm", mustT(RMSNorm(x, w, 1e-6)), mustT(RMSNorm(dx, dw, 1e-6)))
	// A strided input (a transpose) gives the rows of its contiguous copy.
	xt := randT(r, 16, 4)
	sameBits(t, "RMSNorm of a view", mustT(RMSNorm(xt.Transpose(0, 1), w, 1e-5)),
		mustT(RMSNorm(d.MustUpload(xt).Transpose(0, 1), dw, 1e-5)))

	invFreq := []float32{1, 0.1, 0.01, 0.001}
	pos := []int{0, 1, 2, 7, 1, 0}
	for _, scale := range []float64{0, 2.5} {
		h, g := x.Clone(), dx.Clone()
		if err := Rope(h, 2, invFreq, scale, pos); err != nil {
			t.Fatal(err)
		}
		if err := Rope(g, 2, invFreq, scale, pos); err != nil {
			t.Fatal(err)
		}
		sameBits(t, "Rope", h, g)
	}

	u := randT(r, 2, 3, 16)
	h, g := x.Clone(), dx.Clone()
	if err := GateInPlace(h, u); err != nil {
		t.Fatal(err)
	}
	if err := GateInPlace(g, d.MustUpload(u)); err != nil {
		t.Fatal(err)
	}
	sameBits(t, "GateInPlace", h, g)

	// Mixing the host and the device is refused.
	if err := panics(func() { _ = GateInPlace(dx.Clone(), u) }); !errors.Is(err, ErrDevice) {
		t.Errorf("GateInPlace of a device and a host tensor: %v, want ErrDevice", err)
	}
}

// TestLLMOpsValues checks the llm operations against their definitions.
func TestLLMOpsValues(t *testing.T) {
	x := MustFromData([]float32{3, 4, 0, 0, 1, -1, 1, -1}, 2, 4)
	w := MustFromData([]float32{1, 2, 1, 1}, 4)
	y := mustT(RMSNorm(x, w, 0))
	want := []float32{3 / 2.5, 2 * 4 / 2.5, 0, 0, 1, -2, 1, -1}
	for i, v := range y.Data() {
		if math.Abs(float64(v-want[i])) > 1e-6 {
			t.Fatalf("RMSNorm = %v, want %v", y.Data(), want)
		}
	}

	// One head of dim 4 (frequencies 1 and 0.5): position 0 leaves the
	// row alone; position p rotates the pairs (x[i], x[i+2]) by p·f.
	q := MustFromData([]float32{1, 2, 3, 4, 1, 2, 3, 4}, 1, 2, 4)
	if err := Rope(q, 1, []float32{1, 0.5}, 0, []int{0, 2}); err != nil {
		t.Fatal(err)
	}
	qd := q.Data()
	for i, v := range []float32{1, 2, 3, 4} {
		if qd[i] != v {
			t.Fatalf("Rope at position 0 changed the row: %v", qd[:4])
		}
	}
	for i, f := range []float64{1, 0.5} {
		a := 2 * f
		x1, x2 := float64(i+1), float64(i+3)
		w1, w2 := x1*math.Cos(a)-x2*math.Sin(a), x2*math.Cos(a)+x1*math.Sin(a)
		if math.Abs(float64(qd[4+i])-w1) > 1e-5 || math.Abs(float64(qd[4+i+2])-w2) > 1e-5 {
			t.Fatalf("Rope at position 2: pair %d = (%v, %v), want (%v, %v)", i, qd[4+i], qd[4+i+2], w1, w2)
		}
	}
	if err := Rope(q, 2, []float32{1, 0.5}, 0, []int{0, 2}); !errors.Is(err, ErrShape) {
		t.Errorf("Rope with the wrong head count: %v, want ErrShape", err)
	}

	g := MustFromData([]float32{1, 2, 3}, 3)
	if err := GateInPlace(g, MustFromData([]float32{2, 0.5, -1}, 3)); err != nil {
		t.Fatal(err)
	}
	if d := g.Data(); d[0] != 2 || d[1] != 1 || d[2] != -3 {
		t.Fatalf("GateInPlace = %v", d)
	}
	if err := GateInPlace(g, New(4)); !errors.Is(err, ErrShape) {
		t.Errorf("GateInPlace of different shapes: %v, want ErrShape", err)
	}
}
