package testdata

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDecodeJSON(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(good, []byte(`{"a": [1, 2]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(`{"a": `), 0o644); err != nil {
		t.Fatal(err)
	}
	var v struct{ A []int }
	if err := DecodeJSON(good, &v); err != nil || len(v.A) != 2 || v.A[1] != 2 {
		t.Fatalf("DecodeJSON(good) = %v, %+v", err, v)
	}
	if err := DecodeJSON(bad, &v); err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Fatalf("DecodeJSON(bad) = %v, want an error naming the file", err)
	}
	if err := DecodeJSON(filepath.Join(dir, "none.json"), &v); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("DecodeJSON(missing) = %v, want os.ErrNotExist", err)
	}
}

func TestLazyBuildsOnce(t *testing.T) {
	var l Lazy[int]
	calls := 0
	build := func() (int, error) { calls++; return 42, nil }
	for range 3 {
		if v := l.Get(t, build); v != 42 {
			t.Fatalf("Get = %d, want 42", v)
		}
	}
	if calls != 1 {
		t.Fatalf("build ran %d times, want 1", calls)
	}
}

type validated struct{ err error }

func (v validated) Validate() error { return v.err }

func TestParsed(t *testing.T) {
	errA, errB := errors.New("a"), errors.New("b")
	r := &failRecorder{TB: t}
	if !Parsed(r, validated{}, nil, errA) || r.failed {
		t.Fatal("a valid config: not accepted")
	}
	if Parsed(r, validated{}, fmt.Errorf("x: %w", errA), errB, errA) || r.failed {
		t.Fatal("an error wrapping a sentinel: accepted, or a failure")
	}
	for _, c := range []struct {
		v   validated
		err error
	}{{validated{errA}, nil}, {validated{}, errA}} {
		r := &failRecorder{TB: t}
		func() {
			defer func() { recover() }()
			Parsed(r, c.v, c.err, errB)
		}()
		if !r.failed {
			t.Errorf("%+v, %v: no failure", c.v, c.err)
		}
	}
}

// failRecorder is a testing.TB whose Fatalf records the failure and
// stops the caller with a panic.
type failRecorder struct {
	testing.TB
	failed bool
}

func (r *failRecorder) Helper() {}
func (r *failRecorder) Fatalf(string, ...any) {
	r.failed = true
	panic(r)
}
