package nn

import (
	"fmt"
	"sync"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/tensor"
)

// Layers hold weights read from a checkpoint.Store and are immutable after
// construction: their Forward methods are safe for concurrent use. Forward
// methods panic only on shapes that model code guarantees (a programming
// error); model packages validate user input at their entry points.

func must(t *tensor.Tensor, err error) *tensor.Tensor {
	if err != nil {
		panic(fmt.Sprintf("nn: %v", err))
	}
	return t
}

// Linear is y = x·Wᵀ + b with W in PyTorch's [out, in] layout.
//
// The first Forward (or Pack) packs the weight once into the GEMM kernels'
// panel layout; W and B stay the layer's parameters and must not change
// after that. A Linear must not be copied after first use.
//
// A Linear that NewLinear builds from an F16 or BF16 checkpoint tensor has
// a nil W: its weight stays 16-bit (in the file mapping until packed, then
// packed as it is), so the checkpoint never exists as float32 in memory.
// Weight returns it as float32 in either case.
type Linear struct {
	W *tensor.Tensor // [Out, In]; nil when the weight is held 16-bit (see Weight)
	B *tensor.Tensor // [Out] or nil
	// Type is the element type the packed weight is kept in (F32 by
	// default; see checkpoint.Store.WeightType). Set it before the first
	// Forward.
	Type tensor.WeightType

	// Lookup says whether the layer's rows are also looked up (Gather):
	// LookupTied for an output projection tied to the token embedding,
	// LookupOnly for an embedding table held as a Linear for its 16-bit
	// storage (never packed, never used in a product). Set it before the
	// store's Prepare.
	Lookup Lookup

	// Dev is the device the layer computes on (nil: the host); NewLinear
	// sets it from the weights (checkpoint.Weights.Device). W stays on the
	// host (the source of the packed copy); B is on Dev.
	Dev *tensor.Device

	half      *checkpoint.Half // the checkpoint's 16-bit weight when W is nil
	packOnce  sync.Once
	packed    *tensor.PackedB
	packErr   error
	table     *tensor.Tensor // exact float32 rows on Dev for Gather (Lookup)
	tableOnce sync.Once
	late      *tensor.Tensor // rows uploaded at a first Gather that Lookup did not announce
	fused     bool           // packed with others by an Attention (FuseQKV)
	store     *checkpoint.Store
}

// Weight returns the weight [Out, In] as float32: W itself, or a new
// (exactly widened) copy of a 16-bit weight.
func (l *Linear) Weight() *tensor.Tensor {
	if l.W == nil && l.half != nil {
		return l.half.Widen()
	}
	return l.W
}

func (l *Linear) hasWeight() bool { return l.W != nil || l.half != nil }

// Row copies row i of the weight (the In values of output i) into dst as
// float32: how a projection tied to an embedding table looks a token up
// without a float32 copy of a 16-bit table. dst must hold In values.
// A lookup reads a few rows of a large table: the checkpoint pages it
// faulted in (and their neighbours, which the kernel maps along) are let
// go again, so that decoding does not gather the table into memory.
//
//goformer:host reads the checkpoint's host copy of the weight (host path).
func (l *Linear) Row(i int, dst []float32) {
	in := l.In()
	if l.W == nil && l.half != nil {
		row := l.half.Data[i*in : (i+1)*in]
		tensor.WidenHalf(dst[:in], row, l.half.Kind)
		checkpoint.ReleaseMappedHalvesAround(row)
		return
	}
	row := l.W.Contiguous().Data()[i*in : (i+1)*in]
	copy(dst[:in], row)
	checkpoint.ReleaseMappedAround(row)
}

