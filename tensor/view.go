package tensor

import "fmt"

// Reshape returns a view with a new shape holding the same elements. One
// dimension may be -1 and is inferred. A non-contiguous tensor is copied first.
func (t *Tensor) Reshape(shape ...int) (*Tensor, error) {
	var buf [inlineRank]int // the copy stays on the stack (errors print clones)
	shape = append(buf[:0], shape...)
	infer := -1
	known := 1
	for i, d := range shape {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			return nil, fmt.Errorf("%w: bad reshape target %v", ErrShape, cloneInts(shape))
		default:
			known *= d
		}
	}
	n := t.Len()
	if infer >= 0 {
		if known == 0 || n%known != 0 {
			return nil, fmt.Errorf("%w: cannot reshape %v to %v", ErrShape, cloneInts(t.shape), cloneInts(shape))
		}
		shape[infer] = n / known
	} else if known != n {
		return nil, fmt.Errorf("%w: cannot reshape %v (%d elements) to %v", ErrShape, cloneInts(t.shape), n, cloneInts(shape))
	}
	out := header(shape, nil)
	if t.IsContiguous() {
		out.offset, out.data, out.view, out.dev, out.threads = t.offset, t.data, true, t.dev, t.threads
		return out, nil
	}
	// The copy's storage passes to the result, which owns it.
	c := t.Contiguous()
	out.data, out.owned, out.box, out.dev, out.threads = c.data, true, c.box, c.dev, c.threads
	freeHeader(c)
	return out, nil
}

// MustReshape is Reshape for shapes known correct by construction.
func (t *Tensor) MustReshape(shape ...int) *Tensor {
	r, err := t.Reshape(shape...)
	if err != nil {
		panic(err)
	}
	return r
}

// Transpose returns a view with dimensions i and j swapped (no copy).
func (t *Tensor) Transpose(i, j int) *Tensor {
	r := len(t.shape)
	if i < 0 {
		i += r
	}
	if j < 0 {
		j += r
	}
	out := header(t.shape, t.strides)
	out.offset, out.data, out.view, out.dev, out.threads = t.offset, t.data, true, t.dev, t.threads
	out.shape[i], out.shape[j] = out.shape[j], out.shape[i]
	out.strides[i], out.strides[j] = out.strides[j], out.strides[i]
	return out
}

// Permute returns a view with dimensions reordered: dimension k of the result
// is dimension perm[k] of t.
func (t *Tensor) Permute(perm ...int) *Tensor {
	if len(perm) != len(t.shape) {
		panic(fmt.Sprintf("tensor: permutation %v for rank %d", cloneInts(perm), len(t.shape)))
	}
	out := header(t.shape, t.strides)
	out.offset, out.data, out.view, out.dev, out.threads = t.offset, t.data, true, t.dev, t.threads
	for k, p := range perm {
		out.shape[k] = t.shape[p]
		out.strides[k] = t.strides[p]
	}
	return out
}

// Slice returns a view of t restricted to [start, end) along dim (no copy).
func (t *Tensor) Slice(dim, start, end int) *Tensor {
	if dim < 0 {
		dim += len(t.shape)
	}
	if start < 0 || end > t.shape[dim] || start > end {
		panic(fmt.Sprintf("tensor: slice [%d:%d] of dim %d size %d", start, end, dim, t.shape[dim]))
	}
	out := header(t.shape, t.strides)
	out.offset, out.data, out.view, out.dev, out.threads = t.offset+start*t.strides[dim], t.data, true, t.dev, t.threads
	out.shape[dim] = end - start
	return out
}

// Index returns the view t[i] (rank reduced by one; no copy).
func (t *Tensor) Index(i int) *Tensor {
	if i < 0 || i >= t.shape[0] {
		panic(fmt.Sprintf("tensor: index %d out of range for dim 0 size %d", i, t.shape[0]))
	}
	out := header(t.shape[1:], t.strides[1:])
	out.offset, out.data, out.view, out.dev, out.threads = t.offset+i*t.strides[0], t.data, true, t.dev, t.threads
	return out
}

// LastPosition is Position at the last position of h [B, T, D] that also
// releases h, whatever the outcome: the step from a decoder's hidden
// states to the rows its next-token logits come from.
func LastPosition(h *Tensor) (*Tensor, error) {
	t := -1
	if h != nil && h.Rank() == 3 {
		t = h.Dim(1) - 1
	}
	last, err := Position(h, t)
	Release(h)
	return last, err
}

// Position returns h[:, t, :] of h [B, T, D] as a new contiguous [B, D]
// tensor (the hidden state of one position in every sequence, as the
// next-token logits need).
func Position(h *Tensor, t int) (*Tensor, error) {
	if h == nil || h.Rank() != 3 || t < 0 || t >= h.Dim(1) {
		var s []int
		if h != nil {
			s = cloneInts(h.shape)
		}
		return nil, fmt.Errorf("%w: position %d of %v, want [B, T, D] with T > %d", ErrShape, t, s, t)
	}
	if h.dev != nil {
		return h.dev.be.Position(h, t)
	}
	b, d := h.shape[0], h.shape[2]
	out := newUninit(b, d)
	for i := 0; i < b; i++ {
		base := h.offset + i*h.strides[0] + t*h.strides[1]
		if h.strides[2] == 1 {
			copy(out.data[i*d:(i+1)*d], h.data[base:base+d])
			continue
		}
		for j := 0; j < d; j++ {
			out.data[i*d+j] = h.data[base+j*h.strides[2]]
		}
	}
	return out, nil
}

