package tensor

import (
	"fmt"
	"math"
	"reflect"

	"github.com/goformer/goformer/tensor/internal/kern"
)

// broadcastShapes returns the numpy broadcast of two shapes.
func broadcastShapes(a, b []int) ([]int, error) {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := 0; i < n; i++ {
		da, db := 1, 1
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db, db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("%w: cannot broadcast %v with %v", ErrShape, a, b)
		}
	}
	return out, nil
}

// broadcastStrides returns strides for reading t as shape out (size-1 and
// missing dimensions get stride 0).
func broadcastStrides(t *Tensor, out []int) []int {
	st := make([]int, len(out))
	pad := len(out) - len(t.shape)
	for i := range out {
		if j := i - pad; j >= 0 && t.shape[j] != 1 {
			st[i] = t.strides[j]
		}
	}
	return st
}

// binary applies f elementwise with broadcasting.
func binary(a, b *Tensor, f func(x, y float32) float32) (*Tensor, error) {
	shape, err := broadcastShapes(a.shape, b.shape)
	if err != nil {
		return nil, err
	}
	out := newUninit(shape...)
	if SameShape(a, b) && a.IsContiguous() && b.IsContiguous() {
		ad, bd := a.Data(), b.Data()
		for i := range out.data {
			out.data[i] = f(ad[i], bd[i])
		}
		return out, nil
	}
	// Fast path: b broadcasts along the leading dimensions only (bias add).
	if a.IsContiguous() && b.IsContiguous() && SameShape(a, out) && b.Len() > 0 && len(b.shape) <= len(a.shape) {
		tail := true
		for i := range b.shape {
			if b.shape[len(b.shape)-1-i] != a.shape[len(a.shape)-1-i] {
				tail = false
				break
			}
		}
		if tail {
			ad, bd := a.Data(), b.Data()
			nb := len(bd)
			for i := range out.data {
				out.data[i] = f(ad[i], bd[i%nb])
			}
			return out, nil
		}
	}
	sa := broadcastStrides(a, shape)
	sb := broadcastStrides(b, shape)
	idx := make([]int, len(shape))
	for i := range out.data {
		oa, ob := a.offset, b.offset
		for d := range idx {
			oa += idx[d] * sa[d]
			ob += idx[d] * sb[d]
		}
		out.data[i] = f(a.data[oa], b.data[ob])
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out, nil
}

// Add returns a+b with numpy broadcasting.
func Add(a, b *Tensor) (*Tensor, error) { return elementwise(OpAdd, a, b) }

// Sub returns a−b with numpy broadcasting.
func Sub(a, b *Tensor) (*Tensor, error) { return elementwise(OpSub, a, b) }

// Mul returns a·b elementwise with numpy broadcasting.
func Mul(a, b *Tensor) (*Tensor, error) { return elementwise(OpMul, a, b) }

// Div returns a/b elementwise with numpy broadcasting.
func Div(a, b *Tensor) (*Tensor, error) { return elementwise(OpDiv, a, b) }

func elementwise(op ElemOp, a, b *Tensor) (*Tensor, error) {
	if d := dev2(a, b); d != nil {
		return d.be.Elementwise(op, a, b)
	}
	switch op {
	case OpAdd:
		return binary(a, b, func(x, y float32) float32 { return x + y })
	case OpSub:
		return binary(a, b, func(x, y float32) float32 { return x - y })
	case OpMul:
		return binary(a, b, func(x, y float32) float32 { return x * y })
	case OpDiv:
		return binary(a, b, func(x, y float32) float32 { return x / y })
	}
	return nil, fmt.Errorf("tensor: unknown elementwise operation %d", op)
}

// AddInPlace adds b into a, which must be contiguous: b has a's number of
// elements (the residual connection of transformer blocks), or b's shape
// is a trailing part of a's and b is added to every block of that shape
// (position embeddings [T, D] added to hidden states [B, T, D]).
func AddInPlace(a, b *Tensor) error {
	if !a.IsContiguous() || b.Len() == 0 || a.Len()%b.Len() != 0 || (a.Len() != b.Len() && !trailing(a.shape, b.shape)) {
		return fmt.Errorf("%w: in-place add %v += %v", ErrShape, a.shape, b.shape)
	}
	if d := dev2(a, b); d != nil {
		return d.be.AddInPlace(a, b)
	}
	ad, bd := a.Data(), b.Data()
	for n := len(bd); len(ad) > 0; ad = ad[n:] {
		kern.VecAdd(ad[:n], bd)
	}
	return nil
}

// trailing reports whether b (leading 1s ignored) is a trailing part of
// a's shape.
func trailing(a, b []int) bool {
	for len(b) > 0 && b[0] == 1 && len(b) > len(a) {
		b = b[1:]
	}
	for len(b) > 0 && b[0] == 1 {
		b = b[1:]
	}
	if len(b) > len(a) {
		return false
	}
	off := len(a) - len(b)
	for i := range b {
		if a[off+i] != b[i] {
			return false
		}
	}
	return true
}

// Scale returns s·t.
func Scale(t *Tensor, s float32) *Tensor {
	if t.dev != nil {
		return t.dev.be.Scale(t, s)
	}
	out := t.Clone()
	kern.VecScale(out.data, s)
	return out
}

// Map returns f applied to every element, as a new contiguous tensor. On a
// device, f must be one of the named activations (see Act).
func Map(t *Tensor, f func(float32) float32) *Tensor {
	if t.dev != nil {
		return t.dev.be.Activate(t, mustAct(t.dev, f), false)
	}
	if v := vectorised(f); v != nil {
		out := t.Clone()
		parallelSlices(int(t.threads), out.data, v)
		return out
	}
	out := newUninit(t.shape...)
	src := t.Data()
	parallelRange(int(t.threads), len(src), 1<<14, rangeFunc(func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out.data[i] = f(src[i])
		}
	}))
	return out
}

