package tensor

import (
	"math/rand/v2"
	"sync"
	"testing"
)

// TestCPUDeviceThreads runs every operation that starts parallel loops on
// CPU devices of 1 and 4 threads while the process-wide setting says the
// opposite, and checks that each operation's loops keep to the device's
// count (and do go parallel on 4) and that the results are the host's,
// bit for bit.
func TestCPUDeviceThreads(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	x := randT(r, 2, 96, 256)
	w := randT(r, 512, 256)
	b := randT(r, 512)
	g, beta := randT(r, 256), randT(r, 256)
	q1 := randT(r, 2, 1, 256)
	cx, cw, cb := randT(r, 64, 2048), randT(r, 64, 64, 3), randT(r, 64)
	img, pw, pb := randT(r, 1, 3, 224, 224), randT(r, 64, 3, 16, 16), randT(r, 64)
	gx, gw, gb := randT(r, 64, 4096), randT(r, 64), randT(r, 64)
	lx := randT(r, 64, 4096)

	type op struct {
		name string
		run  func(up func(*Tensor) *Tensor) *Tensor
	}
	ops := []op{
		{"Linear", func(up func(*Tensor) *Tensor) *Tensor { return mustT(Linear(up(x), up(w), up(b))) }},
		{"MatMulT", func(up func(*Tensor) *Tensor) *Tensor { return mustT(MatMulT(up(x), up(x))) }},
		{"Map", func(up func(*Tensor) *Tensor) *Tensor { return Map(up(randTensorLike(x, 5)), GELUExact) }},
		{"MapInPlace", func(up func(*Tensor) *Tensor) *Tensor {
			y := up(randTensorLike(x, 6))
			MapInPlace(y, Tanh)
			return y
		}},
		{"Softmax", func(up func(*Tensor) *Tensor) *Tensor { return Softmax(up(x)) }},
		{"LayerNorm", func(up func(*Tensor) *Tensor) *Tensor {
			return mustT(LayerNorm(up(x), up(g), up(beta), 1e-5))
		}},
		{"Attention", func(up func(*Tensor) *Tensor) *Tensor {
			return mustT(Attention(up(x), up(x), up(x), AttentionOptions{Heads: 4, Causal: true}))
		}},
		{"AttentionPacked", func(up func(*Tensor) *Tensor) *Tensor {
			kv := mustKV(PackKV(up(x), up(x), 4, WeightF16))
			return mustT(AttentionPacked(up(q1), kv, AttentionOptions{Heads: 4}))
		}},
		{"Conv1d", func(up func(*Tensor) *Tensor) *Tensor { return mustT(Conv1d(up(cx), up(cw), up(cb), 1, 1, 1)) }},
		{"PatchEmbed", func(up func(*Tensor) *Tensor) *Tensor { return mustT(PatchEmbed(up(img), up(pw), up(pb))) }},
		{"GroupNormChannels", func(up func(*Tensor) *Tensor) *Tensor {
			y := up(gx)
			if err := GroupNormChannels(y, up(gw), up(gb), 1e-5); err != nil {
				panic(err)
			}
			return y
		}},
		{"LayerNormChannels", func(up func(*Tensor) *Tensor) *Tensor {
			y := up(lx)
			if err := LayerNormChannels(y, up(gw), up(gb), 1e-5); err != nil {
				panic(err)
			}
			return y
		}},
	}
	for _, wt := range []WeightType{WeightF32, WeightF16, WeightQ8, WeightBF16Dot} {
		ops = append(ops,
			op{"LinearPacked " + wt.String(), func(up func(*Tensor) *Tensor) *Tensor {
				return mustT(LinearPacked(up(x), mustP(PackWeightAs(up(w), wt)), up(b)))
			}},
			op{"LinearPacked 1 row " + wt.String(), func(up func(*Tensor) *Tensor) *Tensor {
				return mustT(LinearPacked(up(q1), mustP(PackWeightAs(up(w), wt)), up(b)))
			}})
	}

	var mu sync.Mutex
	widest := 0
	loopWidth = func(w int) {
		mu.Lock()
		widest = max(widest, w)
		mu.Unlock()
	}
	defer func() { loopWidth = nil }()
	measure := func(f func()) int {
		mu.Lock()
		widest = 1
		mu.Unlock()
		f()
		mu.Lock()
		defer mu.Unlock()
		return widest
	}

	for _, c := range []struct{ process, device int }{{4, 1}, {1, 4}} {
		old := SetThreads(c.process)
		d := NewCPUDevice(c.device)
		up := func(x *Tensor) *Tensor { return d.MustUpload(x) }
		host := func(x *Tensor) *Tensor { return x.Clone() }
		for _, o := range ops {
			want := o.run(host)
			var got *Tensor
			width := measure(func() { got = o.run(up) })
			sameBits(t, o.name+" on "+d.Name(), want, got)
			if width > c.device {
				t.Errorf("%s on %s with %d process threads: a loop %d wide", o.name, d.Name(), c.process, width)
			}
			if c.device > 1 && width < 2 {
				t.Errorf("%s on %s: no parallel loop (the test's sizes are too small, or the device's count is not used)", o.name, d.Name())
			}
		}
		SetThreads(old)
	}
}

// randTensorLike returns a random tensor of x's shape from seed.
func randTensorLike(x *Tensor, seed uint64) *Tensor {
	return randT(rand.New(rand.NewPCG(seed, seed)), x.Shape()...)
}

func TestCPUDeviceName(t *testing.T) {
	if got := NewCPUDevice(0).Name(); got != "cpu(1 thread)" {
		t.Errorf("NewCPUDevice(0) is %q, want cpu(1 thread)", got)
	}
	x := NewCPUDevice(2).New(2, 2)
	if err := panics(func() { x.Data() }); err == nil {
		t.Error("Data of a CPU device's tensor: no panic")
	}
}
