package testdata

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// DecodeJSON decodes the JSON file at path into v; the error names the file.
func DecodeJSON(path string, v any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// ReadJSON decodes the JSON file at path into v, failing tb when it cannot
// be read or decoded.
func ReadJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	if err := DecodeJSON(path, v); err != nil {
		tb.Fatal(err)
	}
}

// Cases decodes fixtures/<fixture>/cases.json into v and returns the
// fixture's directory. A missing fixture skips the test like Fixture.
func Cases(tb testing.TB, fixture string, v any) string {
	tb.Helper()
	dir := Fixture(tb, fixture)
	ReadJSON(tb, filepath.Join(dir, "cases.json"), v)
	return dir
}

// Lazy is a value that the tests of a package build once (a loaded
// tokenizer or model, a decoded golden file) and share.
type Lazy[T any] struct {
	once sync.Once
	v    T
	err  error
}

// Get returns the value, building it with build on the first call. When
// building failed, every call fails tb with that error.
func (l *Lazy[T]) Get(tb testing.TB, build func() (T, error)) T {
	tb.Helper()
	l.once.Do(func() { l.v, l.err = build() })
	if l.err != nil {
		tb.Fatal(l.err)
	}
	return l.v
}