// MapInPlace applies f to every element of a contiguous tensor in place.
// On a device, f must be one of the named activations (see Act).
func MapInPlace(t *Tensor, f func(float32) float32) {
	if t.dev != nil {
		t.dev.be.Activate(t, mustAct(t.dev, f), true)
		return
	}
	d := t.Data()
	if v := vectorised(f); v != nil {
		parallelSlices(int(t.threads), d, v)
		return
	}
	parallelRange(int(t.threads), len(d), 1<<14, rangeFunc(func(lo, hi int) {
		for i := lo; i < hi; i++ {
			d[i] = f(d[i])
		}
	}))
}

// GELUExact is x·Φ(x) with the exact erf form (PyTorch's default "gelu").
func GELUExact(x float32) float32 {
	return float32(0.5 * float64(x) * (1 + math.Erf(float64(x)/math.Sqrt2)))
}

// GELUTanh is the tanh approximation of GELU ("gelu_new", "gelu_pytorch_tanh").
func GELUTanh(x float32) float32 {
	v := float64(x)
	return float32(0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v))))
}

// QuickGELU is x·σ(1.702x) (CLIP's "quick_gelu").
func QuickGELU(x float32) float32 {
	return float32(float64(x) / (1 + math.Exp(-1.702*float64(x))))
}

// ReLU is max(x, 0).
func ReLU(x float32) float32 { return max(x, 0) }

// Tanh is the hyperbolic tangent.
func Tanh(x float32) float32 { return float32(math.Tanh(float64(x))) }

// Sigmoid is 1/(1+e^−x).
func Sigmoid(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }

// SiLU is x·σ(x).
func SiLU(x float32) float32 { return float32(float64(x) / (1 + math.Exp(-float64(x)))) }

// Activation returns the elementwise function for a HuggingFace hidden_act
// name, or an error for an unknown one.
func Activation(name string) (func(float32) float32, error) {
	switch name {
	case "gelu", "gelu_python":
		return GELUExact, nil
	case "gelu_new", "gelu_pytorch_tanh", "gelu_fast":
		return GELUTanh, nil
	case "quick_gelu":
		return QuickGELU, nil
	case "relu":
		return ReLU, nil
	case "tanh":
		return Tanh, nil
	case "silu", "swish":
		return SiLU, nil
	case "sigmoid":
		return Sigmoid, nil
	}
	return nil, fmt.Errorf("tensor: unknown activation %q", name)
}

// rows views a tensor as contiguous rows of its last dimension.
func rows(t *Tensor) (data []float32, n, width int) {
	c := t.Contiguous()
	width = 1
	if c.Rank() > 0 {
		width = c.Dim(-1)
	}
	data = c.Data()
	if width == 0 {
		return data, 0, 0
	}
	return data, len(data) / width, width
}

// Softmax returns the softmax over the last dimension. It is numerically
// stable (max subtracted); a row of all −Inf yields zeros.
func Softmax(t *Tensor) *Tensor {
	if t.dev != nil {
		return must(t.dev.be.Softmax(t, nil, false, false))
	}
	out := t.Clone()
	SoftmaxInPlace(out)
	return out
}

// SoftmaxInPlace applies Softmax to a contiguous tensor in place.
func SoftmaxInPlace(t *Tensor) {
	if t.dev != nil {
		must(t.dev.be.Softmax(t, nil, false, true))
		return
	}
	d, n, w := rows(t)
	j := rowJobs.get()
	*j = rowJob{op: rowSoftmax, d: d, width: w}
	parallelRange(int(t.threads), n, max(1, 4096/max(w, 1)), j)
	rowJobs.put(j)
}

