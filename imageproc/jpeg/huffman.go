package jpeg

// Huffman decoding with libjpeg-turbo's bit-buffer semantics (jdhuff.c):
// the same lookahead table, the same refill points and depth, the same
// zero-bit stuffing when the data segment ends early, and the same result
// (a zero symbol) for an invalid code. Keeping the refill points identical
// matters only at the very end of a file that lacks its final marker,
// where it decides whether libjpeg runs out of data (Pillow then reports a
// truncated file) or finishes the image.

const (
	huffLookahead = 8
	// minGetBits is libjpeg-turbo's MIN_GET_BITS for a 64-bit bit buffer.
	minGetBits = 64 - 7
)

// huffTable is libjpeg's d_derived_tbl.
type huffTable struct {
	maxcode   [18]int32
	valoffset [18]int32
	// lookup[next 8 bits] = code length << 8 | symbol, or 9 << 8 when the
	// code is longer than 8 bits.
	lookup [1 << huffLookahead]int32
	vals   [256]uint8
}

// naturalOrder maps zigzag index to natural (row-major) index. Indices
// past 63 map to 63, absorbing the overruns corrupt data can cause as the
// extra entries of libjpeg's jpeg_natural_order do (the table is 128 long
// so that masked indices need no bounds check).
var naturalOrder = [128]int{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
	63, 63, 63, 63, 63, 63, 63, 63,
	63, 63, 63, 63, 63, 63, 63, 63,
	63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
	63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
	63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
}

// derive fills t with the decoding tables of spec, validating it as
// jpeg_make_d_derived_tbl does.
func (t *huffTable) derive(spec *huffSpec, isDC bool) error {
	t.vals = spec.vals
	var huffsize [257]int
	var huffcode [257]int32
	p := 0
	for l := 1; l <= 16; l++ {
		n := int(spec.bits[l])
		if p+n > 256 {
			return corruptf("bogus Huffman table definition")
		}
		for ; n > 0; n-- {
			huffsize[p] = l
			p++
		}
	}
	huffsize[p] = 0
	numSymbols := p

	code := int32(0)
	si := huffsize[0]
	p = 0
	for huffsize[p] != 0 {
		for huffsize[p] == si {
			huffcode[p] = code
			p++
			code++
		}
		if int64(code) >= int64(1)<<si {
			return corruptf("bogus Huffman table definition")
		}
		code <<= 1
		si++
	}

	p = 0
	for l := 1; l <= 16; l++ {
		if spec.bits[l] != 0 {
			t.valoffset[l] = int32(p) - huffcode[p]
			p += int(spec.bits[l])
			t.maxcode[l] = huffcode[p-1]
		} else {
			t.maxcode[l] = -1
		}
	}
	t.valoffset[17] = 0
	t.maxcode[17] = 0xFFFFF

	for i := range t.lookup {
		t.lookup[i] = (huffLookahead + 1) << huffLookahead
	}
	p = 0
	for l := 1; l <= huffLookahead; l++ {
		for i := 1; i <= int(spec.bits[l]); i++ {
			lookbits := int(huffcode[p]) << (huffLookahead - l)
			for ctr := 1 << (huffLookahead - l); ctr > 0; ctr-- {
				t.lookup[lookbits] = int32(l)<<huffLookahead | int32(spec.vals[p])
				lookbits++
			}
			p++
		}
	}

	if isDC {
		for i := 0; i < numSymbols; i++ {
			if spec.vals[i] > 15 {
				return corruptf("bogus Huffman table definition")
			}
		}
	}
	return nil
}

// stdHuffTables installs the default tables of JPEG Annex K.3 in the empty
// slots 0 and 1, as libjpeg-turbo does for sequential files (Motion-JPEG
// frames omit them).
func (d *decoder) stdHuffTables() {
	add := func(slot **huffSpec, bits [17]uint8, vals []uint8) {
		if *slot != nil {
			return
		}
		s := &huffSpec{bits: bits}
		copy(s.vals[:], vals)
		*slot = s
	}
	add(&d.dcSpec[0], [17]uint8{0, 0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0},
		[]uint8{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
	add(&d.acSpec[0], [17]uint8{0, 0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d}, stdACLuminance[:])
	add(&d.dcSpec[1], [17]uint8{0, 0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0},
		[]uint8{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
	add(&d.acSpec[1], [17]uint8{0, 0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77}, stdACChrominance[:])
}

// Symbol lists of the JPEG standard's example AC tables (ITU T.81 K.3.3.2).
var stdACLuminance = [162]uint8{
	0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
	0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
	0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
	0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
	0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
	0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
	0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
	0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
	0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
	0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
	0xf9, 0xfa,
}

var stdACChrominance = [162]uint8{
	0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
	0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
	0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
	0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
	0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
	0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
	0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
	0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
	0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
	0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
	0xf9, 0xfa,
}

// suspend is what running out of the bytes Pillow has handed libjpeg
// becomes: at the end of the file, truncation; before it, errSuspend, on
// which the caller backs up to the start of the MCU, takes the next 64 KiB
// chunk and decodes the MCU again, as libjpeg does when Pillow calls it
// back with more data.
func (d *decoder) suspend() error {
	if d.bufEnd >= len(d.data) {
		return errTruncated
	}
	return errSuspend
}

// extend is HUFF_EXTEND: the s-bit value r as a signed coefficient.
func extend(r, s int) int {
	if r < 1<<(s-1) {
		return r + (-1 << s) + 1
	}
	return r
}
