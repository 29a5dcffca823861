package expected

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/goformer/goformer/tensor"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failed = append(r.failed, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	panic(r)
}
func (r *recorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

// fails runs f with a recorder and returns whether it recorded a failure.
func fails(t *testing.T, f func(tb testing.TB)) (failed bool) {
	r := &recorder{TB: t}
	defer func() {
		if p := recover(); p != nil && p != r {
			panic(p)
		}
		failed = len(r.failed) > 0
	}()
	f(r)
	return false
}

func TestSameBits(t *testing.T) {
	d := tensor.NewCheckingDevice()
	host := tensor.MustFromData([]float32{1, 2, 3, 4}, 2, 2)
	same := d.MustUpload(host)
	other := d.MustUpload(tensor.MustFromData([]float32{1, 2, 3, 4.5}, 2, 2))
	reshaped := d.MustUpload(tensor.MustFromData([]float32{1, 2, 3, 4}, 4))
	for _, c := range []struct {
		name string
		got  *tensor.Tensor
		fail bool
	}{
		{"identical", same, false},
		{"one value differs", other, true},
		{"another shape", reshaped, true},
		{"on the host", host, true},
	} {
		if f := fails(t, func(tb testing.TB) { SameBits(tb, c.name, host, c.got) }); f != c.fail {
			t.Errorf("%s: failed %v, want %v", c.name, f, c.fail)
		}
	}
	if fails(t, func(tb testing.TB) { SameRows(tb, "rows", [][]float32{{1, 2}}, [][]float32{{1, 2}}) }) {
		t.Error("SameRows failed on identical rows")
	}
	if !fails(t, func(tb testing.TB) { SameRows(tb, "rows", [][]float32{{1, 2}}, [][]float32{{1, 2}, {3}}) }) {
		t.Error("SameRows passed rows of another count")
	}
}

func TestOnDevice(t *testing.T) {
	d := tensor.NewCheckingDevice()
	host := tensor.MustFromData([]float32{1, 2, 3}, 3)
	var x *tensor.Tensor
	tr := OnDevice(t, d, "upload", func() error {
		x = d.MustUpload(host)
		_, err := tensor.ToHost(x)
		return err
	})
	want := tensor.Transfers{Uploads: 1, UploadBytes: 12, Downloads: 1, DownloadBytes: 12}
	if fails(t, func(tb testing.TB) { ExactTransfers(tb, "upload", tr, want) }) {
		t.Errorf("transfers %+v, want %+v", tr, want)
	}
	if !fails(t, func(tb testing.TB) { ExactTransfers(tb, "upload", tr, tensor.Transfers{Uploads: 1}) }) {
		t.Error("ExactTransfers passed other transfers")
	}
	if !fails(t, func(tb testing.TB) { OnDevice(tb, d, "read", func() error { _ = x.Data(); return nil }) }) {
		t.Error("OnDevice passed a host read of device storage")
	}
	if !fails(t, func(tb testing.TB) { OnDevice(tb, d, "error", func() error { return errors.New("no") }) }) {
		t.Error("OnDevice passed an error")
	}
	step := tensor.Transfers{Uploads: 1, Downloads: 3, DownloadBytes: 3 * 4 * 2 * 10}
	if fails(t, func(tb testing.TB) { CheckStepTransfers(tb, "gen", step, 1, 3, 2, 10) }) {
		t.Error("CheckStepTransfers failed within the bounds")
	}
	for _, c := range []struct {
		maxUp, maxSteps int64
		rows            int
	}{{0, 3, 2}, {1, 2, 2}, {1, 3, 1}} {
		if !fails(t, func(tb testing.TB) { CheckStepTransfers(tb, "gen", step, c.maxUp, c.maxSteps, c.rows, 10) }) {
			t.Errorf("CheckStepTransfers passed %+v against %+v", step, c)
		}
	}
}

func TestSameAndSameValues(t *testing.T) {
	x := tensor.MustFromData([]float32{1, 2, 3, 4}, 2, 2)
	ident := func(v *tensor.Tensor) (*tensor.Tensor, error) { return v, nil }
	for _, c := range []struct {
		name string
		b    *tensor.Tensor
		fail bool
	}{
		{"identical", x.Clone(), false},
		{"a value differs", tensor.MustFromData([]float32{1, 2, 3, 4.5}, 2, 2), true},
		{"another shape", tensor.MustFromData([]float32{1, 2, 3, 4}, 4), true},
	} {
		if f := fails(t, func(tb testing.TB) { SameValues(tb, c.name, x, c.b, ident) }); f != c.fail {
			t.Errorf("SameValues, %s: failed %v, want %v", c.name, f, c.fail)
		}
	}
	words := func(s string) ([]string, error) {
		if s == "" {
			return nil, errors.New("empty")
		}
		return strings.Fields(s), nil
	}
	for _, c := range []struct {
		a, b string
		fail bool
	}{{"a b", "a  b", false}, {"a b", "a c", true}, {"a", "", true}} {
		if f := fails(t, func(tb testing.TB) { Same(tb, "words", c.a, c.b, words) }); f != c.fail {
			t.Errorf("Same(%q, %q): failed %v, want %v", c.a, c.b, f, c.fail)
		}
	}
}