// SoftmaxRow applies a numerically stable softmax to one row in place.
func SoftmaxRow(x []float32) {
	if len(x) == 0 {
		return
	}
	m := kern.VecMax(x)
	if math.IsInf(float64(m), -1) {
		clear(x)
		return
	}
	sum := kern.VecExpSum(x, m)
	kern.VecScale(x, 1/sum)
}

// SoftmaxMasked returns softmax(t + mask) over the last dimension, with mask
// broadcast against t (additive: 0 keeps, −Inf or a large negative drops).
func SoftmaxMasked(t, mask *Tensor) (*Tensor, error) {
	if d := dev2(t, mask); d != nil {
		return d.be.Softmax(t, mask, false, false)
	}
	s, err := Add(t, mask)
	if err != nil {
		return nil, err
	}
	SoftmaxInPlace(s)
	return s, nil
}

// LogSoftmax returns log(softmax(t)) over the last dimension, computed
// stably as x − max − log Σ exp(x − max).
func LogSoftmax(t *Tensor) *Tensor {
	if t.dev != nil {
		return must(t.dev.be.Softmax(t, nil, true, false))
	}
	out := t.Clone()
	d, n, w := rows(out)
	for r := 0; r < n; r++ {
		LogSoftmaxRow(d[r*w : (r+1)*w])
	}
	return out
}

// LogSoftmaxRow applies LogSoftmax to one row in place.
func LogSoftmaxRow(x []float32) {
	if len(x) == 0 {
		return
	}
	lse := LogSumExp(x)
	for i := range x {
		x[i] -= lse
	}
}

// LogSumExp returns log Σ exp(x), computed stably as max + log Σ exp(x −
// max): x[i] − LogSumExp(x) is element i of LogSoftmaxRow(x), bit for bit.
func LogSumExp(x []float32) float32 {
	if len(x) == 0 {
		return float32(math.Inf(-1))
	}
	m := kern.VecMax(x)
	sum := kern.VecSumExp(x, m)
	return m + float32(math.Log(float64(sum)))
}

// LayerNorm normalises over the last dimension: (x−mean)/√(var+eps)·w + b.
// w and b have the last dimension's size; either may be nil.
func LayerNorm(x, w, b *Tensor, eps float32) (*Tensor, error) {
	if d := dev3(x, w, b); d != nil {
		return d.be.LayerNorm(x, w, b, eps, false)
	}
	out := x.Clone()
	if err := LayerNormInPlace(out, w, b, eps); err != nil {
		return nil, err
	}
	return out, nil
}

// LayerNormInPlace is LayerNorm on a contiguous tensor, in place.
func LayerNormInPlace(x, w, b *Tensor, eps float32) error {
	if d := dev3(x, w, b); d != nil {
		_, err := d.be.LayerNorm(x, w, b, eps, true)
		return err
	}
	d, n, width := rows(x)
	var wd, bd []float32
	if w != nil {
		if w.Len() != width {
			return fmt.Errorf("%w: layer norm weight %v for width %d", ErrShape, w.shape, width)
		}
		wd = w.Data()
	}
	if b != nil {
		if b.Len() != width {
			return fmt.Errorf("%w: layer norm bias %v for width %d", ErrShape, b.shape, width)
		}
		bd = b.Data()
	}
	j := rowJobs.get()
	*j = rowJob{op: rowLayerNorm, d: d, width: width, w: wd, b: bd, eps: eps}
	parallelRange(int(x.threads), n, max(1, 4096/max(width, 1)), j)
	rowJobs.put(j)
	return nil
}

// rowJob is a parallel loop over rows of width floats (or, for rowSlices,
// over elements), recycled so that starting it allocates nothing.
type rowJob struct {
	op    int
	d     []float32
	width int
	w, b  []float32
	eps   float32
	vec   func([]float32)
}

const (
	rowSoftmax = iota
	rowLayerNorm
	rowSlices // vec over ranges of elements
)

var rowJobs jobPool[rowJob]

func (j *rowJob) runRange(lo, hi int) {
	d, w := j.d, j.width
	switch j.op {
	case rowSoftmax:
		for r := lo; r < hi; r++ {
			SoftmaxRow(d[r*w : (r+1)*w])
		}
	case rowLayerNorm:
		for r := lo; r < hi; r++ {
			LayerNormRow(d[r*w:(r+1)*w], j.w, j.b, j.eps)
		}
	case rowSlices:
		j.vec(d[lo:hi])
	}
}

// parallelSlices applies the vectorised v to d in parallel ranges on up
// to workers(th) goroutines.
func parallelSlices(th int, d []float32, v func([]float32)) {
	j := rowJobs.get()
	*j = rowJob{op: rowSlices, d: d, vec: v}
	parallelRange(th, len(d), 1<<14, j)
	rowJobs.put(j)
}

