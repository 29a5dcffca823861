package tensor

import (
	"flag"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor/internal/kern"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Benchmarks report GFLOP/s. The machines they run on are shared, so
// compare figures taken in one run; BenchmarkPeakFMA gives the attainable
// FMA throughput of the moment (all threads) for reference.

func benchGemm(b *testing.B, m, n, k int, f func(c []float32)) {
	c := make([]float32, m*n)
	f(c) // warm up (pools, pages)
	b.ResetTimer()
	cpu0 := testdata.ProcessCPU()
	for i := 0; i < b.N; i++ {
		f(c)
	}
	flops := 2 * float64(m) * float64(n) * float64(k) * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	// GFLOP per CPU-second and thread: the kernel's speed on the CPU time
	// it actually got, which other jobs on a shared machine do not dilute.
	if cpu := (testdata.ProcessCPU() - cpu0).Seconds(); cpu > 0 {
		b.ReportMetric(flops/cpu/1e9, "GFLOP/cpu-s")
	}
	if *peakRatio {
		b.StopTimer()
		b.ReportMetric(100*peakShare(2*float64(m)*float64(n)*float64(k), func() { f(c) }), "%peak")
	}
}

var peakRatio = flag.Bool("peak", false, "also report each GEMM benchmark's share of the FMA peak, measured interleaved with it")

// peakShare runs f (flops per call) and the register-only FMA loop on
// Threads() goroutines alternately in short slices for about a second and
// returns f's throughput as a fraction of the loop's: the share of the
// attainable peak, robust to other load that comes and goes on the machine.
func peakShare(flops float64, f func()) float64 {
	if kern.PeakFLOPs(1) == 0 {
		return 0
	}
	var tf, tp time.Duration
	var nf, np float64
	reps := max(1, int(2e8/flops))
	for start := time.Now(); time.Since(start) < time.Second; {
		t0 := time.Now()
		for i := 0; i < reps; i++ {
			f()
		}
		tf += time.Since(t0)
		nf += float64(reps) * flops
		t0 = time.Now()
		per := int(float64(reps) * flops / float64(Threads()))
		var wg sync.WaitGroup
		var mu sync.Mutex
		for t := 0; t < Threads(); t++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := kern.PeakFLOPs(per)
				mu.Lock()
				np += float64(n)
				mu.Unlock()
			}()
		}
		wg.Wait()
		tp += time.Since(t0)
	}
	return (nf / tf.Seconds()) / (np / tp.Seconds())
}

var benchSizes = []int{64, 128, 256, 512, 1024, 2048}

func benchOperands(m, n, k int) (a, bm []float32) {
	a = make([]float32, m*k)
	bm = make([]float32, k*n)
	for i := range a {
		a[i] = float32(i%7) * 0.1
	}
	for i := range bm {
		bm[i] = float32(i%5) * 0.1
	}
	return a, bm
}

// BenchmarkSgemm is C = A·B for square sizes with the active kernel.
func BenchmarkSgemm(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(fmt.Sprint(s), func(b *testing.B) {
			a, bm := benchOperands(s, s, s)
			benchGemm(b, s, s, s, func(c []float32) { Gemm(false, false, s, s, s, 1, a, s, bm, s, 0, c, s) })
		})
	}
}

// BenchmarkSgemmGonum is gonum's pure-Go blas32 Sgemm on the same shapes.
func BenchmarkSgemmGonum(b *testing.B) {
	impl := blas32.Implementation()
	for _, s := range benchSizes {
		b.Run(fmt.Sprint(s), func(b *testing.B) {
			a, bm := benchOperands(s, s, s)
			benchGemm(b, s, s, s, func(c []float32) {
				impl.Sgemm(blas.NoTrans, blas.NoTrans, s, s, s, 1, a, s, bm, s, 0, c, s)
			})
		})
	}
}

// BenchmarkSgemmRef is the portable pure-Go GemmRef.
func BenchmarkSgemmRef(b *testing.B) {
	for _, s := range benchSizes[:5] {
		b.Run(fmt.Sprint(s), func(b *testing.B) {
			a, bm := benchOperands(s, s, s)
			benchGemm(b, s, s, s, func(c []float32) { GemmRef(false, false, s, s, s, 1, a, s, bm, s, 0, c, s) })
		})
	}
}

// BenchmarkSgemmSkinny is the decoding shape: M = 1…8 rows times a K×N
// weight in PyTorch layout (x·Wᵀ), pre-packed as Linear uses it, and
// unpacked through Gemm for comparison.
func BenchmarkSgemmSkinny(b *testing.B) {
	for _, kn := range []int{512, 1024, 2048, 4096} {
		for _, m := range []int{1, 2, 4, 8} {
			x, w := benchOperands(m, kn, kn)
			pw := PackB(true, kn, kn, w, kn)
			b.Run(fmt.Sprintf("packed/M%d/%d", m, kn), func(b *testing.B) {
				benchGemm(b, m, kn, kn, func(c []float32) { GemmPacked(m, 1, x, kn, pw, 0, c, kn, nil) })
				b.ReportMetric(float64(pw.Bytes())*float64(b.N)/b.Elapsed().Seconds()/1e9, "weight-GB/s")
			})
			b.Run(fmt.Sprintf("gemm/M%d/%d", m, kn), func(b *testing.B) {
				benchGemm(b, m, kn, kn, func(c []float32) { Gemm(false, true, m, kn, kn, 1, x, kn, w, kn, 0, c, kn) })
			})
		}
	}
}

