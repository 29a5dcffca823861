package testdata

import (
	"errors"
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
