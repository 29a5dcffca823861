//go:build cuda

package cuda

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/goformer/goformer/tensor"
)

// backend is the tensor.Backend of one CUDA device: a primary context,
// the compiled kernels, a cuBLAS handle and a caching allocator. All work
// goes to the context's default stream, in order.
type backend struct {
	d       *tensor.Device
	ordinal int
	info    deviceInfo
	libs    *libs
	c       ctx
	mem     *allocator
	mod     module
	fn      [numKernels]function
	blas    blasHandle
	blasMu  sync.Mutex
	opts    Options
	sync    bool
	closed  atomic.Bool
	closeMu sync.Mutex
}

// backend implements every operation of tensor.Backend, the family
// operations of tensor.ModelOps included: an operation added to the seam
// needs its kernel here before the build with -tags cuda compiles.
var _ tensor.Backend = (*backend)(nil)

// modules caches the compiled kernels by compute capability, so that a
// second device of the same kind loads them without compiling.
var (
	modulesMu sync.Mutex
	modules   = map[[2]int][]byte{}
)

func kernelImage(major, minor int) ([]byte, error) {
	modulesMu.Lock()
	defer modulesMu.Unlock()
	if img, ok := modules[[2]int{major, minor}]; ok {
		return img, nil
	}
	img, err := compile(kernelSource, "goformer_kernels.cu", major, minor)
	if err != nil {
		return nil, err
	}
	modules[[2]int{major, minor}] = img
	return img, nil
}

// Open returns CUDA device ordinal (0 is the first GPU) as a tensor
// device named "cuda:N": tensors uploaded to it (Device.Upload,
// Device.FromHost) live in its memory and every tensor operation on them
// runs there. The driver, cuBLAS and NVRTC are loaded at the first Open;
// anything missing (library, driver, device) is an error wrapping
// ErrNotAvailable that names it. Close frees the device's memory.
//
// Opening the same ordinal twice gives two independent devices (their
// tensors do not mix) on the same GPU.
func Open(ordinal int) (*tensor.Device, error) {
	return OpenWith(ordinal, Options{})
}

// OpenWith is Open with options.
func OpenWith(ordinal int, opts Options) (*tensor.Device, error) {
	l, err := loadLibraries()
	if err != nil {
		return nil, err
	}
	n, err := deviceCount()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotAvailable, err)
	}
	if ordinal < 0 || ordinal >= n {
		return nil, unavailable("no device cuda:%d: the driver (%s) reports %d CUDA device(s)", ordinal, l.driver, n)
	}
	info, err := getDevice(ordinal)
	if err != nil {
		return nil, fmt.Errorf("%w: cuda:%d: %v", ErrNotAvailable, ordinal, err)
	}
	c, err := retainContext(info.dev)
	if err != nil {
		return nil, fmt.Errorf("%w: cuda:%d (%s): %v", ErrNotAvailable, ordinal, info.name, err)
	}
	b := &backend{ordinal: ordinal, info: info, libs: l, c: c, opts: opts}
	b.sync = opts.Sync || os.Getenv("GOFORMER_CUDA_SYNC") == "1"
	fail := func(err error) (*tensor.Device, error) {
		if b.blas.h != nil {
			c.blasDestroy(b.blas)
		}
		if b.mod.m != nil {
			c.unloadModule(b.mod)
		}
		c.release()
		return nil, fmt.Errorf("cuda:%d (%s): %w", ordinal, info.name, err)
	}
	img, err := kernelImage(info.major, info.minor)
	if err != nil {
		return fail(err)
	}
	if b.mod, err = c.loadModule(img); err != nil {
		return fail(err)
	}
	for i, name := range kernelNames {
		if b.fn[i], err = b.mod.function(name); err != nil {
			return fail(err)
		}
	}
	if b.blas, err = c.blasCreate(); err != nil {
		return fail(err)
	}
	if opts.TensorCores {
		if err := b.blas.setMathMode(mathTF32); err != nil {
			return fail(err)
		}
	}
	b.mem = newAllocator(c)
	b.d = tensor.NewDevice(fmt.Sprintf("cuda:%d", ordinal), b)
	return b.d, nil
}