// Gather returns rows ids of the weight as float32 [len(ids), In] on the
// layer's device: a projection tied to an embedding table looking tokens
// up. On the host it reads the checkpoint's values (Row); on a device it
// reads the resident packed weight, which holds them exactly unless the
// layer is quantized (WeightQ8), in which case the table is kept on the
// device beside it.
//
//goformer:host builds the rows from the host copy when the layer is on the host.
func (l *Linear) Gather(ids []int) (*tensor.Tensor, error) {
	out := l.Out()
	for _, id := range ids {
		if id < 0 || id >= out {
			return nil, fmt.Errorf("nn: %w: row %d of a %d-row weight", tensor.ErrShape, id, out)
		}
	}
	if l.Dev == nil {
		if l.exactPack() && l.Lookup != LookupOnly {
			// The packed weight holds the checkpoint's values exactly:
			// reading it leaves the checkpoint's pages alone.
			if p := l.packedW(); p != nil {
				return tensor.GatherPacked(p, ids)
			}
		}
		in := l.In()
		t := tensor.New(len(ids), in)
		d := t.Data()
		for i, id := range ids {
			l.Row(id, d[i*in:(i+1)*in])
		}
		return t, nil
	}
	l.Pack()
	if l.packErr != nil {
		return nil, l.packErr
	}
	if l.table == nil && !l.exactPack() {
		// Rows were not asked for at load (Lookup): upload them now, once.
		l.tableOnce.Do(func() {
			l.late, l.packErr = l.Dev.Upload(l.Weight())
		})
		if l.late == nil {
			return nil, l.packErr
		}
		return tensor.Gather(l.late, ids)
	}
	if l.table != nil {
		return tensor.Gather(l.table, ids)
	}
	return tensor.GatherPacked(l.packedW(), ids)
}

// Lookup is how a Linear's rows are read besides its products (see
// Linear.Lookup).
type Lookup uint8

// Lookup values.
const (
	LookupNone Lookup = iota // products only
	LookupTied               // products and row lookups
	LookupOnly               // row lookups only: never packed
)

// exactPack reports whether the packed weight holds the checkpoint's
// values exactly (F32 from F32, or a 16-bit weight in its own type).
func (l *Linear) exactPack() bool {
	if l.W != nil {
		return l.Type == tensor.WeightF32
	}
	return l.half != nil && l.Type == l.half.Kind
}

// Rows returns a Linear computing outputs [lo, hi) of this one: its weight
// rows and bias entries, shared, not copied, in the same storage type.
func (l *Linear) Rows(lo, hi int) *Linear {
	r := &Linear{Type: l.Type, Dev: l.Dev}
	if l.W != nil {
		r.W = l.W.Slice(0, lo, hi)
	} else if l.half != nil {
		r.half = l.half.Rows(lo, hi)
	}
	if l.B != nil {
		r.B = l.B.Slice(0, lo, hi)
	}
	if l.store != nil {
		// The parts are what forward passes use: the store's Prepare packs
		// them (or an Attention's FuseQKV packs them together) instead
		// of the whole.
		l.fused = true
		r.attach(l.store)
	}
	return r
}

// Pack packs W into the kernels' layout now instead of at the first
// Forward (for example to front-load the work at model load time). It is
// safe to call concurrently and more than once.
//
// Layers built by NewLinear are packed by the store's Prepare, which model
// packages call in Load, and freed by the store's Close.
func (l *Linear) Pack() {
	l.packOnce.Do(func() {
		if l.Dev != nil {
			l.packed, l.packErr = l.packOn(l.Dev)
			return
		}
		if l.Lookup == LookupOnly {
			return // rows are read from the checkpoint (Row)
		}
		if l.W == nil && l.half != nil {
			h := l.half
			var p *tensor.PackedB
			var err error
			if l.Type == h.Kind || l.Type == tensor.WeightQ8 || l.Type == tensor.WeightBF16Dot {
				p, err = tensor.PackWeightHalfAs(h.Data, h.Kind, h.Shape[0], h.Shape[1], l.Type, checkpoint.ReleaseMappedHalves)
			} else {
				p, err = tensor.PackWeightAs(h.Widen(), l.Type)
				checkpoint.ReleaseMappedHalves(h.Data)
			}
			if err == nil {
				l.packed = p
			}
			return
		}
		// The packed copy is what Forward reads: the checkpoint's pages of
		// W are let go as rows get packed (W stays readable, see
		// checkpoint.ReleaseMapped), so a large weight is not held twice.
		var done func([]float32)
		if l.W != nil && l.W.IsContiguous() {
			done = checkpoint.ReleaseMappedFloats
		}
		if p, err := tensor.PackWeightWith(l.W, l.Type, done); err == nil {
			l.packed = p
		}
	})
}

