package tensor

// The assembly GEMM becomes the kernel behind Gemm where the CPU has one
// (kern.Best is nil on other architectures and with the purego tag, where
// GemmRef stays in place). SetGemm(nil) still restores GemmRef.
func init() {
	if fastSet != nil {
		gemmImpl, gemmThreads = gemmFast, gemmFastThreads
	}
}

// GemmKernel names the kernel set behind Gemm ("avx512", "avx2" or
// "go" for the portable reference).
func GemmKernel() string {
	if fastSet == nil {
		return "go"
	}
	return fastSet.Name
}
