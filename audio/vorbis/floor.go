package vorbis

import (
	"fmt"
	"math"
	"sort"
)

// floor1 is a Vorbis floor type 1: a piecewise-linear spectral envelope in
// the log domain.
type floor1 struct {
	partitionClass []int
	classDims      []int
	classSubs      []uint
	classMaster    []int
	subBooks       [][]int // [class][1<<subs], -1 = none
	multiplier     int
	xs             []int // X list
	// precomputed from xs
	sorted   []int // indices of xs in increasing X order
	low      []int // low neighbour of each index ≥ 2
	high     []int
	rangeVal int
}

// inverseDB is the floor1 dB-to-linear table: 10^(7 (i-255)/256), which is
// the spec's table to float precision.
var inverseDB = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(math.Pow(10, 7*float64(i-255)/256))
	}
	return
}()

func readFloor1(b *bitReader, books []*codebook) (*floor1, error) {
	f := &floor1{}
	parts := int(b.read(5))
	maxClass := -1
	f.partitionClass = make([]int, parts)
	for i := range f.partitionClass {
		f.partitionClass[i] = int(b.read(4))
		maxClass = max(maxClass, f.partitionClass[i])
	}
	n := maxClass + 1
	f.classDims = make([]int, n)
	f.classSubs = make([]uint, n)
	f.classMaster = make([]int, n)
	f.subBooks = make([][]int, n)
	for i := 0; i < n; i++ {
		f.classDims[i] = int(b.read(3)) + 1
		f.classSubs[i] = uint(b.read(2))
		f.classMaster[i] = -1
		if f.classSubs[i] != 0 {
			f.classMaster[i] = int(b.read(8))
			if f.classMaster[i] >= len(books) {
				return nil, fmt.Errorf("%w: floor master book %d", ErrCorrupt, f.classMaster[i])
			}
		}
		f.subBooks[i] = make([]int, 1<<f.classSubs[i])
		for j := range f.subBooks[i] {
			f.subBooks[i][j] = int(b.read(8)) - 1
			if f.subBooks[i][j] >= len(books) {
				return nil, fmt.Errorf("%w: floor sub-book %d", ErrCorrupt, f.subBooks[i][j])
			}
		}
	}
	f.multiplier = int(b.read(2)) + 1
	rangeBits := uint(b.read(4))
	f.xs = []int{0, 1 << rangeBits}
	for _, c := range f.partitionClass {
		for j := 0; j < f.classDims[c]; j++ {
			f.xs = append(f.xs, int(b.read(rangeBits)))
		}
	}
	if b.eop {
		return nil, fmt.Errorf("%w: truncated floor", ErrCorrupt)
	}
	if len(f.xs) > 65 {
		return nil, fmt.Errorf("%w: floor with %d points", ErrCorrupt, len(f.xs))
	}
	f.sorted = make([]int, len(f.xs))
	for i := range f.sorted {
		f.sorted[i] = i
	}
	sort.SliceStable(f.sorted, func(a, c int) bool { return f.xs[f.sorted[a]] < f.xs[f.sorted[c]] })
	for i := 1; i < len(f.sorted); i++ {
		if f.xs[f.sorted[i]] == f.xs[f.sorted[i-1]] {
			return nil, fmt.Errorf("%w: floor with repeated X values", ErrCorrupt)
		}
	}
	f.low = make([]int, len(f.xs))
	f.high = make([]int, len(f.xs))
	for i := 2; i < len(f.xs); i++ {
		lo, hi := 0, 1
		for j := 0; j < i; j++ {
			if f.xs[j] < f.xs[i] && f.xs[j] > f.xs[lo] {
				lo = j
			}
			if f.xs[j] > f.xs[i] && f.xs[j] < f.xs[hi] {
				hi = j
			}
		}
		f.low[i], f.high[i] = lo, hi
	}
	f.rangeVal = [4]int{256, 128, 86, 64}[f.multiplier-1]
	return f, nil
}

