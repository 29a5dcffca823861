package vorbis

import (
	"fmt"
	"math"
	"math/bits"
)

// bitReader reads a packet LSB-first, as Vorbis packs it. Reading past the
// end sets eop and returns zeros (the spec's end-of-packet condition).
type bitReader struct {
	data []byte
	acc  uint64
	n    uint // valid bits in acc
	eop  bool
}

func (b *bitReader) fill() {
	for b.n <= 56 && len(b.data) > 0 {
		b.acc |= uint64(b.data[0]) << b.n
		b.data = b.data[1:]
		b.n += 8
	}
}

// read returns the next n (≤ 32) bits.
func (b *bitReader) read(n uint) uint32 {
	if n == 0 {
		return 0
	}
	if b.n < n {
		b.fill()
		if b.n < n {
			b.eop = true
			b.acc, b.n = 0, 0
			return 0
		}
	}
	v := uint32(b.acc & (1<<n - 1))
	b.acc >>= n
	b.n -= n
	return v
}

func (b *bitReader) flag() bool { return b.read(1) == 1 }

// peek returns up to n (≤ 32) next bits without consuming them and how many
// are available.
func (b *bitReader) peek(n uint) (uint32, uint) {
	if b.n < n {
		b.fill()
	}
	avail := min(n, b.n)
	return uint32(b.acc & (1<<n - 1)), avail
}

func (b *bitReader) skip(n uint) {
	b.acc >>= n
	b.n -= n
}

// ilog is the number of bits needed to represent v (ilog(0) = 0).
func ilog(v int) uint {
	if v <= 0 {
		return 0
	}
	return uint(bits.Len(uint(v)))
}

// float32Unpack decodes Vorbis' packed float format.
func float32Unpack(x uint32) float32 {
	mant := float64(x & 0x1fffff)
	exp := int((x & 0x7fe00000) >> 21)
	if x&0x80000000 != 0 {
		mant = -mant
	}
	return float32(math.Ldexp(mant, exp-788))
}

// lookup1Values is the largest r with r^dim <= entries.
func lookup1Values(entries, dim int) int {
	r := int(math.Floor(math.Exp(math.Log(float64(entries)) / float64(dim))))
	for pow(r+1, dim) <= entries {
		r++
	}
	for r > 0 && pow(r, dim) > entries {
		r--
	}
	return r
}

func pow(b, e int) int {
	v := 1
	for i := 0; i < e; i++ {
		v *= b
		if v > 1<<30 {
			return 1 << 31
		}
	}
	return v
}

const fastBits = 10

// codebook is a Huffman code with an optional vector-quantisation table.
type codebook struct {
	dims    int
	entries int
	// fast[peeked bits] = entry<<5 | length for codewords up to fastBits
	// long; -1 for longer (or unused) patterns.
	fast    []int32
	fastLen uint
	// tree for longer codewords: node i has children tree[2i], tree[2i+1];
	// a child >= 0 is a node index, < -1 is leaf -(entry+2), -1 is empty.
	tree      []int32
	single    int // entry of a one-entry codebook, else -1
	singleLen uint
	// VQ values, entries*dims, or nil when the book has no lookup.
	values []float32
}

// decode reads one Huffman codeword and returns its entry, or -1 (end of
// packet or an undefined codeword).
func (c *codebook) decode(b *bitReader) int {
	if c.single >= 0 {
		b.read(c.singleLen)
		if b.eop {
			return -1
		}
		return c.single
	}
	v, avail := b.peek(c.fastLen)
	if avail == c.fastLen {
		if e := c.fast[v]; e >= 0 {
			b.skip(uint(e & 31))
			return int(e >> 5)
		}
	}
	// slow path: walk the tree bit by bit
	node := int32(0)
	for {
		bit := b.read(1)
		if b.eop {
			return -1
		}
		next := c.tree[2*node+int32(bit)]
		switch {
		case next == -1:
			return -1
		case next < -1:
			return int(-next - 2)
		}
		node = next
	}
}

// vector reads a codeword and returns its VQ values (nil at end of packet).
func (c *codebook) vector(b *bitReader) []float32 {
	e := c.decode(b)
	if e < 0 {
		return nil
	}
	return c.values[e*c.dims : (e+1)*c.dims]
}

