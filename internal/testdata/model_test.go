package testdata

import (
	"path/filepath"
	"testing"
)

type closer struct {
	path, opt string
	closed    *int
}

func (c closer) Close() error { *c.closed++; return nil }

func TestLoadModel(t *testing.T) {
	closed := 0
	t.Run("load", func(t *testing.T) {
		c := LoadModel(t, "fx", func(path string, opts ...string) (closer, error) {
			return closer{path, opts[0], &closed}, nil
		}, "opt")
		if c.path != filepath.Join("fx", "model") || c.opt != "opt" || closed != 0 {
			t.Errorf("loaded %+v, %d closed", c, closed)
		}
	})
	if closed != 1 {
		t.Errorf("closed %d times when the test ended, want 1", closed)
	}
}
