package tensor

import (
	"fmt"
	"math"
)

// NewCheckingDevice returns a device whose storage is host memory that
// nothing outside this package can read: Data, At and Set panic on its
// tensors, operations given a host tensor together with one of its
// tensors panic or fail with ErrDevice, and every copy between it and the
// host is counted (Device.Transfers). It runs every operation with the
// host kernels, so its results are bit-identical to the host's.
//
// It is the test suite's stand-in for a GPU: a model whose forward pass
// runs on it, matching the host exactly, uses only operations a device
// backend provides, with inputs uploaded and results downloaded
// explicitly.
func NewCheckingDevice() *Device {
	c := &checkBackend{}
	d := NewDevice("check", c)
	c.d = d
	return d
}

// NewCPUDevice returns a device that computes on the host with its own
// number of goroutines, threads (at least 1), instead of the process-wide
// Threads(): two models loaded on two such devices (nn.WithDevice,
// goformer.WithThreads) keep to their own counts in one process. Its
// kernels are the host's, so results are bit-identical to the host's for
// any count. It is a device like the others: its storage is host memory
// that only its operations read (Data, At and Set panic; results come back
// with ToHost), and Upload and ToHost copy.
func NewCPUDevice(threads int) *Device {
	threads = min(max(threads, 1), math.MaxInt32)
	c := &checkBackend{threads: int32(threads)}
	name := fmt.Sprintf("cpu(%d threads)", threads)
	if threads == 1 {
		name = "cpu(1 thread)"
	}
	d := NewDevice(name, c)
	c.d = d
	return d
}

// checkBackend is the backend of the checking device and of CPU devices:
// host kernels on host memory it keeps to itself. threads, when positive,
// is the CPU device's thread count, which every host view it hands the
// kernels carries.
type checkBackend struct {
	d       *Device
	threads int32
}

// host returns a host view of a tensor of this device (nil stays nil).
func (c *checkBackend) host(t *Tensor) *Tensor {
	if t == nil {
		return nil
	}
	if t.dev != c.d {
		panic(fmt.Errorf("%w: operand on %s given to an operation on %s", ErrDevice, t.dev.Name(), c.d.name))
	}
	h := header(t.shape, t.strides)
	h.offset, h.data, h.view, h.threads = t.offset, t.data, true, c.threads
	return h
}

// dev marks a host result as this device's (nil stays nil).
func (c *checkBackend) dev(t *Tensor) *Tensor {
	if t != nil {
		t.dev = c.d
	}
	return t
}

func (c *checkBackend) devErr(t *Tensor, err error) (*Tensor, error) {
	return c.dev(t), err
}

func (c *checkBackend) hosts(ts []*Tensor) []*Tensor {
	out := make([]*Tensor, len(ts))
	for i, t := range ts {
		out[i] = c.host(t)
	}
	return out
}

func (c *checkBackend) hostPacked(p *PackedB) *PackedB {
	if p == nil {
		return nil
	}
	if p.dev != c.d {
		panic(fmt.Errorf("%w: packed weight on %s given to an operation on %s", ErrDevice, p.dev.Name(), c.d.name))
	}
	h := *p
	h.dev = nil
	return &h
}

func (c *checkBackend) devPacked(p *PackedB, err error) (*PackedB, error) {
	if p != nil {
		p.dev = c.d
	}
	return p, err
}

func (c *checkBackend) hostKV(kv *PackedKV) *PackedKV {
	if kv.dev != c.d {
		panic(fmt.Errorf("%w: packed keys and values on %s given to an operation on %s", ErrDevice, kv.dev.Name(), c.d.name))
	}
	h := *kv
	h.dev = nil
	return &h
}

func (c *checkBackend) devKV(kv *PackedKV, err error) (*PackedKV, error) {
	if kv != nil {
		kv.dev = c.d
	}
	return kv, err
}

func (c *checkBackend) hostOpt(opt AttentionOptions) AttentionOptions {
	opt.Mask, opt.Probs = c.host(opt.Mask), c.host(opt.Probs)
	return opt
}

func (c *checkBackend) Upload(d *Device, t *Tensor) (*Tensor, error) {
	return c.dev(t.Clone()), nil
}

func (c *checkBackend) Download(t *Tensor) (*Tensor, error) {
	return c.host(t).Clone(), nil
}

func (c *checkBackend) Zeros(d *Device, shape []int) *Tensor { return c.dev(New(shape...)) }

func (c *checkBackend) Release(t *Tensor) { releaseHost(t) }

func (c *checkBackend) Copy(dst, src *Tensor) error { return Copy(c.host(dst), c.host(src)) }

func (c *checkBackend) Clone(t *Tensor) *Tensor { return c.dev(c.host(t).Clone()) }

func (c *checkBackend) Concat(dim int, ts []*Tensor) (*Tensor, error) {
	return c.devErr(Concat(dim, c.hosts(ts)...))
}

func (c *checkBackend) Position(h *Tensor, t int) (*Tensor, error) {
	return c.devErr(Position(c.host(h), t))
}

func (c *checkBackend) Gather(t *Tensor, idx []int) (*Tensor, error) {
	return c.devErr(Gather(c.host(t), idx))
}

func (c *checkBackend) Elementwise(op ElemOp, a, b *Tensor) (*Tensor, error) {
	return c.devErr(elementwise(op, c.host(a), c.host(b)))
}

func (c *checkBackend) AddInPlace(a, b *Tensor) error { return AddInPlace(c.host(a), c.host(b)) }

func (c *checkBackend) Scale(t *Tensor, s float32) *Tensor { return c.dev(Scale(c.host(t), s)) }

func (c *checkBackend) Activate(t *Tensor, act Act, inPlace bool) *Tensor {
	h := c.host(t)
	if inPlace {
		MapInPlace(h, act.Func())
		return t
	}
	return c.dev(Map(h, act.Func()))
}