// readCodebook parses one codebook from the setup header.
func readCodebook(b *bitReader) (*codebook, error) {
	if b.read(24) != 0x564342 {
		return nil, fmt.Errorf("%w: bad codebook sync", ErrCorrupt)
	}
	c := &codebook{dims: int(b.read(16)), entries: int(b.read(24)), single: -1}
	if ilog(c.dims)+ilog(c.entries) > 24 { // libvorbis' bound on book size
		return nil, fmt.Errorf("%w: codebook of %d×%d entries", ErrCorrupt, c.entries, c.dims)
	}
	lengths := make([]uint8, c.entries)
	if b.flag() { // ordered
		cur := 0
		length := int(b.read(5)) + 1
		for cur < c.entries {
			num := int(b.read(ilog(c.entries - cur)))
			if cur+num > c.entries || length > 32 {
				return nil, fmt.Errorf("%w: bad ordered codebook lengths", ErrCorrupt)
			}
			for i := cur; i < cur+num; i++ {
				lengths[i] = uint8(length)
			}
			cur += num
			length++
			if b.eop {
				return nil, fmt.Errorf("%w: truncated codebook", ErrCorrupt)
			}
		}
	} else {
		sparse := b.flag()
		for i := range lengths {
			if !sparse || b.flag() {
				lengths[i] = uint8(b.read(5)) + 1
			}
		}
	}
	if b.eop {
		return nil, fmt.Errorf("%w: truncated codebook", ErrCorrupt)
	}
	if err := c.buildHuffman(lengths); err != nil {
		return nil, err
	}
	switch lt := b.read(4); lt {
	case 0:
	case 1, 2:
		minimum := float32Unpack(b.read(32))
		delta := float32Unpack(b.read(32))
		valueBits := uint(b.read(4)) + 1
		seq := b.flag()
		var nvals int
		if lt == 1 {
			if c.dims == 0 {
				return nil, fmt.Errorf("%w: codebook with zero dimensions", ErrCorrupt)
			}
			nvals = lookup1Values(c.entries, c.dims)
		} else {
			nvals = c.entries * c.dims
		}
		if nvals < 0 || nvals > 1<<24 || c.entries*c.dims > 1<<24 {
			return nil, fmt.Errorf("%w: codebook lookup table too large", ErrCorrupt)
		}
		mult := make([]uint32, nvals)
		for i := range mult {
			mult[i] = b.read(valueBits)
		}
		if b.eop {
			return nil, fmt.Errorf("%w: truncated codebook", ErrCorrupt)
		}
		c.values = make([]float32, c.entries*c.dims)
		for e := 0; e < c.entries; e++ {
			if lengths[e] == 0 {
				continue
			}
			var last float32
			div := 1
			for d := 0; d < c.dims; d++ {
				var off int
				if lt == 1 {
					off = (e / div) % nvals
					div *= nvals
				} else {
					off = e*c.dims + d
				}
				v := float32(mult[off])*delta + minimum + last
				if seq {
					last = v
				}
				c.values[e*c.dims+d] = v
			}
		}
	default:
		return nil, fmt.Errorf("%w: codebook lookup type %d", ErrCorrupt, lt)
	}
	return c, nil
}

// buildHuffman assigns codewords to entries as the Vorbis spec prescribes
// (each entry takes the lowest free codeword of its length, in entry
// order) and builds the decoding structures.
func (c *codebook) buildHuffman(lengths []uint8) error {
	used := 0
	maxLen := uint(0)
	for e, l := range lengths {
		if l > 0 {
			used++
			c.single = e
			maxLen = max(maxLen, uint(l))
		}
	}
	if used == 0 {
		c.single = -1
		c.fastLen = 0
		c.fast = []int32{-1}
		c.tree = []int32{-1, -1}
		return nil
	}
	if used == 1 {
		c.singleLen = uint(lengths[c.single])
		return nil
	}
	c.single = -1
	codes := make([]uint32, len(lengths))
	var avail [33]uint32 // MSB-aligned free codewords per length
	first := true
	for e, l := range lengths {
		if l == 0 {
			continue
		}
		if first {
			first = false
			codes[e] = 0
			for i := uint(1); i <= uint(l); i++ {
				avail[i] = 1 << (32 - i)
			}
			continue
		}
		z := uint(l)
		for z > 0 && avail[z] == 0 {
			z--
		}
		if z == 0 {
			return fmt.Errorf("%w: over-specified Huffman code", ErrCorrupt)
		}
		res := avail[z]
		avail[z] = 0
		codes[e] = res >> (32 - uint(l))
		for y := uint(l); y > z; y-- {
			avail[y] = res + 1<<(32-y)
		}
	}
	c.fastLen = min(maxLen, fastBits)
	c.fast = make([]int32, 1<<c.fastLen)
	for i := range c.fast {
		c.fast[i] = -1
	}
	c.tree = []int32{-1, -1}
	for e, l := range lengths {
		if l == 0 {
			continue
		}
		code := codes[e] // MSB first, l bits
		if uint(l) <= c.fastLen {
			rev := bits.Reverse32(code) >> (32 - uint(l))
			for hi := uint32(0); hi < 1<<(c.fastLen-uint(l)); hi++ {
				c.fast[rev|hi<<l] = int32(e)<<5 | int32(l)
			}
		}
		node := int32(0)
		for i := int(l) - 1; i >= 0; i-- {
			bit := int32(code>>uint(i)) & 1
			slot := 2*node + bit
			if i == 0 {
				if c.tree[slot] != -1 {
					return fmt.Errorf("%w: ambiguous Huffman code", ErrCorrupt)
				}
				c.tree[slot] = int32(-e - 2)
				break
			}
			next := c.tree[slot]
			if next < -1 {
				return fmt.Errorf("%w: ambiguous Huffman code", ErrCorrupt)
			}
			if next == -1 {
				next = int32(len(c.tree) / 2)
				c.tree = append(c.tree, -1, -1)
				c.tree[slot] = next
			}
			node = next
		}
	}
	return nil
}
