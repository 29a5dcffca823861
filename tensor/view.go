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
		out.offset, out.data, out.view = t.offset, t.data, true
		return out, nil
	}
	// The copy's storage passes to the result, which owns it.
	c := t.Contiguous()
	out.data, out.owned, out.box = c.data, true, c.box
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
	out.offset, out.data, out.view = t.offset, t.data, true
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
	out.offset, out.data, out.view = t.offset, t.data, true
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
	out.offset, out.data, out.view = t.offset+start*t.strides[dim], t.data, true
	out.shape[dim] = end - start
	return out
}

// Index returns the view t[i] (rank reduced by one; no copy).
func (t *Tensor) Index(i int) *Tensor {
	if i < 0 || i >= t.shape[0] {
		panic(fmt.Sprintf("tensor: index %d out of range for dim 0 size %d", i, t.shape[0]))
	}
	out := header(t.shape[1:], t.strides[1:])
	out.offset, out.data, out.view = t.offset+i*t.strides[0], t.data, true
	return out
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