// packOn packs the weight resident on device d.
func (l *Linear) packOn(d *tensor.Device) (*tensor.PackedB, error) {
	if l.Lookup == LookupOnly || (l.Lookup == LookupTied && !l.exactPack()) {
		// Lookups read the values themselves: a table beside a packed
		// weight that rounds them (16-bit from F32, int8 codes).
		w, err := d.Upload(l.Weight())
		if err != nil {
			return nil, err
		}
		l.table = w
		if l.Lookup == LookupOnly {
			return nil, nil
		}
	}
	if l.W == nil && l.half != nil {
		h := l.half
		if l.Type == h.Kind || l.Type == tensor.WeightQ8 || l.Type == tensor.WeightBF16Dot {
			return tensor.PackWeightHalfOn(d, h.Data, h.Kind, h.Shape[0], h.Shape[1], l.Type, nil)
		}
	}
	w, err := d.Upload(l.Weight())
	if err != nil {
		return nil, err
	}
	defer tensor.Release(w)
	return tensor.PackWeightAs(w, l.Type)
}

// free releases the packed weight (and a device table); Close of the
// model's store calls it.
func (l *Linear) free() {
	l.packOnce.Do(func() {}) // waits for a packing in progress; never packs
	l.packed.Free()
	tensor.Release(l.table)
	l.tableOnce.Do(func() {})
	tensor.Release(l.late)
}

// releaseSource lets the checkpoint pages behind the weight go (after a
// packed copy was made elsewhere, as Attention's fused projection does).
func (l *Linear) releaseSource() {
	if l.W != nil {
		checkpoint.ReleaseMapped(l.W)
	} else if l.half != nil {
		checkpoint.ReleaseMappedHalves(l.half.Data)
	}
}

// packedW returns the packed weight (nil if W could not be packed).
func (l *Linear) packedW() *tensor.PackedB {
	l.Pack()
	if l.packed == nil && l.Dev != nil {
		panic(fmt.Sprintf("nn: packing a [%d, %d] weight on %s: %v", l.Out(), l.In(), l.Dev, l.packErr))
	}
	return l.packed
}

// register makes the store's Prepare pack the layer and its Close free it.
func (l *Linear) register(w checkpoint.Weights) {
	s := w.Store()
	l.Dev = s.Device
	l.attach(s)
}

// attach registers the layer with store s (see register).
func (l *Linear) attach(s *checkpoint.Store) {
	l.store = s
	s.OnPrepare(func() error {
		if l.fused {
			return nil
		}
		l.Pack()
		return l.packErr
	})
	s.OnClose(l.free)
}

// NewLinear reads "weight" [out, in] and, when bias is true, "bias" [out].
// A weight the store holds 16-bit stays so (see Linear); others are packed
// in w.PackType("weight").
func NewLinear(w checkpoint.Weights, in, out int, bias bool) *Linear {
	var l *Linear
	if h, ok := w.Half("weight", out, in); ok {
		l = &Linear{half: h, Type: w.PackType("weight")}
	} else {
		l = &Linear{W: w.Tensor("weight", out, in), Type: w.PackType("weight")}
	}
	if bias {
		l.B = w.Upload("bias", out)
	}
	l.register(w)
	return l
}

// NewLinearTransposed reads a weight stored as [in, out] (GPT-2's Conv1D)
// and keeps it as [out, in].
func NewLinearTransposed(w checkpoint.Weights, in, out int, bias bool) *Linear {
	wt := w.Tensor("weight", in, out)
	l := &Linear{W: wt.Transpose(0, 1).Contiguous(), Type: w.PackType("weight")}
	if bias {
		l.B = w.Upload("bias", out)
	}
	l.register(w)
	return l
}

// NewMLP reads an MLP of dim inputs and outputs and hidden units from the
// linear layers fc1 [hidden, dim] and fc2 [dim, hidden], both with or
// without bias.
func NewMLP(fc1, fc2 checkpoint.Weights, dim, hidden int, bias bool, act func(float32) float32) *MLP {
	return &MLP{FC1: NewLinear(fc1, dim, hidden, bias), FC2: NewLinear(fc2, hidden, dim, bias), Act: act}
}

