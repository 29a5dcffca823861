package jpeg

import "math"

// Progressive Huffman decoding, as libjpeg's jdphuff.c, and the bit-buffer
// helpers shared with the sequential slow path. The bit buffer is kept in
// locals (p, gb, bl) for speed but refilled exactly as
// jpeg_fill_bit_buffer does (to 57 bits, stopping at a marker and stuffing
// zero bits past it), so the decoded coefficients are libjpeg's.
// Progressive files need their EOI, so running out of data anywhere in
// them is truncation.

// bitState is the bit buffer in transit between the hot loops and the
// out-of-line refill and long-code helpers.
type bitState struct {
	p  int
	gb uint64
	bl uint
}

func (d *decoder) loadBits() bitState {
	return bitState{d.pos, d.getBuf, uint(d.bitsLeft)}
}

func (d *decoder) storeBits(s bitState) {
	d.pos, d.getBuf, d.bitsLeft = s.p, s.gb, int(s.bl)
}

// refill is jpeg_fill_bit_buffer on a bitState. Reading past d.bufEnd
// gives errSuspend or errTruncated (see suspend).
func (d *decoder) refill(s bitState, nbits uint) (bitState, error) {
	data := d.data
	if d.unreadMarker == 0 {
		for s.bl < minGetBits {
			if s.p >= d.bufEnd {
				return s, d.suspend()
			}
			c := data[s.p]
			s.p++
			if c == 0xff {
				for {
					if s.p >= d.bufEnd {
						return s, d.suspend()
					}
					c = data[s.p]
					s.p++
					if c != 0xff {
						break
					}
				}
				if c != 0 {
					d.unreadMarker = int(c)
					break
				}
				c = 0xff
			}
			s.gb = s.gb<<8 | uint64(c)
			s.bl += 8
		}
		if d.unreadMarker == 0 {
			return s, nil
		}
	}
	if nbits > s.bl {
		if !d.insufficient {
			d.warnf("corrupt JPEG data: premature end of data segment")
			d.insufficient = true
		}
		s.gb <<= minGetBits - s.bl
		s.bl = minGetBits
	}
	return s, nil
}

// huffSlow is jpeg_huff_decode on a bitState: the code is at least minBits
// long.
func (d *decoder) huffSlow(s bitState, h *huffTable, minBits uint) (int, bitState, error) {
	var err error
	l := minBits
	if s, err = d.need(s, l); err != nil {
		return 0, s, err
	}
	s.bl -= l
	code := int32(s.gb>>s.bl) & (1<<l - 1)
	for code > h.maxcode[l] {
		if s, err = d.need(s, 1); err != nil {
			return 0, s, err
		}
		s.bl--
		code = code<<1 | int32(s.gb>>s.bl)&1
		l++
	}
	if l > 16 {
		d.warnf("corrupt JPEG data: bad Huffman code")
		return 0, s, nil
	}
	return int(h.vals[(code+h.valoffset[l])&0xff]), s, nil
}

// need is CHECK_BIT_BUFFER: it refills the buffer when fewer than n bits
// are in it.
func (d *decoder) need(s bitState, n uint) (bitState, error) {
	if s.bl >= n {
		return s, nil
	}
	return d.refill(s, n)
}

// huffFast is the inline part of HUFF_DECODE: the symbol of the next code
// when at least huffLookahead bits are buffered and the code is no longer,
// with its bits consumed; otherwise -1 and s unchanged, and huffLong
// decodes the symbol.
func huffFast(s bitState, h *huffTable) (int, bitState) {
	if s.bl >= huffLookahead {
		if sym, nb := h.peek(s.gb, s.bl); nb <= huffLookahead {
			s.bl -= nb
			return int(sym), s
		}
	}
	return -1, s
}

