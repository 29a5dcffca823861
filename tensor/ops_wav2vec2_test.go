package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// channelNormRef normalises x [C, T] in float64: per channel over time
// (group) or per frame over channels (layer).
func channelNormRef(x, w, b *Tensor, eps float64, group bool) []float64 {
	c, t := x.Dim(0), x.Dim(1)
	xd, wd, bd := x.Data(), w.Data(), b.Data()
	out := make([]float64, c*t)
	// norm normalises groups of n values; value i of group g is at
	// index(g, i), in channel ch(g, i).
	norm := func(groups, n int, index, ch func(g, i int) int) {
		for g := 0; g < groups; g++ {
			var m, v float64
			for i := 0; i < n; i++ {
				m += float64(xd[index(g, i)])
			}
			m /= float64(n)
			for i := 0; i < n; i++ {
				d := float64(xd[index(g, i)]) - m
				v += d * d
			}
			v /= float64(n)
			for i := 0; i < n; i++ {
				k := index(g, i)
				out[k] = (float64(xd[k])-m)/math.Sqrt(v+eps)*float64(wd[ch(g, i)]) + float64(bd[ch(g, i)])
			}
		}
	}
	if group {
		norm(c, t, func(ch, i int) int { return ch*t + i }, func(ch, _ int) int { return ch })
	} else {
		norm(t, c, func(i, ch int) int { return ch*t + i }, func(_, ch int) int { return ch })
	}
	return out
}

// TestChannelNorms checks GroupNormChannels and LayerNormChannels against
// a float64 reference and the checking device against the host (bitwise),
// with more frames than one parallel block, and their shape errors.
func TestChannelNorms(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	d := NewCheckingDevice()
	for _, tc := range []struct {
		name  string
		group bool
		f     func(x, w, b *Tensor, eps float32) error
	}{
		{"GroupNormChannels", true, GroupNormChannels},
		{"LayerNormChannels", false, LayerNormChannels},
	} {
		for _, shape := range [][2]int{{1, 1}, {3, 7}, {12, 600}} {
			c, n := shape[0], shape[1]
			x := randT(r, c, n)
			for i := range x.data {
				x.data[i] = 3*x.data[i] + 0.5 // off-centre values
			}
			w, b := randT(r, c), randT(r, c)
			want := channelNormRef(x, w, b, 1e-5, tc.group)
			dx := d.MustUpload(x)
			if err := tc.f(x, w, b, 1e-5); err != nil {
				t.Fatalf("%s %v: %v", tc.name, shape, err)
			}
			for i, v := range x.Data() {
				if math.Abs(float64(v)-want[i]) > 1e-5*(1+math.Abs(want[i])) {
					t.Fatalf("%s %v: element %d = %v, want %v", tc.name, shape, i, v, want[i])
				}
			}
			if err := tc.f(dx, d.MustUpload(w), d.MustUpload(b), 1e-5); err != nil {
				t.Fatalf("%s %v on the device: %v", tc.name, shape, err)
			}
			sameBits(t, tc.name, x, dx)
		}
		if err := tc.f(New(2, 3), New(3), New(3), 1e-5); err == nil {
			t.Errorf("%s: [2 3] with a [3] weight: no error", tc.name)
		}
		if err := tc.f(New(2, 3, 4), New(2), New(2), 1e-5); err == nil {
			t.Errorf("%s: a 3-D input: no error", tc.name)
		}
		if err := tc.f(New(3, 2).Transpose(0, 1), New(2), New(2), 1e-5); err == nil {
			t.Errorf("%s: a transposed input: no error", tc.name)
		}
		if err := panics(func() { _ = tc.f(d.New(2, 3), New(2), New(2), 1e-5) }); err == nil {
			t.Errorf("%s: a device input with host weights: no error", tc.name)
		}
	}
}
