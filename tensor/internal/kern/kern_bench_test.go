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

// BenchmarkMicroQ8 is the int8 micro-kernel on L1-resident operands (one
// K block of 256), in int8 GOP/s (2 per multiply-add) and as a multiple of
// the float32 FMA peak measured alongside (VPDPBUSD does 4 multiply-adds
// per 32-bit lane: 4 is the ideal where both issue at the same rate).
func BenchmarkMicroQ8(b *testing.B) {
	if len(q8sets) == 0 {
		b.Skip("skipping: missing CPU instruction: this CPU has neither AVX512-VNNI nor AVX2: there is no int8 assembly kernel to measure")
	}
	for _, set := range q8sets {
		for _, mr := range []int{1, 2, 4, 8, 14} {
			if mr > set.MR {
				continue
			}
			benchMicroQ8(b, set, mr)
		}
	}
}

func benchMicroQ8(b *testing.B, set *Q8Set, mr int) {
	{
		b.Run(fmt.Sprintf("%s/%d", set.Name, mr), func(b *testing.B) {
			kq := Q8Block / 4
			a := make([]byte, 14*4*kq)
			bb := make([]byte, 128*kq)
			c := make([]float32, 14*32)
			sa, corr, sw := make([]float32, 14), make([]int32, 14), make([]float32, 32)
			k := set.M[mr]
			g, f := interleaved(func() {
				k(kq, &a[0], 4*kq, &bb[0], &c[0], 32, &sa[0], &corr[0], 1, &sw[0], nil, 0xffffffff, 1)
			}, float64(2*mr*32*4*kq), 300*time.Millisecond)
			b.ReportMetric(g, "GOP/s")
			b.ReportMetric(f, "×FMA-peak")
		})
	}
}

// BenchmarkMicroBF16 is the bfloat16 micro-kernel on L1-resident operands
// (128 K pairs), in GFLOP/s (2 per multiply-add) and as a multiple of the
// float32 FMA peak measured alongside (VDPBF16PS does 2 multiply-adds per
// 32-bit lane: 2 is the ideal where both issue at the same rate). mr×w
// names the wide kernels (w columns).
func BenchmarkMicroBF16(b *testing.B) {
	if len(bf16sets) == 0 {
		b.Skip(noBF16)
	}
	for _, set := range bf16sets {
		for _, mr := range []int{1, 2, 3, 4, 5, 8, 14} {
			kp := 128
			a := make([]uint16, 14*2*kp)
			bb := make([]uint16, 4*64*kp)
			c := make([]float32, 14*128)
			b.Run(fmt.Sprintf("%s/%d", set.Name, mr), func(b *testing.B) {
				g, f := interleaved(func() {
					set.M[mr](kp, &a[0], 2*kp, &bb[0], 0, &c[0], 128, nil, 0xffffffff, 1)
				}, float64(2*mr*32*2*kp), 300*time.Millisecond)
				b.ReportMetric(g, "GFLOP/s")
				b.ReportMetric(f, "×FMA-peak")
			})
			if w := set.Wide[mr]; w.NP > 1 {
				b.Run(fmt.Sprintf("%s/%dx%d", set.Name, mr, 32*w.NP), func(b *testing.B) {
					g, f := interleaved(func() {
						w.K(kp, &a[0], 2*kp, &bb[0], 128*kp, &c[0], 128, nil, 0, 1)
					}, float64(2*mr*32*w.NP*2*kp), 300*time.Millisecond)
					b.ReportMetric(g, "GFLOP/s")
					b.ReportMetric(f, "×FMA-peak")
				})
			}
		}
	}
}
