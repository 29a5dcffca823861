//go:build amd64 && !purego && !kerngen

package kern

func peakFLOPs(n int) int {
	if sets[0].Name == "avx512" {
		it := max(1, n/(12*32))
		PeakFMA512(it)
		return it * 12 * 32
	}
	it := max(1, n/(12*16))
	PeakFMA256(it)
	return it * 12 * 16
}
