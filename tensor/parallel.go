package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

var threads atomic.Int32

func init() { threads.Store(int32(runtime.GOMAXPROCS(0))) }

// SetThreads sets how many goroutines kernels may use (at least 1). It
// returns the previous value. The default is GOMAXPROCS at start-up.
func SetThreads(n int) int {
	if n < 1 {
		n = 1
	}
	return int(threads.Swap(int32(n)))
}

// Threads returns the number of goroutines kernels may use on the host
// (a CPU device made by NewCPUDevice has its own count).
func Threads() int { return int(threads.Load()) }

// workers returns the goroutines a kernel may use: th when positive (the
// count of the CPU device the operands belong to, see NewCPUDevice),
// otherwise the process-wide Threads().
func workers(th int) int {
	if th > 0 {
		return th
	}
	return Threads()
}

// Parallel splits [0, n) into contiguous chunks of at least grain items and
// runs fn on them across up to Threads() goroutines, returning when all are
// done. fn must be safe to call concurrently on disjoint ranges. Chunks are
// handed out dynamically (a few per goroutine), so a goroutine slowed down
// by other load on the machine does not hold the others up.
func Parallel(n, grain int, fn func(lo, hi int)) { parallelRange(0, n, grain, rangeFunc(fn)) }

// rangeRunner is the body of a parallel loop over ranges: runRange(lo, hi)
// does [lo, hi). Kernels pass recycled jobs (pointers) so that a loop
// allocates nothing; Parallel passes its function.
type rangeRunner interface{ runRange(lo, hi int) }

type rangeFunc func(lo, hi int)

func (f rangeFunc) runRange(lo, hi int) { f(lo, hi) }

// parallelRange is Parallel over a rangeRunner on up to workers(th)
// goroutines.
func parallelRange(th, n, grain int, fn rangeRunner) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	w := workers(th)
	maxChunks := max(1, n/grain)
	if w > maxChunks {
		w = maxChunks
	}
	if w <= 1 {
		fn.runRange(0, n)
		return
	}
	chunks := min(maxChunks, 4*w)
	runRanges(w, chunks, n, fn)
}

// chunkRunner is the body of a parallel loop: runChunk(i) does chunk i.
type chunkRunner interface{ runChunk(i int) }

// Parallel loops run on the calling goroutine plus helper goroutines that
// are started once and kept: a loop offers itself to the helpers, runs
// chunks until none are left, and then waits only for the helpers that
// joined it. A helper busy elsewhere simply does not join, so loops may
// nest (a chunk may run a parallel loop) and run from many goroutines at
// once without deadlock or oversubscription, and a loop allocates nothing
// (loops are recycled; a stale offer of a recycled loop at most joins the
// loop it now holds, which is harmless).
type loop struct {
	next   atomic.Int32
	chunks int32
	// The body: body.runChunk(i), or rangeFn on the i-th of chunks equal
	// parts of [0, rangeN).
	body    chunkRunner
	rangeFn rangeRunner
	rangeN  int
	// state counts the helpers working on the loop (low 32 bits) and has
	// loopClosed set once the caller has finished: no helper joins after.
	state atomic.Int64
	done  chan struct{} // receives once when the last helper leaves a closed loop
}

const loopClosed = int64(1) << 32

var (
	loopPool = sync.Pool{New: func() any {
		l := &loop{done: make(chan struct{}, 1)}
		l.state.Store(loopClosed)
		return l
	}}
	offers     = make(chan *loop, 256)
	helperMu   sync.Mutex
	helpersRun atomic.Int32
)

// ensureHelpers starts helper goroutines until n are running.
func ensureHelpers(n int) {
	if int(helpersRun.Load()) >= n {
		return
	}
	helperMu.Lock()
	defer helperMu.Unlock()
	for int(helpersRun.Load()) < n {
		helpersRun.Add(1)
		go helper()
	}
}

func helper() {
	for {
		l := nextOffer()
		if !l.join() {
			continue
		}
		l.work()
		l.leave()
	}
}