// Concat joins tensors along dim into a new contiguous tensor. All other
// dimensions must agree.
func Concat(dim int, ts ...*Tensor) (*Tensor, error) {
	if len(ts) == 0 {
		return nil, fmt.Errorf("%w: concat of nothing", ErrShape)
	}
	r := len(ts[0].shape)
	if dim < 0 {
		dim += r
	}
	shape := cloneInts(ts[0].shape)
	shape[dim] = 0
	for _, t := range ts {
		if len(t.shape) != r {
			return nil, fmt.Errorf("%w: concat ranks %d and %d", ErrShape, r, len(t.shape))
		}
		for i := range shape {
			if i != dim && t.shape[i] != ts[0].shape[i] {
				return nil, fmt.Errorf("%w: concat %v with %v along %d", ErrShape, ts[0].shape, t.shape, dim)
			}
		}
		shape[dim] += t.shape[dim]
	}
	if d := deviceOf(ts...); d != nil {
		return d.be.Concat(dim, ts)
	}
	out := newUninit(shape...)
	outer := numel(shape[:dim])
	inner := numel(shape[dim+1:])
	pos := 0
	for _, t := range ts {
		c := t.Data()
		chunk := t.shape[dim] * inner
		for o := 0; o < outer; o++ {
			copy(out.data[o*shape[dim]*inner+pos:], c[o*chunk:(o+1)*chunk])
		}
		pos += chunk
	}
	return out, nil
}

// Expand returns a view of t broadcast to shape (no copy): each dimension
// is t's or, where t has size 1, any size, read with stride 0; extra
// leading dimensions are added. Write only through Copy's source side:
// elements of the view alias each other.
func (t *Tensor) Expand(shape ...int) (*Tensor, error) {
	r := len(shape)
	if r < len(t.shape) {
		return nil, fmt.Errorf("%w: cannot expand %v to %v", ErrShape, cloneInts(t.shape), cloneInts(shape))
	}
	out := header(shape, nil)
	lead := r - len(t.shape)
	for i := range shape {
		if shape[i] < 0 {
			return nil, fmt.Errorf("%w: cannot expand %v to %v", ErrShape, cloneInts(t.shape), cloneInts(shape))
		}
		if i < lead {
			out.strides[i] = 0
			continue
		}
		switch d := t.shape[i-lead]; {
		case d == shape[i]:
			out.strides[i] = t.strides[i-lead]
		case d == 1:
			out.strides[i] = 0
		default:
			return nil, fmt.Errorf("%w: cannot expand %v to %v", ErrShape, cloneInts(t.shape), cloneInts(shape))
		}
	}
	out.offset, out.data, out.view, out.dev, out.threads = t.offset, t.data, true, t.dev, t.threads
	return out, nil
}

// Copy writes the elements of src into dst (same shape, any strides: dst
// may be a view into a larger tensor, such as the free rows of a cache,
// and src may be broadcast with Expand). Both must be on the same device.
func Copy(dst, src *Tensor) error {
	if dst == nil || src == nil || !SameShape(dst, src) {
		var ds, ss []int
		if dst != nil {
			ds = cloneInts(dst.shape)
		}
		if src != nil {
			ss = cloneInts(src.shape)
		}
		return fmt.Errorf("%w: copy %v into %v", ErrShape, ss, ds)
	}
	if d := dev2(dst, src); d != nil {
		return d.be.Copy(dst, src)
	}
	copyStrided(dst.data, dst.offset, dst.strides, src.data, src.offset, src.strides, dst.shape)
	return nil
}

// copyStrided copies a block of the given shape between two strided
// layouts, whole rows at a time where the last dimension is unit-stride.
func copyStrided(dd []float32, doff int, ds []int, sd []float32, soff int, ss []int, shape []int) {
	r := len(shape)
	if r == 0 {
		dd[doff] = sd[soff]
		return
	}
	if r == 1 {
		n := shape[0]
		if ds[0] == 1 && ss[0] == 1 {
			copy(dd[doff:doff+n], sd[soff:soff+n])
			return
		}
		for i := 0; i < n; i++ {
			dd[doff+i*ds[0]] = sd[soff+i*ss[0]]
		}
		return
	}
	for i := 0; i < shape[0]; i++ {
		copyStrided(dd, doff+i*ds[0], ds[1:], sd, soff+i*ss[0], ss[1:], shape[1:])
	}
}

// Gather returns the rows idx of t along dimension 0, as a new contiguous
// tensor [len(idx), ...]: an embedding lookup (t a [V, D] table), or the
// beams kept by a beam search (t a batch of states). An index outside t is
// an error.
func Gather(t *Tensor, idx []int) (*Tensor, error) {
	if t == nil || t.Rank() < 1 {
		return nil, fmt.Errorf("%w: gather from a scalar", ErrShape)
	}
	n := t.shape[0]
	for _, i := range idx {
		if i < 0 || i >= n {
			return nil, fmt.Errorf("%w: row %d of a %d-row tensor", ErrShape, i, n)
		}
	}
	if t.dev != nil {
		return t.dev.be.Gather(t, idx)
	}
	shape := cloneInts(t.shape)
	shape[0] = len(idx)
	out := newUninit(shape...)
	row := numel(shape[1:])
	for r, i := range idx {
		copyStrided(out.data, r*row, out.strides[1:], t.data, t.offset+i*t.strides[0], t.strides[1:], shape[1:])
	}
	return out, nil
}
