package testdata

import "testing"

// TimeCalls runs run once untimed (a warm-up: kernels loaded, caches and
// pools filled), then b.N times, and reports the milliseconds one call
// took as the metric "ms/"+per.
func TimeCalls(b *testing.B, per string, run func()) {
	b.Helper()
	run()
	b.ResetTimer()
	for range b.N {
		run()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/"+per)
}