// decode reads the floor's Y values; it returns nil when the floor is
// unused in this packet (or the packet ends).
func (f *floor1) decode(b *bitReader, books []*codebook, ys []int) []int {
	if !b.flag() {
		return nil
	}
	ys = ys[:len(f.xs)]
	bitsY := ilog(f.rangeVal - 1)
	ys[0] = int(b.read(bitsY))
	ys[1] = int(b.read(bitsY))
	off := 2
	for _, class := range f.partitionClass {
		cdim := f.classDims[class]
		cbits := f.classSubs[class]
		csub := (1 << cbits) - 1
		cval := 0
		if cbits > 0 {
			cval = books[f.classMaster[class]].decode(b)
			if cval < 0 {
				return nil
			}
		}
		for j := 0; j < cdim; j++ {
			book := f.subBooks[class][cval&csub]
			cval >>= cbits
			if book >= 0 {
				v := books[book].decode(b)
				if v < 0 {
					return nil
				}
				ys[off+j] = v
			} else {
				ys[off+j] = 0
			}
		}
		off += cdim
	}
	if b.eop {
		return nil
	}
	return ys
}

func renderPoint(x0, y0, x1, y1, x int) int {
	dy := y1 - y0
	adx := x1 - x0
	ady := dy
	if ady < 0 {
		ady = -ady
	}
	off := ady * (x - x0) / adx
	if dy < 0 {
		return y0 - off
	}
	return y0 + off
}

func renderLine(x0, y0, x1, y1 int, out []float32) {
	dy := y1 - y0
	adx := x1 - x0
	ady := dy
	if ady < 0 {
		ady = -ady
	}
	base := dy / adx
	sy := base + 1
	if dy < 0 {
		sy = base - 1
	}
	abase := base
	if abase < 0 {
		abase = -abase
	}
	ady -= abase * adx
	x, y, err := x0, y0, 0
	put := func(x, y int) {
		if x >= 0 && x < len(out) {
			out[x] = inverseDB[min(max(y, 0), 255)]
		}
	}
	put(x, y)
	for x = x0 + 1; x < x1; x++ {
		err += ady
		if err >= adx {
			err -= adx
			y += sy
		} else {
			y += base
		}
		put(x, y)
	}
}

// curve computes the floor curve (length len(out)) from decoded Y values.
func (f *floor1) curve(ys []int, out []float32, final []int, step2 []bool) {
	n := len(f.xs)
	final, step2 = final[:n], step2[:n]
	final[0], final[1] = ys[0], ys[1]
	step2[0], step2[1] = true, true
	for i := 2; i < n; i++ {
		lo, hi := f.low[i], f.high[i]
		pred := renderPoint(f.xs[lo], final[lo], f.xs[hi], final[hi], f.xs[i])
		val := ys[i]
		highroom := f.rangeVal - pred
		lowroom := pred
		var room int
		if highroom < lowroom {
			room = highroom * 2
		} else {
			room = lowroom * 2
		}
		if val != 0 {
			step2[lo], step2[hi], step2[i] = true, true, true
			if val >= room {
				if highroom > lowroom {
					final[i] = val - lowroom + pred
				} else {
					final[i] = pred - val + highroom - 1
				}
			} else if val&1 == 1 {
				final[i] = pred - (val+1)/2
			} else {
				final[i] = pred + val/2
			}
		} else {
			step2[i] = false
			final[i] = pred
		}
	}
	hx, hy := 0, 0
	lx, ly := 0, final[f.sorted[0]]*f.multiplier
	for k := 1; k < n; k++ {
		i := f.sorted[k]
		if step2[i] {
			hy = final[i] * f.multiplier
			hx = f.xs[i]
			if hx > lx {
				renderLine(lx, ly, hx, hy, out)
			}
			lx, ly = hx, hy
		}
	}
	if hx < len(out) {
		renderLine(hx, hy, len(out), hy, out)
	}
}
