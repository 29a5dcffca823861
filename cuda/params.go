//go:build cuda

package cuda

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// maxRank is the most dimensions a strided kernel handles (after
// dimensions that can be merged are merged).
const maxRank = 8

// dims is a kernel's shape or strides argument (struct Dims in the CUDA
// source: maxRank long longs).
type dims [maxRank]int64

// params holds a kernel's arguments in its parameter layout: each value
// at an offset aligned to its size, as cuLaunchKernel reads them.
type params struct {
	buf  [160]uint64
	offs [48]int32
	n    int
	pos  int
}

func (p *params) slot(size, align int) []byte {
	pos := (p.pos + align - 1) &^ (align - 1)
	if p.n == len(p.offs) || pos+size > 8*len(p.buf) {
		panic("cuda: too many kernel parameters")
	}
	p.offs[p.n] = int32(pos)
	p.n++
	p.pos = pos + size
	b := unsafe.Slice((*byte)(unsafe.Pointer(&p.buf[0])), 8*len(p.buf))
	return b[pos : pos+size]
}

// ptr adds a device address.
func (p *params) ptr(a uintptr) *params {
	binary.LittleEndian.PutUint64(p.slot(8, 8), uint64(a))
	return p
}

// i64 adds a long long.
func (p *params) i64(v int) *params {
	binary.LittleEndian.PutUint64(p.slot(8, 8), uint64(int64(v)))
	return p
}

// i32 adds an int; v must fit (callers check sizes that could not).
func (p *params) i32(v int) *params {
	if v != int(int32(v)) {
		panic("cuda: kernel int parameter out of range")
	}
	binary.LittleEndian.PutUint32(p.slot(4, 4), uint32(int32(v)))
	return p
}

// f32 adds a float.
func (p *params) f32(v float32) *params {
	binary.LittleEndian.PutUint32(p.slot(4, 4), math.Float32bits(v))
	return p
}

// f64 adds a double.
func (p *params) f64(v float64) *params {
	binary.LittleEndian.PutUint64(p.slot(8, 8), math.Float64bits(v))
	return p
}

// dims adds a struct Dims.
func (p *params) dims(d *dims) *params {
	b := p.slot(8*maxRank, 8)
	for i, v := range d {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return p
}
