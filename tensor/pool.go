package tensor

import (
	"math"
	"math/bits"
	"runtime"
	"sync"
)

// Intermediate tensors are recycled: Release hands a tensor's buffer back,
// and operations draw their results from the recycled ones instead of
// allocating (and zeroing) fresh memory. Steady-state inference through
// package nn, which releases every intermediate, then allocates only the
// small headers of its results (never reused, see freeHeader).
//
// Under the race detector, or with the build tag goformer_checkrelease,
// released storage is filled with NaN, so that a use after Release fails
// loudly instead of reading stale values (checkrelease.go).

// poolMin is the smallest buffer (in floats) worth recycling.
const poolMin = 64

// Tensor headers are never reused: a *Tensor is the caller's handle, and a
// handle that could come back as another tensor's would let a second
// Release of it free that other tensor. Released headers are emptied
// instead, which makes any later Release of them do nothing.

// newHeader returns a new empty tensor header.
func newHeader() *Tensor { return new(Tensor) }

// freeHeader empties t: a released tensor has no shape and no storage, and
// releasing it again does nothing.
func freeHeader(t *Tensor) { *t = Tensor{} }

// Buffers are pooled by capacity class: four classes per power of two
// (capacities 2^e·{1.25, 1.5, 1.75, 2}), so a recycled buffer wastes at
// most a quarter of its size.
var storePools [4 * 64]sync.Pool

// classFor returns the smallest class whose capacity holds n floats, and
// that capacity.
func classFor(n int) (int, int) {
	e := bits.Len(uint(max(n, 2) - 1)) // 2^(e-1) < n ≤ 2^e
	base := 1 << (e - 1)
	for q := 1; q < 4; q++ {
		if c := base + base*q/4; c >= n {
			return 4*(e-1) + q, c
		}
	}
	return 4 * e, 1 << e
}

// classOf returns the largest class whose capacity is at most c.
func classOf(c int) int {
	e := bits.Len(uint(c)) - 1 // 2^e ≤ c < 2^(e+1)
	base := 1 << e
	q := (c - base) * 4 / base // c ≥ base + base·q/4
	return 4*e + q
}

// Buffers of bigMin floats or more are kept in one shared list per class
// instead: a sync.Pool keeps one item per thread (P) where other threads
// cannot take it, so a large buffer released on one thread is missed by the
// next request made on another, and a second buffer of that size gets
// allocated. For the megabyte-sized intermediates of an encoder that nearly
// doubled the working memory. The lists age as sync.Pool does: a buffer not
// taken again between two garbage collections is dropped.
const bigMin = 64 << 10

// bigClass is the first class of bigPool (classes grow with capacity).
var bigClass = classOf(bigMin)

// bigPool holds the recycled large buffers by class: cur those put since
// the last collection, old those put before it.
var bigPool struct {
	sync.Mutex
	cur, old [4 * 64][]*[]float32
}

func poolGet(n int) (*[]float32, bool) {
	cls, _ := classFor(n)
	if cls >= bigClass {
		return bigGet(cls, n)
	}
	if p, ok := storePools[cls].Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p, true
	}
	return nil, false
}

func poolPut(p *[]float32) {
	d := (*p)[:cap(*p)]
	*p = d
	cls := classOf(cap(d))
	if cls >= bigClass {
		bigPool.Lock()
		bigPool.cur[cls] = append(bigPool.cur[cls], p)
		bigPool.Unlock()
		return
	}
	storePools[cls].Put(p)
}

// bigGet takes a buffer of class cls holding n floats from bigPool.
func bigGet(cls, n int) (*[]float32, bool) {
	bigPool.Lock()
	defer bigPool.Unlock()
	for _, l := range []*[]*[]float32{&bigPool.cur[cls], &bigPool.old[cls]} {
		if k := len(*l); k > 0 {
			p := (*l)[k-1]
			(*l)[k-1] = nil
			*l = (*l)[:k-1]
			if cap(*p) >= n {
				*p = (*p)[:n]
				return p, true
			}
		}
	}
	return nil, false
}