// Close frees all device memory of d (a device Open returned): its
// tensors, packed weights and packed keys/values must not be used
// afterwards (operations on them fail with ErrClosed), and Close must not
// run concurrently with operations on d. A second Close does nothing.
func Close(d *tensor.Device) error {
	b, err := backendOf(d)
	if err != nil {
		return err
	}
	return b.Close()
}

// Memory returns the memory figures of d, a device Open returned.
func Memory(d *tensor.Device) (MemoryStats, error) {
	b, err := backendOf(d)
	if err != nil {
		return MemoryStats{}, err
	}
	if err := b.live(); err != nil {
		return MemoryStats{}, err
	}
	var s MemoryStats
	s.InUse, s.Cached = b.mem.stats()
	s.Free, s.Total, err = b.c.memInfo()
	return s, err
}

// Available reports whether CUDA can be used: nil when the libraries load
// and at least one device is present, else why not (an error wrapping
// ErrNotAvailable).
func Available() error {
	if _, err := loadLibraries(); err != nil {
		return err
	}
	n, err := deviceCount()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotAvailable, err)
	}
	if n == 0 {
		return unavailable("the driver reports no CUDA device")
	}
	return nil
}

func backendOf(d *tensor.Device) (*backend, error) {
	if b, ok := d.Backend().(*backend); ok {
		return b, nil
	}
	return nil, fmt.Errorf("%w: %s is not a CUDA device", tensor.ErrDevice, d.Name())
}

// String describes the device.
func (b *backend) String() string {
	return fmt.Sprintf("cuda:%d (%s, compute capability %d.%d, %s, driver %d.%d, NVRTC %d.%d, cuBLAS %s)",
		b.ordinal, b.info.name, b.info.major, b.info.minor, byteSize(b.info.total),
		b.libs.driverVersion/1000, b.libs.driverVersion%1000/10, b.libs.nvrtcMajor, b.libs.nvrtcMin, b.libs.cublas)
}

// Close frees the device's memory, kernels and cuBLAS handle and releases
// its context.
func (b *backend) Close() error {
	b.closeMu.Lock()
	defer b.closeMu.Unlock()
	if b.closed.Load() {
		return nil
	}
	b.closed.Store(true)
	err := b.mem.close()
	b.blasMu.Lock()
	if e := b.c.blasDestroy(b.blas); err == nil {
		err = e
	}
	b.blasMu.Unlock()
	if e := b.c.unloadModule(b.mod); err == nil {
		err = e
	}
	if e := b.c.release(); err == nil {
		err = e
	}
	return err
}

// live returns ErrClosed (wrapped) after Close.
func (b *backend) live() error {
	if b.closed.Load() {
		return fmt.Errorf("%w: %s", ErrClosed, b.d.Name())
	}
	return nil
}

// launch runs kernel k on grid blocks of block threads.
func (b *backend) launch(k, grid, block int, p *params) error {
	if err := b.live(); err != nil {
		return err
	}
	if r := b.c.launch(b.fn[k], grid, 1, block, 0, p, b.sync); r != cuSuccess {
		return &cuError{op: "kernel " + kernelNames[k] + " on " + b.d.Name(), code: r}
	}
	return nil
}

// gridFor is the number of blocks of block threads for n elements
// (kernels loop over the grid, so it is capped).
func gridFor(n int64, block int) int {
	g := (n + int64(block) - 1) / int64(block)
	return int(max(1, min(g, 1<<20)))
}

// rowsGrid is the grid of a one-block-per-row kernel.
func rowsGrid(rows int) int { return max(1, min(rows, 1<<20)) }

// mustOK panics with err (for Backend methods without an error result).
func mustOK(err error) {
	if err != nil {
		panic(err)
	}
}
