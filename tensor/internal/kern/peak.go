package kern

// PeakFLOPs runs a register-only FMA loop of about n floating-point
// operations with the widest vectors this CPU has and returns the number it
// ran (0 where there are no assembly kernels). Benchmarks time it next to a
// kernel to report the fraction of the machine's attainable peak.
func PeakFLOPs(n int) int {
	if len(sets) == 0 {
		return 0
	}
	return peakFLOPs(n)
}