// In returns the input width.
func (l *Linear) In() int {
	if l.W == nil && l.half != nil {
		return l.half.Shape[1]
	}
	return l.W.Dim(1)
}

// Out returns the output width.
func (l *Linear) Out() int {
	if l.W == nil && l.half != nil {
		return l.half.Shape[0]
	}
	return l.W.Dim(0)
}

// Forward applies the layer to x [..., In].
func (l *Linear) Forward(x *tensor.Tensor) *tensor.Tensor {
	if p := l.packedW(); p != nil {
		return must(tensor.LinearPacked(x, p, l.B))
	}
	return must(tensor.Linear(x, l.Weight(), l.B))
}

// ForwardAct returns act(x·Wᵀ + b), the activation fused into the product
// (act as returned by tensor.Activation; nil means none).
func (l *Linear) ForwardAct(x *tensor.Tensor, act func(float32) float32) *tensor.Tensor {
	if p := l.packedW(); p != nil {
		return must(tensor.LinearPackedAct(x, p, l.B, act))
	}
	y := must(tensor.Linear(x, l.Weight(), l.B))
	if act != nil {
		tensor.MapInPlace(y, act)
	}
	return y
}

// forwardActPadded is ForwardAct for a result that only feeds another
// Linear: its rows may be padded (see tensor.LinearPackedActPadded).
func (l *Linear) forwardActPadded(x *tensor.Tensor, act func(float32) float32) *tensor.Tensor {
	if p := l.packedW(); p != nil {
		return must(tensor.LinearPackedActPadded(x, p, l.B, act))
	}
	return l.ForwardAct(x, act)
}

// ForwardAdd adds x·Wᵀ + b into dst ([..., Out], contiguous): a projection
// fused with the residual connection it feeds.
func (l *Linear) ForwardAdd(x, dst *tensor.Tensor) {
	if p := l.packedW(); p != nil {
		if err := tensor.LinearPackedAdd(dst, x, p, l.B); err != nil {
			panic("nn: " + err.Error())
		}
		return
	}
	addTo(dst, must(tensor.Linear(x, l.Weight(), l.B)))
}

// LayerNorm normalises the last dimension with a learned scale and shift.
type LayerNorm struct {
	W, B *tensor.Tensor
	Eps  float32
}

// NewLayerNorm reads "weight" and "bias" of width dim.
func NewLayerNorm(w checkpoint.Weights, dim int, eps float32) *LayerNorm {
	return &LayerNorm{W: w.Upload("weight", dim), B: w.Upload("bias", dim), Eps: eps}
}

// Forward returns the normalised copy of x.
func (n *LayerNorm) Forward(x *tensor.Tensor) *tensor.Tensor {
	return must(tensor.LayerNorm(x, n.W, n.B, n.Eps))
}

// inPlace normalises a contiguous x in place.
func (n *LayerNorm) inPlace(x *tensor.Tensor) {
	if err := tensor.LayerNormInPlace(x, n.W, n.B, n.Eps); err != nil {
		panic("nn: " + err.Error())
	}
}

// Embedding maps ids to rows of a [vocab, dim] table.
type Embedding struct{ Table *tensor.Tensor }

// NewEmbedding reads "weight" [vocab, dim].
func NewEmbedding(w checkpoint.Weights, vocab, dim int) *Embedding {
	return &Embedding{Table: w.Upload("weight", vocab, dim)}
}

// Forward returns [len(ids), dim]; an id out of range is an error.
func (e *Embedding) Forward(ids []int) (*tensor.Tensor, error) {
	return tensor.Embedding(e.Table, ids)
}

// Conv1d is PyTorch's nn.Conv1d (dilation 1).
type Conv1d struct {
	W, B                    *tensor.Tensor
	Stride, Padding, Groups int
}

// NewConv1d reads "weight" [out, in/groups, k] and optionally "bias" [out].
func NewConv1d(w checkpoint.Weights, in, out, k, stride, padding, groups int, bias bool) *Conv1d {
	c := &Conv1d{W: w.Upload("weight", out, in/groups, k), Stride: stride, Padding: padding, Groups: groups}
	if bias {
		c.B = w.Upload("bias", out)
	}
	return c
}

