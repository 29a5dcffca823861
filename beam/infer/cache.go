package infer

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/goformer/goformer"
	"github.com/goformer/goformer/tensor"
)

// The process-wide model cache. Every DoFn instance of a worker process
// that asks for the same model (reference and load options) shares one
// loaded model: bundles run by the same worker do not load it again.
// Entries are reference-counted by the DoFns' Setup and Teardown; the model
// is closed when the last user lets go of it.
var models = struct {
	sync.Mutex
	m map[string]*entry
}{m: map[string]*entry{}}

// entry is one cached model.
type entry struct {
	key  string
	refs int // under models' lock

	load  sync.Mutex // held while loading, so that one load runs per key
	model goformer.Model
	err   error
	done  bool

	// slots bounds the model calls running at once in this process: the
	// worker's inference parallelism.
	slots chan struct{}
}

// loadSpec says what to load and how.
type loadSpec struct {
	ref        string
	weightType string
}

func (l loadSpec) key() string { return l.ref + "\x00" + strings.ToLower(l.weightType) }

// parseWeightType maps "", "f32", "f16" and "bf16" to a tensor.WeightType.
func parseWeightType(s string) (tensor.WeightType, error) {
	switch strings.ToLower(s) {
	case "", "f32", "float32":
		return tensor.WeightF32, nil
	case "f16", "float16":
		return tensor.WeightF16, nil
	case "bf16", "bfloat16":
		return tensor.WeightBF16, nil
	}
	return 0, fmt.Errorf("goformer/beam: weight type %q (want f32, f16 or bf16)", s)
}

// loadModel is how entries load; tests may count calls through it.
var loadModel = func(ctx context.Context, l loadSpec) (goformer.Model, error) {
	wt, err := parseWeightType(l.weightType)
	if err != nil {
		return nil, err
	}
	return goformer.Load(ctx, l.ref, goformer.WithWeightType(wt))
}

// acquire returns the cached model for l, loading it on first use, and
// takes a reference to it. parallelism sizes the entry's call slots when
// this call creates the entry (later callers share the first one's).
func acquire(ctx context.Context, l loadSpec, parallelism int) (*entry, error) {
	if parallelism < 1 {
		parallelism = 1
	}
	k := l.key()
	models.Lock()
	e := models.m[k]
	if e == nil {
		e = &entry{key: k, slots: make(chan struct{}, parallelism)}
		models.m[k] = e
	}
	e.refs++
	models.Unlock()

	e.load.Lock()
	defer e.load.Unlock()
	if !e.done {
		e.model, e.err = loadModel(ctx, l)
		e.done = true
	}
	if e.err != nil {
		err := e.err
		release(e)
		return nil, err
	}
	return e, nil
}

// release drops a reference taken by acquire, closing the model and
// forgetting the entry when it was the last (a failed load is forgotten
// too, so that a later Setup tries again).
func release(e *entry) {
	models.Lock()
	e.refs--
	last := e.refs == 0
	if last && models.m[e.key] == e {
		delete(models.m, e.key)
	}
	models.Unlock()
	if last && e.model != nil {
		e.model.Close()
	}
}

// call runs f while holding one of the entry's call slots.
func (e *entry) call(ctx context.Context, f func() error) error {
	select {
	case e.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-e.slots }()
	return f()
}

// cachedModels returns the number of models in the cache (for tests).
func cachedModels() int {
	models.Lock()
	defer models.Unlock()
	return len(models.m)
}
