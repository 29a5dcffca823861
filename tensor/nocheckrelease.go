//go:build !race && !goformer_checkrelease

package tensor

const checkRelease = false
