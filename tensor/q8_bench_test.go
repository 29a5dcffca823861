package tensor

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/goformer/goformer/internal/testdata"
)

// BenchmarkWeightTypes compares the weight types on one product shape at a
// time, interleaved (each iteration runs every type once), so that the
// ratios come from the same moments of a shared machine: x [M, K] · Wᵀ
// with W [N, K] packed as F32, F16, BF16, Q8 and BF16Dot. It reports each
// type's wall and CPU microseconds per product (CPU time is the process's,
// all threads: the kernel's cost, which other jobs on the machine do not
// dilute) and the CPU-time ratios Q8/F32, Q8/F16, BF16Dot/F32,
// BF16Dot/BF16 and BF16Dot/Q8.
//
// Shapes: the Whisper-base decoder's products with one row (512×512
// attention, 2048×512 fc1, 512×2048 fc2, 51865×512 vocabulary projection)
// and encoder products over 1500 frames (attention projection, fc1, fc2),
// and a ViT-B/16 fc1. The -streamed shapes cycle through 16 copies of the
// weight (32–64 MB per type), so that weights come from memory as they do
// when a whole model is decoded, instead of staying in cache.
func BenchmarkWeightTypes(b *testing.B) {
	types := []WeightType{WeightF32, WeightF16, WeightBF16, WeightQ8, WeightBF16Dot}
	for _, s := range []struct {
		name    string
		m, n, k int
		copies  int
	}{
		{"gemv-512x512", 1, 512, 512, 1},
		{"gemv-2048x512", 1, 2048, 512, 1},
		{"gemv-512x2048", 1, 512, 2048, 1},
		{"gemv-2048x512-streamed", 1, 2048, 512, 16},
		{"gemv-512x2048-streamed", 1, 512, 2048, 16},
		{"gemv-51865x512", 1, 51865, 512, 1},
		{"beam5-51865x512", 5, 51865, 512, 1},
		{"whisper-enc-qkv-1500x1536x512", 1500, 1536, 512, 1},
		{"whisper-enc-attn-1500x512x512", 1500, 512, 512, 1},
		{"whisper-enc-fc1-1500x2048x512", 1500, 2048, 512, 1},
		{"whisper-enc-fc2-1500x512x2048", 1500, 512, 2048, 1},
		{"vit-fc1-197x3072x768", 197, 3072, 768, 1},
	} {
		b.Run(s.name, func(b *testing.B) {
			r := rand.New(rand.NewSource(1))
			x := make([]float32, s.m*s.k)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			w := New(s.n, s.k)
			for i, d := 0, w.Data(); i < len(d); i++ {
				d[i] = float32(r.NormFloat64() * 0.05)
			}
			packed := make([][]*PackedB, len(types))
			for i, t := range types {
				for range s.copies {
					p, err := PackWeightAs(w, t)
					if err != nil {
						b.Fatal(err)
					}
					packed[i] = append(packed[i], p)
				}
			}
			c := make([]float32, s.m*s.n)
			bias := make([]float32, s.n)
			next := make([]int, len(types))
			product := func(i int) {
				GemmPacked(s.m, 1, x, s.k, packed[i][next[i]], 0, c, s.n, bias)
				next[i] = (next[i] + 1) % s.copies
			}
			wall := make([]time.Duration, len(types))
			cpu := make([]time.Duration, len(types))
			run := func(i int) {
				t0, c0 := time.Now(), testdata.ProcessCPU()
				product(i)
				wall[i] += time.Since(t0)
				cpu[i] += testdata.ProcessCPU() - c0
			}
			for i := range types { // warm up: pools, pages
				run(i)
				wall[i], cpu[i] = 0, 0
			}
			// Rusage has a coarse granularity: time batches of products.
			reps := max(1, int(2e7/(2*float64(s.m)*float64(s.n)*float64(s.k))))
			b.ResetTimer()
			for it := 0; it < b.N; it++ {
				for i := range types {
					t0, c0 := time.Now(), testdata.ProcessCPU()
					for range reps {
						product(i)
					}
					wall[i] += time.Since(t0)
					cpu[i] += testdata.ProcessCPU() - c0
				}
			}
			n := float64(b.N * reps)
			for i, t := range types {
				b.ReportMetric(float64(wall[i].Microseconds())/n, fmt.Sprintf("%v-µs", t))
				b.ReportMetric(float64(cpu[i].Microseconds())/n, fmt.Sprintf("%v-cpu-µs", t))
			}
			if cpu[0] > 0 && cpu[1] > 0 && cpu[2] > 0 && cpu[3] > 0 {
				b.ReportMetric(float64(cpu[3])/float64(cpu[0]), "Q8/F32")
				b.ReportMetric(float64(cpu[3])/float64(cpu[1]), "Q8/F16")
				b.ReportMetric(float64(cpu[4])/float64(cpu[0]), "BF16Dot/F32")
				b.ReportMetric(float64(cpu[4])/float64(cpu[2]), "BF16Dot/BF16")
				b.ReportMetric(float64(cpu[4])/float64(cpu[3]), "BF16Dot/Q8")
			}
			b.ReportMetric(float64(packed[3][0].Bytes())/float64(packed[0][0].Bytes()), "Q8/F32-bytes")
		})
	}
}
