package tensor

import (
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
)

// ErrDevice is wrapped by errors about where a tensor's storage lives: an
// operation mixing tensors of two devices, host access to device storage,
// an operation a backend cannot run.
var ErrDevice = errors.New("tensor: device")

// A Device is a place tensor storage lives and whole operations run. The
// nil *Device is the host: plain Go memory and this package's kernels, the
// default everywhere. Other devices are made by a Backend (NewDevice): the
// tensors they hold keep their storage where Data, At and Set cannot reach
// it (those panic with ErrDevice), every operation of this package on them
// is run by the backend, and moving data between the host and the device
// is explicit and counted (Upload, FromHost, ToHost).
//
// Tensors of one device combine only with tensors of the same device: an
// operation given operands of two devices panics or fails with ErrDevice.
// A Device is safe for concurrent use.
type Device struct {
	name string
	be   Backend

	uploads, downloads         atomic.Int64
	uploadBytes, downloadBytes atomic.Int64
}

// NewDevice returns a device named name whose storage and operations are
// be's. Backends call it; users get devices from a backend's constructor
// (NewCheckingDevice, or the cuda package behind the build tag cuda).
func NewDevice(name string, be Backend) *Device {
	return &Device{name: name, be: be}
}

// Name returns the device's name ("cpu" for the host).
func (d *Device) Name() string {
	if d == nil {
		return "cpu"
	}
	return d.name
}

// String is Name.
func (d *Device) String() string { return d.Name() }

// Backend returns the device's backend (nil for the host).
func (d *Device) Backend() Backend {
	if d == nil {
		return nil
	}
	return d.be
}

// Transfers is a count of the copies between host and device memory.
type Transfers struct {
	Uploads, Downloads         int64 // number of copies host → device and device → host
	UploadBytes, DownloadBytes int64
}

// Transfers returns how many copies between the host and d were made so
// far (all zero for the host).
func (d *Device) Transfers() Transfers {
	if d == nil {
		return Transfers{}
	}
	return Transfers{
		Uploads: d.uploads.Load(), Downloads: d.downloads.Load(),
		UploadBytes: d.uploadBytes.Load(), DownloadBytes: d.downloadBytes.Load(),
	}
}

// countUpload and countDownload record a transfer of n bytes (Upload,
// FromHost, ToHost, ArgmaxRows).
func (d *Device) countUpload(n int) {
	if d != nil {
		d.uploads.Add(1)
		d.uploadBytes.Add(int64(n))
	}
}

func (d *Device) countDownload(n int) {
	if d != nil {
		d.downloads.Add(1)
		d.downloadBytes.Add(int64(n))
	}
}

// Upload returns a copy of t on d (t itself when d is the host and t is on
// the host). A device tensor is first brought to the host.
func (d *Device) Upload(t *Tensor) (*Tensor, error) {
	if t == nil {
		return nil, nil
	}
	if t.dev == d {
		return t, nil
	}
	if t.dev != nil {
		h, err := ToHost(t)
		if err != nil {
			return nil, err
		}
		t = h
	}
	if d == nil {
		return t, nil
	}
	d.countUpload(4 * t.Len())
	return d.be.Upload(d, t)
}

// UploadInput is Upload for a call's input: it also returns a function
// that releases the copy, which does nothing when no copy was made (t was
// on d already). d may be nil, the host.
func (d *Device) UploadInput(t *Tensor) (*Tensor, func(), error) {
	u, err := d.Upload(t)
	if err != nil {
		return nil, nil, err
	}
	if u == t {
		return u, func() {}, nil
	}
	return u, func() { Release(u) }, nil
}

// MustUpload is Upload for tensors known to fit (weights at load time); it
// panics on failure.
func (d *Device) MustUpload(t *Tensor) *Tensor {
	u, err := d.Upload(t)
	if err != nil {
		panic(err)
	}
	return u
}

// FromHost returns a tensor on d holding a copy of data with the given
// shape (on the host: data itself, as FromData).
func (d *Device) FromHost(data []float32, shape ...int) (*Tensor, error) {
	t, err := FromData(data, shape...)
	if err != nil || d == nil {
		return t, err
	}
	d.countUpload(4 * len(data))
	return d.be.Upload(d, t)
}

// New returns a zero-filled tensor of the given shape on d.
func (d *Device) New(shape ...int) *Tensor {
	if d == nil {
		return New(shape...)
	}
	return d.be.Zeros(d, shape)
}

// Device returns the device holding t's storage (nil: the host).
func (t *Tensor) Device() *Device { return t.dev }

// OnHost reports whether t's storage is host memory (Data can read it).
func (t *Tensor) OnHost() bool { return t.dev == nil }

