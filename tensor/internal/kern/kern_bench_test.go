//go:build amd64 && !purego

package kern

import (
	"fmt"
	"testing"
	"time"
)

// interleaved runs f (doing flops per call) and the FMA peak loop alternately
// in short slices and returns f's GFLOP/s and its fraction of the peak
// measured alongside, which is robust to other load on a shared machine.
func interleaved(f func(), flops float64, d time.Duration) (gflops, frac float64) {
	var tf, tp time.Duration
	var nf, np float64
	for start := time.Now(); time.Since(start) < d; {
		t0 := time.Now()
		for i := 0; i < 20; i++ {
			f()
		}
		tf += time.Since(t0)
		nf += 20 * flops
		t0 = time.Now()
		PeakFMA512(int(flops / 384 * 20 / 4))
		tp += time.Since(t0)
		np += float64(int(flops/384*20/4)) * 384
	}
	gflops = nf / tf.Seconds() / 1e9
	return gflops, gflops / (np / tp.Seconds() / 1e9)
}

func BenchmarkMicro512(b *testing.B) {
	for _, kc := range []int{128, 192, 256, 384} {
		b.Run(fmt.Sprint(kc), func(b *testing.B) {
			a := make([]float32, 14*kc)
			bb := make([]float32, kc*32)
			c := make([]float32, 14*32)
			g, f := interleaved(func() {
				Sgemm512M14(kc, &a[0], kc, &bb[0], 128, &c[0], 32, 1, 1, nil, 0xffffffff, 1, nil)
			}, float64(2*14*32*kc), 300*time.Millisecond)
			b.ReportMetric(g, "GFLOP/s")
			b.ReportMetric(100*f, "%peak")
		})
	}
}
