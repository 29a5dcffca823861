package testdata

import "testing"

// CheckQ8Rel reports an error (the test goes on) unless rel, the relative
// error of values computed with int8 weights (features rather than
// logits, which CheckQ8 checks), is in (0, Q8Rel].
func CheckQ8Rel(tb testing.TB, what string, rel float64) {
	tb.Helper()
	if rel > Q8Rel || rel == 0 {
		tb.Errorf("Q8 %s: relative error %.4f, want in (0, %g]", what, rel, Q8Rel)
	}
}