// ToHost returns t's elements in host memory as a new contiguous tensor: a
// download for a device tensor, counted by its device; a host tensor is
// returned as it is (not copied).
func ToHost(t *Tensor) (*Tensor, error) {
	if t == nil || t.dev == nil {
		return t, nil
	}
	t.dev.countDownload(4 * t.Len())
	return t.dev.be.Download(t)
}

// HostData returns t's elements in row-major order in host memory: Data
// for a host tensor, a counted download for a device tensor.
func HostData(t *Tensor) ([]float32, error) {
	h, err := ToHost(t)
	if err != nil {
		return nil, err
	}
	return h.Data(), nil
}

// deviceOf returns the device of the first operand not on the host (nil
// when all are host tensors); the backend checks that the others agree.
func deviceOf(ts ...*Tensor) *Device {
	for _, t := range ts {
		if t != nil && t.dev != nil {
			return t.dev
		}
	}
	return nil
}

func dev1(t *Tensor) *Device {
	if t == nil {
		return nil
	}
	return t.dev
}

func dev2(a, b *Tensor) *Device {
	if d := dev1(a); d != nil {
		return d
	}
	return dev1(b)
}

func dev3(a, b, c *Tensor) *Device {
	if d := dev2(a, b); d != nil {
		return d
	}
	return dev1(c)
}

// hostOnly panics with ErrDevice when t is a device tensor: for host
// accessors (Data, At, Set) and operations that take Go functions.
func hostOnly(t *Tensor, what string) {
	if t != nil && t.dev != nil {
		panic(fmt.Errorf("%w: %s of a tensor on %s (use ToHost)", ErrDevice, what, t.dev.name))
	}
}

// ElemOp is an elementwise binary operation (Add, Sub, Mul, Div).
type ElemOp uint8

// The elementwise operations.
const (
	OpAdd ElemOp = iota
	OpSub
	OpMul
	OpDiv
)

// Act names an activation function, so that a backend can run it: the
// functions Activation returns (and GELUExact, GELUTanh, QuickGELU, ReLU,
// Tanh, Sigmoid, SiLU passed directly) are known by name; other Go
// functions run on the host only.
type Act uint8

// The activations a backend runs.
const (
	ActNone Act = iota
	ActGELU
	ActGELUTanh
	ActQuickGELU
	ActReLU
	ActTanh
	ActSigmoid
	ActSiLU
)

var actFuncs = [...]func(float32) float32{
	ActNone: nil, ActGELU: GELUExact, ActGELUTanh: GELUTanh, ActQuickGELU: QuickGELU,
	ActReLU: ReLU, ActTanh: Tanh, ActSigmoid: Sigmoid, ActSiLU: SiLU,
}

var actByPointer = func() map[uintptr]Act {
	m := make(map[uintptr]Act, len(actFuncs))
	for a, f := range actFuncs {
		if f != nil {
			m[reflect.ValueOf(f).Pointer()] = Act(a)
		}
	}
	return m
}()

// Func returns the activation as a Go function (nil for ActNone).
func (a Act) Func() func(float32) float32 {
	if int(a) < len(actFuncs) {
		return actFuncs[a]
	}
	return nil
}

// ActOf returns the named activation f is (ActNone for nil); ok is false
// for a function this package does not know, which only the host runs.
func ActOf(f func(float32) float32) (a Act, ok bool) {
	if f == nil {
		return ActNone, true
	}
	a, ok = actByPointer[reflect.ValueOf(f).Pointer()]
	return a, ok
}

// mustAct is ActOf for operations on a device, which cannot run Go code.
func mustAct(d *Device, f func(float32) float32) Act {
	a, ok := ActOf(f)
	if !ok {
		panic(fmt.Errorf("%w: %s runs only named activations (tensor.Act), not an arbitrary Go function", ErrDevice, d.name))
	}
	return a
}

// Epilogue is what a packed linear product does with its result besides
// adding the bias: an activation, or accumulation into an existing tensor.
type Epilogue struct {
	// Act is applied to x·Wᵀ + b.
	Act Act
	// Add, when set, receives x·Wᵀ + b added into it (LinearPackedAdd);
	// the product then returns nil.
	Add *Tensor
	// Padded lets the result's rows be padded (LinearPackedActPadded).
	Padded bool
}

