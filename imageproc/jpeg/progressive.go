package jpeg

import "math"

// Progressive Huffman decoding, as libjpeg's jdphuff.c (slow path only;
// libjpeg has no fast path for progressive scans).

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
	for b := 0; b < l.blocksInMCU; b++ {
		ci := l.membership[b]
		c := d.scanComps[ci]
		s, err := d.huffDecode(d.dcTables[c.dcTbl])
		if err != nil {
			return err
		}
		if s != 0 {
			r, err := d.receive(s)
			if err != nil {
				return err
			}
			s = extend(r, s)
		}
		last := int64(d.lastDC[ci])
		if v := last + int64(s); v > math.MaxInt32 || v < math.MinInt32 {
			return corruptf("DCT coefficient out of range")
		}
		d.lastDC[ci] += int32(s)
		blocks[b][0] = int16(int64(d.lastDC[ci]) << uint(d.al))
	}
	return nil
}

func (d *decoder) dcRefine(l *scanLayout, blocks *[maxBlocksInMCU]*[64]int16) error {
	p1 := int16(1) << uint(d.al)
	for b := 0; b < l.blocksInMCU; b++ {
		bit, err := d.receive(1)
		if err != nil {
			return err
		}
		if bit != 0 {
			blocks[b][0] |= p1
		}
	}
	return nil
}

func (d *decoder) acFirst(block *[64]int16) error {
	if d.eobrun > 0 {
		d.eobrun--
		return nil
	}
	t := d.acTables[d.scanComps[0].acTbl]
	for k := d.ss; k <= d.se; k++ {
		s, err := d.huffDecode(t)
		if err != nil {
			return err
		}
		r := s >> 4
		s &= 15
		if s != 0 {
			k += r
			v, err := d.receive(s)
			if err != nil {
				return err
			}
			block[naturalOrder[k]] = int16(extend(v, s) << uint(d.al))
		} else {
			if r == 15 {
				k += 15
				continue
			}
			eob := 1 << uint(r)
			if r != 0 {
				v, err := d.receive(r)
				if err != nil {
					return err
				}
				eob += v
			}
			d.eobrun = eob - 1
			break
		}
	}
	return nil
}

func (d *decoder) acRefine(block *[64]int16) error {
	p1 := int32(1) << uint(d.al)
	m1 := int32(-1) << uint(d.al)
	t := d.acTables[d.scanComps[0].acTbl]
	var newnz [64]int
	numNewnz := 0
	undo := func() {
		for numNewnz > 0 {
			numNewnz--
			block[newnz[numNewnz]] = 0
		}
	}
	// refineNonzero appends a correction bit to an already-nonzero
	// coefficient.
	refineNonzero := func(pos int) error {
		bit, err := d.receive(1)
		if err != nil {
			return err
		}
		if bit != 0 {
			v := int32(block[pos])
			if v&p1 == 0 {
				if v >= 0 {
					block[pos] = int16(v + p1)
				} else {
					block[pos] = int16(v + m1)
				}
			}
		}
		return nil
	}
	k := d.ss
	eobrun := d.eobrun
	if eobrun == 0 {
		for ; k <= d.se; k++ {
			s, err := d.huffDecode(t)
			if err != nil {
				undo()
				return err
			}
			r := s >> 4
			s &= 15
			var nz int32
			if s != 0 {
				if s != 1 {
					d.warnf("corrupt JPEG data: bad Huffman code")
				}
				bit, err := d.receive(1)
				if err != nil {
					undo()
					return err
				}
				if bit != 0 {
					nz = p1
				} else {
					nz = m1
				}
			} else if r != 15 {
				eobrun = 1 << uint(r)
				if r != 0 {
					v, err := d.receive(r)
					if err != nil {
						undo()
						return err
					}
					eobrun += v
				}
				break
			}
			for k <= d.se {
				pos := naturalOrder[k]
				if block[pos] != 0 {
					if err := refineNonzero(pos); err != nil {
						undo()
						return err
					}
				} else {
					r--
					if r < 0 {
						break
					}
				}
				k++
			}
			if nz != 0 {
				pos := naturalOrder[k]
				block[pos] = int16(nz)
				newnz[numNewnz] = pos
				numNewnz++
			}
		}
	}
	if eobrun > 0 {
		for ; k <= d.se; k++ {
			pos := naturalOrder[k]
			if block[pos] != 0 {
				if err := refineNonzero(pos); err != nil {
					undo()
					return err
				}
			}
		}
		eobrun--
	}
	d.eobrun = eobrun
	return nil
}
