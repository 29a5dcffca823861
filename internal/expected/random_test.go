package expected

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestRandom checks that Uniform and Normal draw their values in order
// from r, as the synthetic checkpoints of the tests expect.
func TestRandom(t *testing.T) {
	u := Uniform(rand.New(rand.NewPCG(1, 2)), 0.5, 1, 2, 3)
	n := Normal(rand.New(rand.NewPCG(1, 2)), 0.02, 3, 2)
	ru, rn := rand.New(rand.NewPCG(1, 2)), rand.New(rand.NewPCG(1, 2))
	var wu, wn []float32
	for range 6 {
		wu = append(wu, float32(1+0.5*(2*ru.Float64()-1)))
		wn = append(wn, float32(rn.NormFloat64()*0.02))
	}
	if !slices.Equal(u.Shape(), []int{2, 3}) || !slices.Equal(u.Data(), wu) {
		t.Errorf("Uniform = %v %v, want [2 3] %v", u.Shape(), u.Data(), wu)
	}
	if !slices.Equal(n.Shape(), []int{3, 2}) || !slices.Equal(n.Data(), wn) {
		t.Errorf("Normal = %v %v, want [3 2] %v", n.Shape(), n.Data(), wn)
	}
}