// peek looks the next code up in the lookahead table: its symbol and its
// length, or a length over huffLookahead for a longer code. At least
// huffLookahead bits must be buffered in gb (bl of them).
func (h *huffTable) peek(gb uint64, bl uint) (sym, nb uint) {
	e := h.lookup[(gb>>(bl-huffLookahead))&(1<<huffLookahead-1)]
	return uint(e & 0xff), uint(e >> huffLookahead)
}

// huffLong decodes a symbol when fewer than 8 bits are buffered or the code
// is longer than 8 bits (the rest of HUFF_DECODE).
func (d *decoder) huffLong(s bitState, h *huffTable) (int, bitState, error) {
	if s.bl < huffLookahead {
		var err error
		if s, err = d.refill(s, 0); err != nil {
			return 0, s, err
		}
		if s.bl < huffLookahead {
			return d.huffSlow(s, h, 1)
		}
	}
	sym, nb := h.peek(s.gb, s.bl)
	if nb <= huffLookahead {
		s.bl -= nb
		return int(sym), s, nil
	}
	return d.huffSlow(s, h, nb)
}

// progressiveMCU decodes one MCU of the current progressive scan.
func (d *decoder) progressiveMCU(l *scanLayout, blocks *[maxBlocksInMCU]*[64]int16) error {
	if d.restartInterval != 0 && d.restartsToGo == 0 {
		if err := d.processRestart(); err != nil {
			return err
		}
	}
	var err error
	switch {
	case d.ss == 0 && d.ah == 0:
		if !d.insufficient {
			err = d.dcFirst(l, blocks)
		}
	case d.ss == 0:
		err = d.dcRefine(l, blocks)
	case d.ah == 0:
		if !d.insufficient {
			err = d.acFirst(blocks[0])
		}
	default:
		if !d.insufficient {
			err = d.acRefine(blocks[0])
		}
	}
	if err != nil {
		return err
	}
	if d.restartInterval != 0 {
		d.restartsToGo--
	}
	return nil
}

func (d *decoder) dcFirst(l *scanLayout, blocks *[maxBlocksInMCU]*[64]int16) error {
	s := d.loadBits()
	var err error
	for b := 0; b < l.blocksInMCU; b++ {
		ci := l.membership[b]
		h := d.dcTables[d.scanComps[ci].dcTbl]
		var v int
		if v, s = huffFast(s, h); v < 0 {
			if v, s, err = d.huffLong(s, h); err != nil {
				return err
			}
		}
		if v != 0 {
			n := uint(v)
			if s, err = d.need(s, n); err != nil {
				return err
			}
			s.bl -= n
			v = extend(int(s.gb>>s.bl)&(1<<n-1), v)
		}
		last := int64(d.lastDC[ci])
		if sum := last + int64(v); sum > math.MaxInt32 || sum < math.MinInt32 {
			return corruptf("DCT coefficient out of range")
		}
		d.lastDC[ci] += int32(v)
		blocks[b][0] = int16(int64(d.lastDC[ci]) << uint(d.al))
	}
	d.storeBits(s)
	return nil
}

func (d *decoder) dcRefine(l *scanLayout, blocks *[maxBlocksInMCU]*[64]int16) error {
	s := d.loadBits()
	var err error
	p1 := int16(1) << uint(d.al)
	for b := 0; b < l.blocksInMCU; b++ {
		if s, err = d.need(s, 1); err != nil {
			return err
		}
		s.bl--
		if (s.gb>>s.bl)&1 != 0 {
			blocks[b][0] |= p1
		}
	}
	d.storeBits(s)
	return nil
}