// LayerNormRow normalises one row in place; w and b may be nil.
func LayerNormRow(row, w, b []float32, eps float32) {
	if len(row) == 0 {
		return
	}
	if w != nil && b != nil {
		n := float32(len(row))
		mean32 := kern.VecSum(row) / n
		variance := kern.VecSqDev(row, mean32) / n
		kern.VecNorm(row, w, b, mean32, float32(1/math.Sqrt(float64(variance)+float64(eps))))
		return
	}
	var mean float64
	for _, v := range row {
		mean += float64(v)
	}
	mean /= float64(len(row))
	var variance float64
	for _, v := range row {
		dv := float64(v) - mean
		variance += dv * dv
	}
	variance /= float64(len(row))
	inv := 1 / math.Sqrt(variance+float64(eps))
	for i, v := range row {
		y := float32((float64(v) - mean) * inv)
		if w != nil {
			y *= w[i]
		}
		if b != nil {
			y += b[i]
		}
		row[i] = y
	}
}

// Embedding gathers rows of table ([V, D]) for ids, returning [len(ids), D].
// An id outside [0, V) is an error.
func Embedding(table *Tensor, ids []int) (*Tensor, error) {
	if table.Rank() != 2 {
		return nil, fmt.Errorf("%w: embedding table %v is not 2-D", ErrShape, table.shape)
	}
	if table.dev != nil {
		for _, id := range ids {
			if id < 0 || id >= table.Dim(0) {
				return nil, fmt.Errorf("tensor: token id %d outside the %d-entry embedding table", id, table.Dim(0))
			}
		}
		return table.dev.be.Gather(table, ids)
	}
	v, d := table.Dim(0), table.Dim(1)
	tc := table.Contiguous()
	td := tc.Data()
	out := New(len(ids), d)
	for i, id := range ids {
		if id < 0 || id >= v {
			return nil, fmt.Errorf("tensor: token id %d outside the %d-entry embedding table", id, v)
		}
		copy(out.data[i*d:(i+1)*d], td[id*d:(id+1)*d])
	}
	return out, nil
}

// Argmax returns the index of the largest value of x (the first on ties), or
// −1 for an empty slice. NaNs are never chosen over numbers.
func Argmax(x []float32) int {
	best := -1
	for i, v := range x {
		if v != v {
			continue
		}
		if best < 0 || v > x[best] {
			best = i
		}
	}
	if best < 0 && len(x) > 0 {
		return 0
	}
	return best
}

// ArgmaxRows returns the argmax of every row over the last dimension.
//
// On a device the argmax runs there and only the ids are downloaded.
func ArgmaxRows(t *Tensor) []int {
	if t.dev != nil {
		ids := t.dev.be.ArgmaxRows(t)
		t.dev.countDownload(8 * len(ids))
		return ids
	}
	d, n, w := rows(t)
	out := make([]int, n)
	for r := range out {
		out[r] = Argmax(d[r*w : (r+1)*w])
	}
	return out
}

// TopK returns the indices of the k largest values of x in descending order
// (ties broken by lower index), k clipped to len(x).
func TopK(x []float32, k int) []int {
	k = min(max(k, 0), len(x))
	idx := make([]int, 0, k+1)
	for i, v := range x {
		if v != v {
			continue
		}
		// insertion into a sorted list of at most k
		pos := len(idx)
		for pos > 0 && x[idx[pos-1]] < v {
			pos--
		}
		if pos >= k {
			continue
		}
		idx = append(idx, 0)
		copy(idx[pos+1:], idx[pos:])
		idx[pos] = i
		if len(idx) > k {
			idx = idx[:k]
		}
	}
	return idx
}

// vecActs maps the elementwise activations above to their vectorised slice
// forms, so that Map and MapInPlace with one of them run SIMD kernels.
var vecActs = map[uintptr]func([]float32){}

func init() {
	reg := func(f func(float32) float32, v func([]float32)) {
		vecActs[reflect.ValueOf(f).Pointer()] = v
	}
	reg(GELUExact, kern.VecGeluErf)
	reg(GELUTanh, kern.VecGeluTanh)
	reg(QuickGELU, func(x []float32) { kern.VecSigmoidMul(x, 1.702) })
	reg(SiLU, func(x []float32) { kern.VecSigmoidMul(x, 1) })
}

// vectorised returns the slice kernel for a known activation, or nil.
func vectorised(f func(float32) float32) func([]float32) {
	if f == nil {
		return nil
	}
	return vecActs[reflect.ValueOf(f).Pointer()]
}

// ActivationInPlace applies the HuggingFace activation name (see Activation)
// to a contiguous tensor in place, with SIMD kernels where available.
func ActivationInPlace(t *Tensor, name string) error {
	f, err := Activation(name)
	if err != nil {
		return err
	}
	MapInPlace(t, f)
	return nil
}

func must(t *Tensor, err error) *Tensor {
	if err != nil {
		panic(err)
	}
	return t
}
