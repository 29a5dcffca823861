package expected

import (
	"errors"
	"fmt"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/tensor"
)

func TestMissingWeights(t *testing.T) {
	err := fmt.Errorf("load: %w: a.weight, b.bias", checkpoint.ErrMissingWeights)
	for _, c := range []struct {
		name  string
		err   error
		names []string
		fail  bool
	}{
		{"every name", err, []string{"a.weight", "b.bias"}, false},
		{"a name missing", err, []string{"a.weight", "c.weight"}, true},
		{"another error", errors.New("a.weight"), []string{"a.weight"}, true},
		{"no error", nil, nil, true},
	} {
		if f := fails(t, func(tb testing.TB) { MissingWeights(tb, c.err, c.names...) }); f != c.fail {
			t.Errorf("%s: failed %v, want %v", c.name, f, c.fail)
		}
	}
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

func TestCloseKeepsStore(t *testing.T) {
	newStore := func() *checkpoint.Store {
		return checkpoint.NewStore("test", map[string]*tensor.Tensor{"a": tensor.New(2), "b": tensor.New(3)})
	}
	s := newStore()
	for _, c := range []struct {
		name string
		m    closerFunc
		fail bool
	}{
		{"leaves the store", func() error { return nil }, false},
		{"Close fails", func() error { return errors.New("boom") }, true},
		{"takes tensors away", func() error { s.Delete("b"); return nil }, true},
	} {
		if f := fails(t, func(tb testing.TB) { CloseKeepsStore(tb, c.m, s) }); f != c.fail {
			t.Errorf("%s: failed %v, want %v", c.name, f, c.fail)
		}
	}
	dir := t.TempDir()
	if f := fails(t, func(tb testing.TB) { StoreAndConfig(tb, dir, func(string) (int, error) { return 0, nil }) }); !f {
		t.Error("StoreAndConfig of a folder without weights did not fail")
	}
}

func TestWithout(t *testing.T) {
	s := checkpoint.NewStore("test", map[string]*tensor.Tensor{"a": tensor.New(2), "b": tensor.New(3), "c": tensor.New(1)})
	w := Without(t, s, "b")
	if got := w.Names(); len(got) != 2 || got[0] != "a" || got[1] != "c" {
		t.Errorf("Without(b) holds %v", got)
	}
	if s.Len() != 3 {
		t.Errorf("Without changed the store: %v", s.Names())
	}
	if !fails(t, func(tb testing.TB) { Without(tb, s, "d") }) {
		t.Error("leaving out a tensor the store lacks did not fail")
	}
}
