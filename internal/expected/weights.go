package expected

import (
	"errors"
	"io"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/tensor"
)

// MissingWeights checks the error of loading a checkpoint that lacks
// tensors (or holds misshapen or unexpected ones): it fails tb at once
// unless err wraps checkpoint.ErrMissingWeights, and reports an error (the
// test goes on) for each of names that the error's message does not
// contain, since every problem must be reported in the one error.
func MissingWeights(tb testing.TB, err error, names ...string) {
	tb.Helper()
	if !errors.Is(err, checkpoint.ErrMissingWeights) {
		tb.Fatalf("error %v, want one wrapping checkpoint.ErrMissingWeights", err)
	}
	for _, name := range names {
		if !strings.Contains(err.Error(), name) {
			tb.Errorf("error does not name %s: %.300s", name, err)
		}
	}
}

// StoreAndConfig is what a family's New is given, from a fixture's model
// folder: dir's checkpoint opened as a store the test owns (closed when the
// test ends) and dir/config.json read with loadConfig (the family's
// LoadConfig).
func StoreAndConfig[C any](tb testing.TB, dir string, loadConfig func(path string) (C, error)) (*checkpoint.Store, C) {
	tb.Helper()
	cfg, err := loadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		tb.Fatal(err)
	}
	store, err := checkpoint.LoadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	return store, cfg
}

// CloseKeepsStore closes m, a model New built over store, and checks that
// the store stays the caller's: Close succeeds (twice) and every tensor of
// the store still reads (a released mapping would fault).
func CloseKeepsStore(tb testing.TB, m io.Closer, store *checkpoint.Store) {
	tb.Helper()
	names := store.Names()
	for i := 0; i < 2; i++ {
		if err := m.Close(); err != nil {
			tb.Fatalf("Close %d of a model built with New: %v", i+1, err)
		}
	}
	// Every value is read: a released mapping would fault.
	var sum float64
	for _, name := range names {
		t, ok := store.Get(name)
		if !ok {
			tb.Fatalf("after the model's Close, the store lost %s", name)
		}
		for _, v := range t.Contiguous().Data() {
			sum += float64(v)
		}
	}
	if math.IsInf(sum, 0) {
		tb.Logf("the store's values sum to %v", sum)
	}
}

// Without returns a new store holding store's tensors but names (which it
// must hold), for the tests that a model built without them names every
// one in its error.
func Without(tb testing.TB, store *checkpoint.Store, names ...string) *checkpoint.Store {
	tb.Helper()
	ts := map[string]*tensor.Tensor{}
	for _, n := range store.Names() {
		if t, ok := store.Get(n); ok {
			ts[n] = t
		}
	}
	for _, n := range names {
		if _, ok := ts[n]; !ok {
			tb.Fatalf("the store has no %s to leave out", n)
		}
		delete(ts, n)
	}
	return checkpoint.NewStore(store.Source+" (without "+strings.Join(names, ", ")+")", ts)
}
