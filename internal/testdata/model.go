package testdata

import (
	"io"
	"path/filepath"
	"testing"
)

// LoadModel loads the model of the fixture folder dir (its model/
// subfolder) with load, a family's Load, and closes it when the test ends;
// a load error fails tb.
func LoadModel[M io.Closer, O any](tb testing.TB, dir string, load func(string, ...O) (M, error), opts ...O) M {
	tb.Helper()
	m, err := load(filepath.Join(dir, "model"), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}