// BenchmarkPeakFMA is the register-only FMA throughput on Threads()
// goroutines: the ceiling the kernels are measured against.
func BenchmarkPeakFMA(b *testing.B) {
	if kern.PeakFLOPs(1) == 0 {
		b.Skip("skipping: missing assembly kernels in this build (purego or another architecture): there is no FMA peak to measure")
	}
	var flops float64
	var mu sync.Mutex
	start := time.Now()
	cpu0 := testdata.ProcessCPU()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		for t := 0; t < Threads(); t++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f := kern.PeakFLOPs(1 << 24)
				mu.Lock()
				flops += float64(f)
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	b.ReportMetric(flops/time.Since(start).Seconds()/1e9, "GFLOP/s")
	if cpu := (testdata.ProcessCPU() - cpu0).Seconds(); cpu > 0 {
		b.ReportMetric(flops/cpu/1e9, "GFLOP/cpu-s")
	}
}

// BenchmarkLinearShapes is x·Wᵀ + b with pre-packed weights at the shapes
// of the encoders: ViT-B/16 (197 tokens, batch 1 and 8) and Whisper-base
// (1500 frames).
func BenchmarkLinearShapes(b *testing.B) {
	for _, s := range []struct {
		name    string
		m, k, n int
	}{
		{"vit-qkv", 197, 768, 2304}, {"vit-fc1", 197, 768, 3072}, {"vit-fc2", 197, 3072, 768},
		{"vit8-fc1", 1576, 768, 3072}, {"vit8-fc2", 1576, 3072, 768},
		{"whisper-fc1", 1500, 512, 2048}, {"whisper-fc2", 1500, 2048, 512},
		{"clip-image-qkv", 50, 768, 2304}, {"clip-image-out", 50, 768, 768}, {"clip-image-fc1", 50, 768, 3072}, {"clip-image-fc2", 50, 3072, 768}, {"clip-text-fc1", 128, 512, 2048},
	} {
		b.Run(s.name, func(b *testing.B) {
			x, w := benchOperands(s.m, s.n, s.k)
			pw := PackB(false, s.k, s.n, w, s.n)
			bias := make([]float32, s.n)
			benchGemm(b, s.m, s.n, s.k, func(c []float32) { GemmPacked(s.m, 1, x, s.k, pw, 0, c, s.n, bias) })
		})
	}
}

// BenchmarkMemoryBandwidth streams a 256 MiB array through a vector sum on
// Threads() goroutines: the bandwidth bound of decoding, for reference.
func BenchmarkMemoryBandwidth(b *testing.B) {
	x := make([]float32, 64<<20)
	for i := range x {
		x[i] = 1
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Parallel(len(x), 1<<20, func(lo, hi int) { kern.VecSum(x[lo:hi]) })
	}
	b.ReportMetric(float64(len(x))*4*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

// BenchmarkPackWeight packs a 4096×1024 float32 weight (ViT-L's fc1) as the
// model packages do once per Linear at the first product: the load-time
// cost of packing, in GB/s of weight.
func BenchmarkPackWeight(b *testing.B) {
	w := New(4096, 1024)
	for i, d := 0, w.Data(); i < len(d); i++ {
		d[i] = float32(i%97) / 97
	}
	for _, kind := range []WeightType{WeightF32, WeightF16} {
		b.Run(kind.String(), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := PackWeightAs(w, kind); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(4*w.Len())*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}

// BenchmarkLinearShapesCold is BenchmarkLinearShapes at CLIP image tower
// shapes (50 rows) with the weight taken in turn from enough copies (about
// 160 MB) that it comes from memory, as in a model's forward pass, where
// each layer's weights are read once per call.
func BenchmarkLinearShapesCold(b *testing.B) {
	for _, s := range []struct {
		name    string
		m, k, n int
	}{
		{"clip-image-qkv", 50, 768, 2304}, {"clip-image-fc1", 50, 768, 3072}, {"clip-image-fc2", 50, 3072, 768},
	} {
		b.Run(s.name, func(b *testing.B) {
			x, w := benchOperands(s.m, s.n, s.k)
			pws := make([]*PackedB, max(2, 160<<20/(4*s.k*s.n)))
			for i := range pws {
				pws[i] = PackB(false, s.k, s.n, w, s.n)
			}
			bias := make([]float32, s.n)
			i := 0
			benchGemm(b, s.m, s.n, s.k, func(c []float32) {
				GemmPacked(s.m, 1, x, s.k, pws[i%len(pws)], 0, c, s.n, bias)
				i++
			})
		})
	}
}