// Forward convolves x [B, in, L] (or [in, L]).
func (c *Conv1d) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	return tensor.Conv1d(x, c.W, c.B, c.Stride, c.Padding, c.Groups)
}

// PatchEmbedding is a Conv2d with kernel = stride, output in token layout.
type PatchEmbedding struct {
	W, B  *tensor.Tensor // [D, C, P, P], [D] or nil
	Patch int

	// proj is W flattened to [D, C·P·P] as a float32 Linear, packed by the
	// store's Prepare like every other product, for host models built by
	// NewPatchEmbedding (nil otherwise: PatchEmbed packs W at every call).
	proj *Linear
}

// NewPatchEmbedding reads "weight" [dim, channels, patch, patch] and,
// when bias is true, "bias" [dim].
func NewPatchEmbedding(w checkpoint.Weights, channels, dim, patch int, bias bool) *PatchEmbedding {
	p := &PatchEmbedding{W: w.Upload("weight", dim, channels, patch, patch), Patch: patch}
	if bias {
		p.B = w.Upload("bias", dim)
	}
	if s := w.Store(); s.Device == nil && p.W != nil && p.W.Rank() == 4 {
		// Exact float32, whatever the store's weight type (a convolution
		// stem stays float32 in every mode).
		p.proj = &Linear{W: p.W.MustReshape(dim, channels*patch*patch), B: p.B, Type: tensor.WeightF32}
		p.proj.attach(s)
	}
	return p
}

// Forward maps pixels [B, C, H, W] to patch tokens [B, (H/P)(W/P), D].
func (p *PatchEmbedding) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	if p.proj == nil || x.Device() != nil || x.Rank() != 4 || x.Dim(1)*p.Patch*p.Patch != p.proj.In() {
		return tensor.PatchEmbed(x, p.W, p.B)
	}
	cols, err := tensor.Patches(x, p.Patch)
	if err != nil {
		return nil, err
	}
	defer tensor.Release(cols)
	return p.proj.Forward(cols), nil
}

// MLP is FC2(act(FC1(x))).
type MLP struct {
	FC1, FC2 *Linear
	Act      func(float32) float32
}

// Forward applies the MLP to x [..., D].
func (m *MLP) Forward(x *tensor.Tensor) *tensor.Tensor {
	h := m.FC1.forwardActPadded(x, m.Act)
	defer tensor.Release(h)
	return m.FC2.Forward(h)
}

// mlpChunk is how many hidden activations (floats) an MLP computes at a
// time on the host: long inputs (an audio encoder's 1500 frames, a batch
// of images) go through in row blocks, so the hidden layer, the widest
// intermediate of a transformer block, takes a few megabytes instead of
// tens. Rows are independent, so the results do not change.
const mlpChunk = 1 << 20

// forwardAdd adds the MLP's output into dst.
func (m *MLP) forwardAdd(x, dst *tensor.Tensor) {
	d, hidden := x.Dim(x.Rank()-1), m.FC1.Out()
	rows := x.Len() / max(d, 1)
	step := max(64, mlpChunk/max(hidden, 1)/64*64)
	if x.Device() != nil || rows <= step || !x.IsContiguous() || !dst.IsContiguous() || dst.Len() != rows*m.FC2.Out() {
		h := m.FC1.forwardActPadded(x, m.Act)
		defer tensor.Release(h)
		m.FC2.ForwardAdd(h, dst)
		return
	}
	// Blocks of equal size (the last at most one row shorter), so that
	// they all recycle one buffer.
	n := (rows + step - 1) / step
	x2, dst2 := x.MustReshape(rows, d), dst.MustReshape(rows, m.FC2.Out())
	for i := range n {
		r, e := i*rows/n, (i+1)*rows/n
		xs, ds := x2.Slice(0, r, e), dst2.Slice(0, r, e)
		h := m.FC1.forwardActPadded(xs, m.Act)
		m.FC2.ForwardAdd(h, ds)
		tensor.Release(h)
		tensor.Release(xs)
		tensor.Release(ds)
	}
	tensor.Release(x2)
	tensor.Release(dst2)
}