func (c *checkBackend) Softmax(t, mask *Tensor, log, inPlace bool) (*Tensor, error) {
	h := c.host(t)
	switch {
	case mask != nil:
		return c.devErr(SoftmaxMasked(h, c.host(mask)))
	case log:
		return c.dev(LogSoftmax(h)), nil
	case inPlace:
		SoftmaxInPlace(h)
		return t, nil
	}
	return c.dev(Softmax(h)), nil
}

func (c *checkBackend) LayerNorm(x, w, b *Tensor, eps float32, inPlace bool) (*Tensor, error) {
	if inPlace {
		return x, LayerNormInPlace(c.host(x), c.host(w), c.host(b), eps)
	}
	return c.devErr(LayerNorm(c.host(x), c.host(w), c.host(b), eps))
}

func (c *checkBackend) ArgmaxRows(t *Tensor) []int { return ArgmaxRows(c.host(t)) }

func (c *checkBackend) MatMul(a, b *Tensor, transB bool) (*Tensor, error) {
	return c.devErr(matmul(c.host(a), c.host(b), transB))
}

func (c *checkBackend) Linear(x, w, bias *Tensor) (*Tensor, error) {
	return c.devErr(Linear(c.host(x), c.host(w), c.host(bias)))
}

func (c *checkBackend) PackWeight(w *Tensor, t WeightType) (*PackedB, error) {
	return c.devPacked(PackWeightAs(c.host(w), t))
}

func (c *checkBackend) PackWeightHalf(d *Device, w []uint16, src WeightType, n, k int, t WeightType) (*PackedB, error) {
	return c.devPacked(PackWeightHalfAs(w, src, n, k, t, nil))
}

func (c *checkBackend) LinearPacked(x *Tensor, w *PackedB, bias *Tensor, ep Epilogue) (*Tensor, error) {
	hx, hw, hb := c.host(x), c.hostPacked(w), c.host(bias)
	switch {
	case ep.Add != nil:
		return nil, LinearPackedAdd(c.host(ep.Add), hx, hw, hb)
	case ep.Padded:
		return c.devErr(LinearPackedActPadded(hx, hw, hb, ep.Act.Func()))
	}
	return c.devErr(LinearPackedAct(hx, hw, hb, ep.Act.Func()))
}

// FreePacked: the weight's host mappings are unmapped by PackedB.Free.
func (c *checkBackend) FreePacked(w *PackedB) {}

func (c *checkBackend) FreeKV(kv *PackedKV) {}

func (c *checkBackend) GatherPacked(w *PackedB, ids []int) (*Tensor, error) {
	return c.devErr(GatherPacked(c.hostPacked(w), ids))
}

func (c *checkBackend) Attention(q, k, v *Tensor, opt AttentionOptions) (*Tensor, error) {
	return c.devErr(Attention(c.host(q), c.host(k), c.host(v), c.hostOpt(opt)))
}

func (c *checkBackend) PackKV(k, v *Tensor, heads int, t WeightType) (*PackedKV, error) {
	return c.devKV(PackKV(c.host(k), c.host(v), heads, t))
}

func (c *checkBackend) ReorderKV(kv *PackedKV, idx []int) (*PackedKV, error) {
	return c.devKV(c.hostKV(kv).Reorder(idx))
}

func (c *checkBackend) AttentionPacked(q *Tensor, kv *PackedKV, opt AttentionOptions) (*Tensor, error) {
	return c.devErr(AttentionPacked(c.host(q), c.hostKV(kv), c.hostOpt(opt)))
}

func (c *checkBackend) hostHalfKV(kv *HalfKV) *HalfKV {
	if kv.dev != c.d {
		panic(fmt.Errorf("%w: key/value cache on %s given to an operation on %s", ErrDevice, kv.dev.Name(), c.d.name))
	}
	h := *kv
	h.dev = nil
	return &h
}

func (c *checkBackend) NewHalfKV(d *Device, batch, heads, headDim int, t WeightType) (*HalfKV, error) {
	kv, err := NewHalfKV(nil, batch, heads, headDim, t)
	if kv != nil {
		kv.dev = c.d
	}
	return kv, err
}

// AppendHalfKV and ReorderHalfKV run the host code on a host copy of the
// cache and keep its storage.
func (c *checkBackend) AppendHalfKV(kv *HalfKV, k, v *Tensor) error {
	h := c.hostHalfKV(kv)
	h.appendStore(c.host(k), c.host(v))
	kv.k, kv.v, kv.cap = h.k, h.v, h.cap
	return nil
}

func (c *checkBackend) ReorderHalfKV(kv *HalfKV, idx []int) error {
	h := c.hostHalfKV(kv)
	if err := h.Reorder(idx); err != nil {
		return err
	}
	kv.k, kv.v, kv.cap = h.k, h.v, h.cap
	return nil
}

func (c *checkBackend) AttentionHalfKV(q *Tensor, kv *HalfKV, opt AttentionOptions) (*Tensor, error) {
	return c.devErr(AttentionHalfKV(c.host(q), c.hostHalfKV(kv), c.hostOpt(opt)))
}

// FreeHalfKV: the storage is Go memory HalfKV.Free drops.
func (c *checkBackend) FreeHalfKV(kv *HalfKV) {}

func (c *checkBackend) Conv1d(x, w, bias *Tensor, stride, padding, groups int) (*Tensor, error) {
	return c.devErr(Conv1d(c.host(x), c.host(w), c.host(bias), stride, padding, groups))
}

func (c *checkBackend) PatchEmbed(x, w, bias *Tensor) (*Tensor, error) {
	return c.devErr(PatchEmbed(c.host(x), c.host(w), c.host(bias)))
}
