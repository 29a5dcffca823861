//go:build cuda

package cuda

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/goformer/goformer/tensor"
)

// Benchmarks of the operations that dominate inference, at the sizes of
// the models (Whisper large-v3: width 1280, 20 heads of 64, 1500
// encoder frames, 448 decoder positions; the 51,865-token vocabulary).
// Each waits for the device at the end, so times include the work, and
// reports its arithmetic (TFLOP/s) or memory (GB/s) rate.

// syncDevice waits for the work queued on d.
func syncDevice(b *testing.B, d *tensor.Device) {
	be, err := backendOf(d)
	if err != nil {
		b.Fatal(err)
	}
	if err := be.c.sync(); err != nil {
		b.Fatal(err)
	}
}

func benchDevice(b *testing.B, opts Options) *tensor.Device {
	device(b) // skips or fails where there is no device
	if opts == (Options{}) {
		return dev
	}
	d, err := OpenWith(0, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { Close(d) })
	return d
}

func BenchmarkMatMulF32(b *testing.B) {
	d := benchDevice(b, Options{})
	r := rand.New(rand.NewPCG(2, 1))
	const n = 4096
	x, y := up(d, randT(r, n, n)), up(d, randT(r, n, n))
	b.ResetTimer()
	for range b.N {
		tensor.Release(must(tensor.MatMul(x, y)))
	}
	syncDevice(b, d)
	b.ReportMetric(2*n*n*n*float64(b.N)/b.Elapsed().Seconds()/1e12, "TFLOP/s")
}

func BenchmarkLinearPacked(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	for _, c := range []struct {
		name    string
		wt      tensor.WeightType
		m, n, k int
		opts    Options
	}{
		{"decode F16 1x1280x5120", tensor.WeightF16, 1, 5120, 1280, Options{}},
		{"decode F16 1x51865x1280 (logits)", tensor.WeightF16, 1, 51865, 1280, Options{}},
		{"decode F32 1x5120x1280", tensor.WeightF32, 1, 5120, 1280, Options{}},
		{"beam F16 5x5120x1280", tensor.WeightF16, 5, 5120, 1280, Options{}},
		{"encoder F16 1500x5120x1280 exact", tensor.WeightF16, 1500, 5120, 1280, Options{}},
		{"encoder F16 1500x5120x1280 tensor cores", tensor.WeightF16, 1500, 5120, 1280, Options{TensorCores: true}},
		{"encoder F32 1500x5120x1280", tensor.WeightF32, 1500, 5120, 1280, Options{}},
		{"encoder F32 1500x5120x1280 TF32", tensor.WeightF32, 1500, 5120, 1280, Options{TensorCores: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			d := benchDevice(b, c.opts)
			w := must(tensor.PackWeightAs(up(d, randT(r, c.n, c.k)), c.wt))
			x := up(d, randT(r, c.m, c.k))
			bias := up(d, randT(r, c.n))
			b.ResetTimer()
			for range b.N {
				tensor.Release(must(tensor.LinearPacked(x, w, bias)))
			}
			syncDevice(b, d)
			s := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(2*float64(c.m*c.n*c.k)/s/1e12, "TFLOP/s")
			b.ReportMetric(float64(c.n*c.k)*float64(elemSize(c.wt))/s/1e9, "weight-GB/s")
		})
	}
}

func BenchmarkAttention(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 3))
	for _, c := range []struct {
		name          string
		batch, tq, tk int
		causal        bool
	}{
		{"encoder 1500x1500", 1, 1500, 1500, false},
		{"decode 1x448 causal", 1, 1, 448, true},
		{"decode beam 5x1x448 causal", 5, 1, 448, true},
		{"ViT batch 256x197", 256, 197, 197, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			d := benchDevice(b, Options{})
			const h, dh = 20, 64
			q := up(d, randT(r, c.batch, c.tq, h*dh))
			k := up(d, randT(r, c.batch, c.tk, h*dh))
			v := up(d, randT(r, c.batch, c.tk, h*dh))
			opt := tensor.AttentionOptions{Heads: h, Causal: c.causal}
			b.ResetTimer()
			for range b.N {
				tensor.Release(must(tensor.Attention(q, k, v, opt)))
			}
			syncDevice(b, d)
			s := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(4*float64(c.batch*h*c.tq*c.tk*dh)/s/1e12, "TFLOP/s")
		})
	}
	b.Run("packed F16 cross-attention 5x1x1500", func(b *testing.B) {
		d := benchDevice(b, Options{})
		const h, dh = 20, 64
		kv := must(tensor.PackKV(up(d, randT(r, 5, 1500, h*dh)), up(d, randT(r, 5, 1500, h*dh)), h, tensor.WeightF16))
		q := up(d, randT(r, 5, 1, h*dh))
		b.ResetTimer()
		for range b.N {
			tensor.Release(must(tensor.AttentionPacked(q, kv, tensor.AttentionOptions{})))
		}
		syncDevice(b, d)
		s := b.Elapsed().Seconds() / float64(b.N)
		b.ReportMetric(2*2*5*1500*h*dh/s/1e9, "kv-GB/s")
	})
}

func BenchmarkRows(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 4))
	for _, c := range []struct {
		name       string
		rows, cols int
		op         func(x, g, bias *tensor.Tensor) *tensor.Tensor
	}{
		{"LayerNorm 1500x1280", 1500, 1280, func(x, g, bias *tensor.Tensor) *tensor.Tensor { return must(tensor.LayerNorm(x, g, bias, 1e-5)) }},
		{"Softmax 5x51865", 5, 51865, func(x, _, _ *tensor.Tensor) *tensor.Tensor { return tensor.Softmax(x) }},
		{"GELU 1500x5120", 1500, 5120, func(x, _, _ *tensor.Tensor) *tensor.Tensor { return tensor.Map(x, tensor.GELUExact) }},
		{"Add 1500x1280", 1500, 1280, func(x, _, bias *tensor.Tensor) *tensor.Tensor { return must(tensor.Add(x, bias)) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			d := benchDevice(b, Options{})
			x := up(d, randT(r, c.rows, c.cols))
			g, bias := up(d, randT(r, c.cols)), up(d, randT(r, c.cols))
			b.ResetTimer()
			for range b.N {
				tensor.Release(c.op(x, g, bias))
			}
			syncDevice(b, d)
			s := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(8*float64(c.rows*c.cols)/s/1e9, "GB/s")
		})
	}
}

func BenchmarkTransfers(b *testing.B) {
	d := benchDevice(b, Options{})
	for _, n := range []int{1, 1 << 20} {
		b.Run(fmt.Sprintf("round trip %d floats", n), func(b *testing.B) {
			h := tensor.New(n)
			for range b.N {
				x := must(d.Upload(h))
				must(tensor.HostData(x))
				tensor.Release(x)
			}
			b.ReportMetric(8*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}