// ageBig drops the large buffers not taken since the previous collection
// and marks the others old; it runs after every garbage collection.
func ageBig() {
	bigPool.Lock()
	defer bigPool.Unlock()
	for i := range bigPool.cur {
		clear(bigPool.old[i])
		bigPool.old[i], bigPool.cur[i] = bigPool.cur[i], bigPool.old[i][:0]
	}
}

// gcSentinel is garbage as soon as it is made: its finalizer runs after
// each collection and arms the next one.
type gcSentinel struct{ _ *int }

func armAging() {
	runtime.SetFinalizer(&gcSentinel{}, func(*gcSentinel) {
		ageBig()
		armAging()
	})
}

func init() { armAging() }

// newUninit returns a contiguous tensor whose elements are unspecified
// (recycled storage when available): for results that are fully written.
func newUninit(shape ...int) *Tensor {
	n := numel(shape)
	if n < poolMin {
		return New(shape...)
	}
	t := header(shape, nil)
	t.owned = true
	if p, ok := poolGet(n); ok {
		t.data, t.box = *p, p
		return t
	}
	_, c := classFor(n)
	t.data = make([]float32, n, c)
	return t
}

// takeShape returns a contiguous tensor of the given shape (same number of
// elements) holding the storage of t, a contiguous result that owns it, and
// recycles t's header: a reshape whose result stays releasable.
func takeShape(t *Tensor, shape ...int) *Tensor {
	out := header(shape, nil)
	out.data, out.owned, out.box = t.data[t.offset:t.offset+numel(shape)], t.owned, t.box
	freeHeader(t)
	return out
}

// newZeroed is newUninit with the elements set to zero.
func newZeroed(shape ...int) *Tensor {
	t := newUninit(shape...)
	clear(t.data)
	return t
}

// Release returns t's storage for reuse by later results when t owns it
// (a result of this package, not a view, not caller memory; on a device,
// the backend frees or recycles it), and empties t. Call it when nothing
// refers to t any more: t, and every view of t when t owns its storage,
// must not be used afterwards.
//
// What is guaranteed, in every build: releasing nil, a tensor wrapping
// caller memory (FromData), or a tensor already released does nothing;
// releasing a view (Reshape, Slice, Index, Transpose, Permute, Expand,
// Contiguous of a contiguous view) empties the view and leaves the storage
// it shows alone, also after its parent was released. A released tensor
// is never handed out again as another result, so a stray second Release
// cannot free a live tensor. Releasing is optional; unreleased tensors are
// garbage collected as usual.
func Release(t *Tensor) {
	if t == nil {
		return
	}
	if t.dev != nil && t.owned {
		t.dev.be.Release(t)
		freeHeader(t)
		return
	}
	releaseHost(t)
}

// releaseHost is Release of host storage (also the checking device's).
func releaseHost(t *Tensor) {
	switch {
	case t.owned:
		if checkRelease {
			poison(t.data[:cap(t.data)])
		}
		if cap(t.data) >= poolMin {
			box := t.box
			if box == nil {
				box = new([]float32)
			}
			*box = t.data
			poolPut(box)
		}
	case t.view:
	default:
		return
	}
	freeHeader(t)
}

// FreeScratch drops the recycled storage held for reuse (it is otherwise
// kept until two garbage collections pass without it being used). Call it
// between phases that need different working memory, for example after an
// encoder has run and before a long decoding loop that will not reuse the
// encoder's large buffers, to keep peak memory down.
func FreeScratch() {
	for i := range storePools {
		for storePools[i].Get() != nil {
		}
	}
	bigPool.Lock()
	for i := range bigPool.cur {
		bigPool.cur[i], bigPool.old[i] = nil, nil
	}
	bigPool.Unlock()
}

// jobPool recycles the parameter blocks of parallel loops (jobs), so that
// starting a loop allocates nothing.
type jobPool[T any] struct{ p sync.Pool }

func (jp *jobPool[T]) get() *T {
	if v, ok := jp.p.Get().(*T); ok {
		return v
	}
	return new(T)
}

// put clears v (dropping its references) and keeps it for reuse.
func (jp *jobPool[T]) put(v *T) {
	var zero T
	*v = zero
	jp.p.Put(v)
}

// poison fills released storage with NaN (when checkRelease is set).
func poison(d []float32) {
	nan := float32(math.NaN())
	for i := range d {
		d[i] = nan
	}
}