// spinFor is how long a goroutine of a parallel loop waits actively
// before it parks: an idle helper looking for the next offer, and a caller
// waiting for the helpers still on its last chunks. A model runs its
// operations back to back (a decoding step is some fifty parallel loops,
// many of them 5–30 µs long, a few µs apart), and a park costs a wake-up
// through the scheduler and the OS, tens of µs on a virtual machine: a
// helper that parked between loops joined the next one only after the
// caller had done it alone, and a caller parked on its helpers was woken
// onto the helper's processor and waited there until another one stole it.
// While it waits, a goroutine yields its processor every spinYield so that
// other goroutines queued there still run.
const (
	spinFor   = 200 * time.Microsecond
	spinYield = 20 * time.Microsecond
)

// spinner paces an active wait: next reports whether to keep waiting,
// yielding the processor from time to time, until spinFor has passed.
type spinner struct {
	start, yielded time.Time
	n              int
}

func (s *spinner) next() bool {
	s.n++
	if s.n&63 != 0 {
		return true
	}
	now := time.Now()
	if s.start.IsZero() {
		s.start, s.yielded = now, now
		return true
	}
	if now.Sub(s.start) > spinFor {
		return false
	}
	if now.Sub(s.yielded) > spinYield {
		runtime.Gosched()
		s.yielded = time.Now()
	}
	return true
}

// nextOffer returns the next loop offered to the helpers.
func nextOffer() *loop {
	var sp spinner
	for sp.next() {
		select {
		case l := <-offers:
			return l
		default:
		}
	}
	return <-offers
}

// wait returns once every helper that joined the closed loop l has left.
func (l *loop) wait() {
	var sp spinner
	for l.state.Load() != loopClosed && sp.next() {
	}
	// The last helper to leave sends on done after its count reaches
	// zero, so the receive is immediate once the count reads zero.
	<-l.done
}

func (l *loop) join() bool {
	for {
		s := l.state.Load()
		if s&loopClosed != 0 {
			return false
		}
		if l.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

func (l *loop) leave() {
	if s := l.state.Add(-1); s == loopClosed {
		l.done <- struct{}{}
	}
}

func (l *loop) work() {
	for {
		i := l.next.Add(1) - 1
		if i >= l.chunks {
			return
		}
		if l.body != nil {
			l.body.runChunk(int(i))
		} else {
			n, c := l.rangeN, int(l.chunks)
			l.rangeFn.runRange(int(i)*n/c, (int(i)+1)*n/c)
		}
	}
}

// runChunks runs fn(0), …, fn(chunks−1) on up to w goroutines (the
// caller's included), handing chunks out in order as goroutines become
// free.
func runChunks(w, chunks int, body chunkRunner) {
	if chunks <= 0 {
		return
	}
	if w <= 1 || chunks == 1 {
		for i := 0; i < chunks; i++ {
			body.runChunk(i)
		}
		return
	}
	runLoop(w, chunks, body, nil, 0)
}

// runRanges runs fn on chunks equal parts of [0, n) on up to w goroutines.
func runRanges(w, chunks, n int, fn rangeRunner) {
	if chunks <= 0 {
		return
	}
	if w <= 1 || chunks == 1 {
		for i := 0; i < chunks; i++ {
			fn.runRange(i*n/chunks, (i+1)*n/chunks)
		}
		return
	}
	runLoop(w, chunks, nil, fn, n)
}

// loopWidth, when set (by tests), receives the number of goroutines each
// parallel loop may use.
var loopWidth func(w int)

func runLoop(w, chunks int, body chunkRunner, rangeFn rangeRunner, rangeN int) {
	if loopWidth != nil {
		loopWidth(min(w, chunks))
	}
	want := min(w, chunks) - 1
	ensureHelpers(want)
	l := loopPool.Get().(*loop)
	l.body, l.rangeFn, l.rangeN, l.chunks = body, rangeFn, rangeN, int32(chunks)
	l.next.Store(0)
	l.state.Store(0) // open: helpers may join from here on
	for t := 0; t < want; t++ {
		select {
		case offers <- l:
		default:
			t = want
		}
	}
	l.work()
	if s := l.state.Add(loopClosed); s != loopClosed {
		l.wait() // helpers still on their last chunk
	}
	l.body, l.rangeFn = nil, nil
	loopPool.Put(l)
}