// Backend runs tensors' storage and whole operations for a Device. It is
// the seam a device (the checking backend of the tests, CUDA) plugs into:
// each exported operation of this package, given tensors of a device,
// calls the method of the same name on its backend, which receives only
// tensors of that device (and host values: shapes, indices, scalars) and
// returns tensors of that device. Views (Reshape of a contiguous tensor,
// Transpose, Permute, Slice, Index, Expand) never reach the backend: they
// share the device storage with new strides. Implementations must be safe
// for concurrent use.
type Backend interface {
	// Upload copies the host tensor t (any strides) to a new contiguous
	// tensor on d; Download copies a device tensor to a new contiguous
	// host tensor. (The package functions that call them count the
	// transfers on the device.)
	Upload(d *Device, t *Tensor) (*Tensor, error)
	Download(t *Tensor) (*Tensor, error)
	// Zeros returns a zero-filled contiguous tensor on d.
	Zeros(d *Device, shape []int) *Tensor
	// Release frees (or recycles) the storage of a tensor that owns it.
	Release(t *Tensor)

	// Copy writes src into dst elementwise (same shape, any strides:
	// dst may be a view, src may be broadcast by Expand).
	Copy(dst, src *Tensor) error
	Clone(t *Tensor) *Tensor
	Concat(dim int, ts []*Tensor) (*Tensor, error)
	Position(h *Tensor, t int) (*Tensor, error)
	// Gather returns the rows idx of t along dimension 0 (an embedding
	// lookup, a beam reorder).
	Gather(t *Tensor, idx []int) (*Tensor, error)

	Elementwise(op ElemOp, a, b *Tensor) (*Tensor, error)
	AddInPlace(a, b *Tensor) error
	Scale(t *Tensor, s float32) *Tensor
	// Activate applies act, in place or to a new tensor.
	Activate(t *Tensor, act Act, inPlace bool) *Tensor
	// Softmax over the last dimension, optionally masked (mask added
	// first), optionally log-softmax, in place or to a new tensor.
	Softmax(t, mask *Tensor, log, inPlace bool) (*Tensor, error)
	LayerNorm(x, w, b *Tensor, eps float32, inPlace bool) (*Tensor, error)
	// ArgmaxRows returns the argmax of every row of the last dimension,
	// downloaded to the host.
	ArgmaxRows(t *Tensor) []int

	MatMul(a, b *Tensor, transB bool) (*Tensor, error)
	Linear(x, w, bias *Tensor) (*Tensor, error)
	// PackWeight makes a device weight resident in the form LinearPacked
	// reads (w [N, K], stored as t); PackWeightHalf does so from host
	// 16-bit data (a checkpoint's F16/BF16 weight [n, k]).
	PackWeight(w *Tensor, t WeightType) (*PackedB, error)
	PackWeightHalf(d *Device, w []uint16, src WeightType, n, k int, t WeightType) (*PackedB, error)
	LinearPacked(x *Tensor, w *PackedB, bias *Tensor, ep Epilogue) (*Tensor, error)
	// FreePacked frees what the backend holds for a packed weight
	// (PackedB.Free); FreeKV for packed keys and values (PackedKV.Free).
	FreePacked(w *PackedB)
	FreeKV(kv *PackedKV)
	// GatherPacked returns rows ids of a packed weight's [N, K] matrix
	// as float32 [len(ids), K] (a tied embedding).
	GatherPacked(w *PackedB, ids []int) (*Tensor, error)

	Attention(q, k, v *Tensor, opt AttentionOptions) (*Tensor, error)
	PackKV(k, v *Tensor, heads int, t WeightType) (*PackedKV, error)
	// ReorderKV returns the batch rows idx of kv; the result must stay
	// valid after kv is freed (FreeKV).
	ReorderKV(kv *PackedKV, idx []int) (*PackedKV, error)
	AttentionPacked(q *Tensor, kv *PackedKV, opt AttentionOptions) (*Tensor, error)
	// NewHalfKV makes an empty 16-bit self-attention key/value cache on d
	// (see HalfKV; an error wrapping ErrDevice where the backend keeps
	// none, and callers keep float32 caches instead). AppendHalfKV stores
	// the positions [c.Len(), c.Len()+T) from k and v [B, T, H·Dh],
	// growing the storage as needed; ReorderHalfKV makes row i of the
	// storage old row idx[i] (len(idx) rows; indices are checked). The
	// package function updates Len and Batch after either succeeds.
	// AttentionHalfKV is AttentionHalfKV; FreeHalfKV frees the storage.
	NewHalfKV(d *Device, batch, heads, headDim int, t WeightType) (*HalfKV, error)
	AppendHalfKV(c *HalfKV, k, v *Tensor) error
	ReorderHalfKV(c *HalfKV, idx []int) error
	AttentionHalfKV(q *Tensor, c *HalfKV, opt AttentionOptions) (*Tensor, error)
	FreeHalfKV(c *HalfKV)
	Conv1d(x, w, bias *Tensor, stride, padding, groups int) (*Tensor, error)
	PatchEmbed(x, w, bias *Tensor) (*Tensor, error)

	// Operations added for the model families (see ops_models.go).
	ModelOps
}
