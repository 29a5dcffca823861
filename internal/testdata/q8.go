package testdata

import "testing"

// CheckQ8 reports an error (the test goes on) unless the accuracy of int8
// weights is within the documented budget: a relative error in (0, Q8Rel]
// (zero would mean the float32 weights ran) and a top-1 agreement of at
// least Q8Top1.
func CheckQ8(tb testing.TB, what string, a Accuracy) {
	tb.Helper()
	if a.Rel > Q8Rel || a.Rel == 0 || a.Top1 < Q8Top1 {
		tb.Errorf("Q8 %s: relative error %.4f (want in (0, %g]), top-1 agreement %.3f (want ≥ %g)", what, a.Rel, Q8Rel, a.Top1, Q8Top1)
	}
}
