//go:build race || goformer_checkrelease

package tensor

// checkRelease is set under the race detector and with the build tag
// goformer_checkrelease: released tensor headers are emptied and never
// reused, and released storage is filled with NaN, so that a use after
// Release fails loudly (an emptied tensor, NaN results) instead of reading
// another tensor. CI runs the model tests this way.
const checkRelease = true
