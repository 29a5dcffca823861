//go:build race || goformer_checkrelease

package tensor

// checkRelease is set under the race detector and with the build tag
// goformer_checkrelease: released storage is filled with NaN, so that a
// use after Release fails loudly (NaN results) instead of reading stale
// values. (Released headers are emptied and never reused in every build.)
// CI runs the model tests this way.
const checkRelease = true
