package testdata

import "testing"

// errRecorder is a testing.TB whose Errorf records the failure.
type errRecorder struct {
	testing.TB
	failed bool
}

func (r *errRecorder) Helper()               {}
func (r *errRecorder) Errorf(string, ...any) { r.failed = true }

func TestCheckQ8(t *testing.T) {
	for _, c := range []struct {
		a    Accuracy
		fail bool
	}{
		{Accuracy{Rel: Q8Rel / 2, Top1: 1}, false},
		{Accuracy{Rel: 0, Top1: 1}, true},
		{Accuracy{Rel: 2 * Q8Rel, Top1: 1}, true},
		{Accuracy{Rel: Q8Rel / 2, Top1: Q8Top1 / 2}, true},
	} {
		r := &errRecorder{TB: t}
		CheckQ8(r, "logits", c.a)
		if r.failed != c.fail {
			t.Errorf("CheckQ8(%+v): failed %v, want %v", c.a, r.failed, c.fail)
		}
		r = &errRecorder{TB: t}
		CheckQ8Rel(r, "features", c.a.Rel)
		if want := c.a.Rel == 0 || c.a.Rel > Q8Rel; r.failed != want {
			t.Errorf("CheckQ8Rel(%g): failed %v, want %v", c.a.Rel, r.failed, want)
		}
	}
}
