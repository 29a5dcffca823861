package testdata

import "testing"

// CheckQ8Logits fails tb unless a, the accuracy of logits computed with
// int8 weights against the float32 ones, is within the documented budget:
// a relative error in (0, Q8Rel] (zero: the weights were not quantized)
// and a top-1 agreement of at least Q8Top1.
func CheckQ8Logits(tb testing.TB, what string, a Accuracy) {
	tb.Helper()
	if a.Rel > Q8Rel || a.Rel == 0 || a.Top1 < Q8Top1 {
		tb.Errorf("Q8 %s: relative error %.4f (want in (0, %g]), top-1 agreement %.3f (want ≥ %g)", what, a.Rel, Q8Rel, a.Top1, Q8Top1)
	}
}

// CheckQ8Rel fails tb unless rel, the relative error of values computed
// with int8 weights, is in (0, Q8Rel].
func CheckQ8Rel(tb testing.TB, what string, rel float64) {
	tb.Helper()
	if rel > Q8Rel || rel == 0 {
		tb.Errorf("Q8 %s: relative error %.4f, want in (0, %g]", what, rel, Q8Rel)
	}
}