func (d *decoder) acFirst(block *[64]int16) error {
	if d.eobrun > 0 {
		d.eobrun--
		return nil
	}
	h := d.acTables[d.scanComps[0].acTbl]
	s := d.loadBits()
	var err error
	al := uint(d.al)
	for k := d.ss; k <= d.se; k++ {
		var sym int
		if sym, s = huffFast(s, h); sym < 0 {
			if sym, s, err = d.huffLong(s, h); err != nil {
				return err
			}
		}
		r := sym >> 4
		n := uint(sym & 15)
		if n != 0 {
			k += r
			if s, err = d.need(s, n); err != nil {
				return err
			}
			s.bl -= n
			v := extend(int(s.gb>>s.bl)&(1<<n-1), int(n))
			block[naturalOrder[k&127]] = int16(v << al)
			continue
		}
		if r == 15 {
			k += 15
			continue
		}
		eob := 1 << uint(r)
		if r != 0 {
			n := uint(r)
			if s, err = d.need(s, n); err != nil {
				return err
			}
			s.bl -= n
			eob += int(s.gb>>s.bl) & (1<<n - 1)
		}
		d.eobrun = eob - 1
		break
	}
	d.storeBits(s)
	return nil
}

func (d *decoder) acRefine(block *[64]int16) error {
	p1 := int32(1) << uint(d.al)
	m1 := int32(-1) << uint(d.al)
	h := d.acTables[d.scanComps[0].acTbl]
	se := d.se
	s := d.loadBits()
	var err error
	var newnz [64]uint8
	numNewnz := 0
	fail := func(e error) error {
		// Undo the newly nonzero coefficients, as libjpeg does before
		// suspending (here the error is final, but keep the block sane).
		for numNewnz > 0 {
			numNewnz--
			block[newnz[numNewnz]] = 0
		}
		return e
	}
	k := d.ss
	eobrun := d.eobrun
	if eobrun == 0 {
		for ; k <= se; k++ {
			var sym int
			if sym, s = huffFast(s, h); sym < 0 {
				if sym, s, err = d.huffLong(s, h); err != nil {
					return fail(err)
				}
			}
			r := sym >> 4
			n := sym & 15
			var nz int32
			if n != 0 {
				if n != 1 {
					d.warnf("corrupt JPEG data: bad Huffman code")
				}
				if s, err = d.need(s, 1); err != nil {
					return fail(err)
				}
				s.bl--
				if (s.gb>>s.bl)&1 != 0 {
					nz = p1
				} else {
					nz = m1
				}
			} else if r != 15 {
				eobrun = 1 << uint(r)
				if r != 0 {
					n := uint(r)
					if s, err = d.need(s, n); err != nil {
						return fail(err)
					}
					s.bl -= n
					eobrun += int(s.gb>>s.bl) & (1<<n - 1)
				}
				break
			}
			// Skip r zero coefficients, refining the nonzero ones passed.
			for k <= se {
				pos := naturalOrder[k]
				if v := int32(block[pos]); v != 0 {
					if s, err = d.need(s, 1); err != nil {
						return fail(err)
					}
					s.bl--
					block[pos] = refineCoef(v, (s.gb>>s.bl)&1 != 0, p1, m1)
				} else {
					r--
					if r < 0 {
						break
					}
				}
				k++
			}
			if nz != 0 {
				pos := naturalOrder[k&127]
				block[pos] = int16(nz)
				newnz[numNewnz] = uint8(pos)
				numNewnz++
			}
		}
	}
	if eobrun > 0 {
		for ; k <= se; k++ {
			pos := naturalOrder[k]
			if v := int32(block[pos]); v != 0 {
				if s, err = d.need(s, 1); err != nil {
					return fail(err)
				}
				s.bl--
				block[pos] = refineCoef(v, (s.gb>>s.bl)&1 != 0, p1, m1)
			}
		}
		eobrun--
	}
	d.eobrun = eobrun
	d.storeBits(s)
	return nil
}

// refineCoef is a correction bit applied to a coefficient v that is
// already nonzero: when the bit is set and v does not have it yet, v moves
// away from zero by p1 (p1 = 1<<Al, m1 = -1<<Al).
func refineCoef(v int32, bit bool, p1, m1 int32) int16 {
	if bit && v&p1 == 0 {
		if v >= 0 {
			return int16(v + p1)
		}
		return int16(v + m1)
	}
	return int16(v)
}
