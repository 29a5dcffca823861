package jpeg

// Scan decoding: libjpeg's per_scan_setup, latch_quant_tables, the entropy
// decoders' start_pass, restart processing and the MCU loops of jdcoefct.c.

// scanLayout is the MCU geometry of the current scan.
type scanLayout struct {
	mcusPerRow, mcuRows int
	blocksInMCU         int
	membership          [maxBlocksInMCU]int // scan component of each block
	// Per scan component: MCU width and height in blocks.
	mcuW, mcuH [maxCompsInScan]int
}

func (d *decoder) layout() (scanLayout, error) {
	var l scanLayout
	if d.compsInScan == 1 {
		c := d.scanComps[0]
		l.mcusPerRow = c.widthInBlocks
		l.mcuRows = c.heightInBlocks
		l.blocksInMCU = 1
		l.mcuW[0], l.mcuH[0] = 1, 1
		return l, nil
	}
	l.mcusPerRow = divRoundUp(d.width, d.maxH*8)
	l.mcuRows = divRoundUp(d.height, d.maxV*8)
	for ci := 0; ci < d.compsInScan; ci++ {
		c := d.scanComps[ci]
		l.mcuW[ci], l.mcuH[ci] = c.h, c.v
		n := c.h * c.v
		if l.blocksInMCU+n > maxBlocksInMCU {
			return l, corruptf("sampling factors too large for interleaved scan")
		}
		for ; n > 0; n-- {
			l.membership[l.blocksInMCU] = ci
			l.blocksInMCU++
		}
	}
	return l, nil
}

// latchQuant saves the quantization tables of the scan's components the
// first time each is scanned; later DQT segments do not affect them.
func (d *decoder) latchQuant() error {
	for ci := 0; ci < d.compsInScan; ci++ {
		c := d.scanComps[ci]
		if c.quant != nil {
			continue
		}
		if c.tq >= numQuantTables || d.quant[c.tq] == nil {
			return corruptf("quantization table 0x%02x was not defined", c.tq)
		}
		q := *d.quant[c.tq]
		c.quant = &q
		for i, v := range q {
			c.mult[i] = int16(v)
		}
	}
	return nil
}

// derivedTable returns the decoding table for DC or AC table slot n,
// deriving (and validating) it again only when the slot was redefined.
func (d *decoder) derivedTable(isDC bool, n int) (*huffTable, error) {
	if n >= numHuffTables {
		return nil, corruptf("Huffman table 0x%02x was not defined", n)
	}
	spec, cache, from := d.acSpec[n], &d.acDerived[n], &d.acDerivedFrom[n]
	if isDC {
		spec, cache, from = d.dcSpec[n], &d.dcDerived[n], &d.dcDerivedFrom[n]
	}
	if spec == nil {
		return nil, corruptf("Huffman table 0x%02x was not defined", n)
	}
	if *from != spec {
		if *cache == nil {
			*cache = new(huffTable)
		}
		if err := (*cache).derive(spec, isDC); err != nil {
			*from = nil
			return nil, err
		}
		*from = spec
	}
	return *cache, nil
}

// startScan is start_input_pass: the scan's geometry, quantization tables
// and entropy decoder set-up, with libjpeg's checks.
func (d *decoder) startScan() (scanLayout, error) {
	l, err := d.layout()
	if err != nil {
		return l, err
	}
	if err := d.latchQuant(); err != nil {
		return l, err
	}
	if d.progressive {
		err = d.startProgressive()
	} else {
		err = d.startSequential()
	}
	if err != nil {
		return l, err
	}
	d.bitsLeft, d.getBuf = 0, 0
	d.insufficient = false
	d.eobrun = 0
	d.restartsToGo = d.restartInterval
	for i := range d.lastDC {
		d.lastDC[i] = 0
	}
	// Bound the work: every block of the scan visits its band.
	band := 64
	if d.progressive {
		band = d.se - d.ss + 1
	}
	d.coefVisits += int64(l.mcusPerRow) * int64(l.mcuRows) * int64(l.blocksInMCU) * int64(band)
	if d.coefVisits > d.coefBudget {
		return l, corruptf("scans revisit the coefficients more than %d times (decompression bomb?)", coefVisitFactor)
	}
	return l, nil
}

func (d *decoder) startSequential() error {
	if d.ss != 0 || d.se != 63 || d.ah != 0 || d.al != 0 {
		d.warnf("invalid SOS parameters for sequential JPEG")
	}
	for ci := 0; ci < d.compsInScan; ci++ {
		c := d.scanComps[ci]
		t, err := d.derivedTable(true, c.dcTbl)
		if err != nil {
			return err
		}
		d.dcTables[c.dcTbl] = t
		if t, err = d.derivedTable(false, c.acTbl); err != nil {
			return err
		}
		d.acTables[c.acTbl] = t
	}
	return nil
}

func (d *decoder) startProgressive() error {
	isDC := d.ss == 0
	bad := false
	if isDC {
		if d.se != 0 {
			bad = true
		}
	} else {
		if d.ss > d.se || d.se >= 64 {
			bad = true
		}
		if d.compsInScan != 1 {
			bad = true
		}
	}
	if d.ah != 0 && d.al != d.ah-1 {
		bad = true
	}
	if d.al > 13 {
		bad = true
	}
	if bad {
		return corruptf("invalid progressive parameters Ss=%d Se=%d Ah=%d Al=%d", d.ss, d.se, d.ah, d.al)
	}
	for ci := 0; ci < d.compsInScan; ci++ {
		c := d.scanComps[ci]
		if !isDC && c.coefBits[0] < 0 {
			d.warnf("inconsistent progression sequence for component %d coefficient 0", c.index)
		}
		for k := min(d.ss, 1); k <= max(d.se, 9); k++ {
			if d.scanNumber > 1 {
				c.prevCoefBits[k] = c.coefBits[k]
			} else {
				c.prevCoefBits[k] = 0
			}
		}
		for k := d.ss; k <= d.se; k++ {
			expected := max(c.coefBits[k], 0)
			if int8(d.ah) != expected {
				d.warnf("inconsistent progression sequence for component %d coefficient %d", c.index, k)
			}
			c.coefBits[k] = int8(d.al)
		}
	}
	for ci := 0; ci < d.compsInScan; ci++ {
		c := d.scanComps[ci]
		if isDC {
			if d.ah == 0 {
				t, err := d.derivedTable(true, c.dcTbl)
				if err != nil {
					return err
				}
				d.dcTables[c.dcTbl] = t
			}
		} else {
			t, err := d.derivedTable(false, c.acTbl)
			if err != nil {
				return err
			}
			d.acTables[c.acTbl] = t
		}
	}
	return nil
}

// processRestart is process_restart plus read_restart_marker and
// jpeg_resync_to_restart.
func (d *decoder) processRestart() error {
	d.bitsLeft = 0
	if d.unreadMarker == 0 {
		if err := d.nextMarkerEntropy(); err != nil {
			return err
		}
	}
	if d.unreadMarker == mRST0+d.nextRestartNum {
		d.unreadMarker = 0
	} else {
		d.warnf("corrupt JPEG data: found marker 0x%02x instead of RST%d", d.unreadMarker, d.nextRestartNum)
		if err := d.resync(); err != nil {
			return err
		}
	}
	d.nextRestartNum = (d.nextRestartNum + 1) & 7
	for i := range d.lastDC {
		d.lastDC[i] = 0
	}
	d.eobrun = 0
	d.restartsToGo = d.restartInterval
	if d.unreadMarker == 0 {
		d.insufficient = false
	}
	return nil
}

// resync is jpeg_resync_to_restart.
func (d *decoder) resync() error {
	desired := d.nextRestartNum
	for {
		m := d.unreadMarker
		action := 1
		switch {
		case m < mSOF0:
			action = 2
		case m < mRST0 || m > mRST7:
			action = 3
		case m == mRST0+((desired+1)&7) || m == mRST0+((desired+2)&7):
			action = 3
		case m == mRST0+((desired-1)&7) || m == mRST0+((desired-2)&7):
			action = 2
		}
		switch action {
		case 1:
			d.unreadMarker = 0
			return nil
		case 2:
			if err := d.nextMarkerEntropy(); err != nil {
				return err
			}
		case 3:
			return nil
		}
	}
}

// nextMarkerEntropy is next_marker as called from within a scan: it reads
// through the emulated Pillow buffer, growing it as libjpeg's suspensions
// there would.
func (d *decoder) nextMarkerEntropy() error {
	discarded := 0
	read := func() (byte, error) {
		if d.pos >= len(d.data) {
			return 0, errTruncated
		}
		if d.pos >= d.bufEnd {
			d.bufEnd = min(len(d.data), d.bufEnd+pillowChunk)
		}
		c := d.data[d.pos]
		d.pos++
		return c, nil
	}
	for {
		c, err := read()
		if err != nil {
			return err
		}
		for c != 0xff {
			discarded++
			if c, err = read(); err != nil {
				return err
			}
		}
		for c == 0xff {
			if c, err = read(); err != nil {
				return err
			}
		}
		if c != 0 {
			if discarded != 0 {
				d.warnf("corrupt JPEG data: %d extraneous bytes before marker 0x%02x", discarded, c)
			}
			d.unreadMarker = int(c)
			return nil
		}
		discarded += 2
	}
}

// mcuState is what libjpeg restores when an MCU has to be decoded again.
type mcuState struct {
	pos      int
	getBuf   uint64
	bitsLeft int
	lastDC   [maxCompsInScan]int32
}

func (d *decoder) saveState() mcuState {
	return mcuState{d.pos, d.getBuf, d.bitsLeft, d.lastDC}
}

func (d *decoder) restoreState(s mcuState) {
	d.pos, d.getBuf, d.bitsLeft, d.lastDC = s.pos, s.getBuf, s.bitsLeft, s.lastDC
}

// decodeSingleScan decodes a file whose first scan is sequential and holds
// every component: each MCU is decoded, inverse-transformed and stored in
// the component planes right away (decompress_onepass).
func (d *decoder) decodeSingleScan() error {
	l, err := d.startScan()
	if err != nil {
		return err
	}
	var mcu [maxBlocksInMCU][64]int16
	var ptrs [maxBlocksInMCU]*[64]int16
	for i := range ptrs {
		ptrs[i] = &mcu[i]
	}
	var tables [maxBlocksInMCU]blockTables
	d.fillTables(&l, &tables)
	lastCol := l.mcusPerRow - 1
	mcuRowsPerIMCU := 1
	if d.compsInScan == 1 {
		mcuRowsPerIMCU = d.scanComps[0].v
	}
	for my := 0; my < l.mcuRows; my++ {
		for mx := 0; mx < l.mcusPerRow; mx++ {
			for b := 0; b < l.blocksInMCU; b++ {
				mcu[b] = [64]int16{}
			}
			if err := d.sequentialMCU(&l, &tables, &ptrs); err != nil {
				return err
			}
			// Inverse-transform the blocks inside the image; the dummy
			// blocks padding the last MCU column and row are skipped.
			// (A one-component image has a non-interleaved scan: one block
			// per MCU.)
			blkn := 0
			for ci := 0; ci < d.compsInScan; ci++ {
				c := d.scanComps[ci]
				w, h := l.mcuW[ci], l.mcuH[ci]
				useful := w
				if mx == lastCol {
					useful = c.widthInBlocks - mx*w
				}
				for yi := 0; yi < h; yi++ {
					if by := my*h + yi; by < c.heightInBlocks {
						off := (by*8%c.rows)*c.stride + mx*w*8
						for xi := 0; xi < useful; xi++ {
							idctBlock(&mcu[blkn+xi], &c.mult, c.plane[off+xi*8:], c.stride, &d.idctWS)
						}
					}
					blkn += w
				}
			}
		}
		// Output rows one iMCU row behind the decoder have all their
		// upsampling context.
		if imcu := (my + 1) / mcuRowsPerIMCU; (my+1)%mcuRowsPerIMCU == 0 && imcu >= 2 {
			d.convertRows(min(d.height, (imcu-1)*d.maxV*8))
		}
	}
	return nil
}

// blockTables are the Huffman tables used for one block of an MCU.
type blockTables struct {
	dc, ac *huffTable
	ci     int
}

func (d *decoder) fillTables(l *scanLayout, t *[maxBlocksInMCU]blockTables) {
	for b := 0; b < l.blocksInMCU; b++ {
		ci := l.membership[b]
		c := d.scanComps[ci]
		t[b] = blockTables{dc: d.dcTables[c.dcTbl], ac: d.acTables[c.acTbl], ci: ci}
	}
}

// fastBytes is libjpeg-turbo's BUFSIZE: the fast path runs only when this
// many bytes per block are buffered.
const fastBytes = 64 * 8

// sequentialMCU is jdhuff.c's decode_mcu: restart processing, then
// libjpeg-turbo's fast path when it would take it (no restart interval, no
// pending marker, 512 bytes per block in Pillow's buffer), falling back to
// the slow path for an MCU that meets a marker, and nothing once the
// segment ran out. The blocks must hold zeros where the scan leaves
// coefficients unset.
//
// The choice is replayed exactly because it is observable: an aborted fast
// attempt leaves the coefficients it decoded (libjpeg does not clear them
// before the slow pass), which shows when a stray 0xFF 0xFF 0x00 in the
// data made the fast path stop where the slow path reads on; and the bit
// buffer's read-ahead decides whether a file without its EOI runs out of
// data. Pillow's buffer ends at the 64 KiB chunk boundary after the
// furthest byte libjpeg has read; reading past it makes libjpeg suspend
// and decode the MCU again once Pillow has appended the next chunk.
func (d *decoder) sequentialMCU(l *scanLayout, t *[maxBlocksInMCU]blockTables, blocks *[maxBlocksInMCU]*[64]int16) error {
	for {
		if d.restartInterval != 0 && d.restartsToGo == 0 {
			if err := d.processRestart(); err != nil {
				return err
			}
		}
		if d.pos > 0 {
			d.bufEnd = max(d.bufEnd, min(len(d.data), ((d.pos-1)/pillowChunk+1)*pillowChunk))
		}
		useFast := d.restartInterval == 0 && d.unreadMarker == 0 && d.bufEnd-d.pos >= fastBytes*l.blocksInMCU
		if !d.insufficient {
			if !useFast || !d.sequentialMCUFast(l, t, blocks) {
				s := d.saveState()
				if err := d.sequentialMCUSlow(l, t, blocks); err != nil {
					if err == errSuspend {
						d.restoreState(s)
						d.bufEnd = min(len(d.data), d.bufEnd+pillowChunk)
						if !d.multiScan {
							// decompress_onepass clears the MCU again.
							for b := 0; b < l.blocksInMCU; b++ {
								*blocks[b] = [64]int16{}
							}
						}
						continue
					}
					return err
				}
			}
		}
		if d.restartInterval != 0 {
			d.restartsToGo--
		}
		return nil
	}
}

// sequentialMCUSlow is decode_mcu_slow, with the bit buffer in locals.
func (d *decoder) sequentialMCUSlow(l *scanLayout, t *[maxBlocksInMCU]blockTables, blocks *[maxBlocksInMCU]*[64]int16) error {
	s := d.loadBits()
	lastDC := d.lastDC
	var err error
	for b := 0; b < l.blocksInMCU; b++ {
		block := blocks[b]
		bt := &t[b]
		h := bt.dc
		var sym int
		if sym, s = huffFast(s, h); sym < 0 {
			if sym, s, err = d.huffLong(s, h); err != nil {
				return err
			}
		}
		if sym != 0 {
			n := uint(sym)
			if s, err = d.need(s, n); err != nil {
				return err
			}
			s.bl -= n
			lastDC[bt.ci] += int32(extend(int(s.gb>>s.bl)&(1<<n-1), sym))
		}
		block[0] = int16(lastDC[bt.ci])
		h = bt.ac
		for k := 1; k < 64; k++ {
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
				block[naturalOrder[k&127]] = int16(extend(int(s.gb>>s.bl)&(1<<n-1), int(n)))
			} else {
				if r != 15 {
					break
				}
				k += 15
			}
		}
	}
	d.storeBits(s)
	d.lastDC = lastDC
	return nil
}

// sequentialMCUFast is decode_mcu_fast. It reports false, leaving the
// decoder state untouched, when it meets a marker. Its refills are
// libjpeg-turbo's FILL_BIT_BUFFER_FAST (six GET_BYTEs whenever 16 bits or
// fewer remain), so that the bit buffer is in the same state as libjpeg's
// when the slow path takes over; a marker stuffs zero bytes (the MCU is then
// decoded again by the slow path).
func (d *decoder) sequentialMCUFast(l *scanLayout, t *[maxBlocksInMCU]blockTables, blocks *[maxBlocksInMCU]*[64]int16) bool {
	data := d.data
	p := d.pos
	gb := d.getBuf
	bl := uint(d.bitsLeft)
	lastDC := d.lastDC
	marker := false
	for b := 0; b < l.blocksInMCU; b++ {
		block := blocks[b]
		bt := &t[b]

		// DC coefficient.
		p, gb, bl, marker = fillFast(data, p, gb, bl, marker)
		h := bt.dc
		s, nb := h.peek(gb, bl)
		bl -= nb
		if nb > huffLookahead {
			s, bl = d.fastSlowCode(h, gb, bl, nb)
		}
		if s != 0 {
			p, gb, bl, marker = fillFast(data, p, gb, bl, marker)
			bl -= s
			r := int(gb>>bl) & (1<<s - 1)
			lastDC[bt.ci] += int32(extend(r, int(s)))
		}
		block[0] = int16(lastDC[bt.ci])

		// AC coefficients.
		h = bt.ac
		for k := 1; k < 64; k++ {
			p, gb, bl, marker = fillFast(data, p, gb, bl, marker)
			s, nb := h.peek(gb, bl)
			bl -= nb
			if nb > huffLookahead {
				s, bl = d.fastSlowCode(h, gb, bl, nb)
			}
			r := int(s >> 4)
			s &= 15
			if s != 0 {
				k += r
				p, gb, bl, marker = fillFast(data, p, gb, bl, marker)
				bl -= s
				v := int(gb>>bl) & (1<<s - 1)
				block[naturalOrder[k&127]] = int16(extend(v, int(s)))
			} else {
				if r != 15 {
					break
				}
				k += 15
			}
		}
	}
	if marker {
		return false
	}
	d.pos, d.getBuf, d.bitsLeft, d.lastDC = p, gb, int(bl), lastDC
	return true
}

// fillFast is FILL_BIT_BUFFER_FAST: when 16 bits or fewer are buffered, six
// bytes are read; a marker sets marker and stuffs zero bytes. It is small
// enough to be inlined into the fast path.
func fillFast(data []byte, p int, gb uint64, bl uint, marker bool) (int, uint64, uint, bool) {
	if bl <= 16 {
		for i := 0; i < 6; i++ {
			c0 := data[p]
			gb = gb<<8 | uint64(c0)
			bl += 8
			if c0 == 0xff {
				if data[p+1] != 0 {
					marker = true
					gb &^= 0xff
					continue
				}
				p++
			}
			p++
		}
	}
	return p, gb, bl, marker
}

// fastSlowCode finishes decoding a code longer than the lookahead in the
// fast path (HUFF_DECODE_FAST's loop); the nb bits already dropped are its
// first bits.
func (d *decoder) fastSlowCode(h *huffTable, gb uint64, bl, nb uint) (uint, uint) {
	code := int32(gb>>bl) & (1<<nb - 1)
	for code > h.maxcode[nb] {
		bl--
		code = code<<1 | int32(gb>>bl)&1
		nb++
	}
	if nb > 16 {
		d.warnf("corrupt JPEG data: bad Huffman code")
		return 0, bl
	}
	return uint(h.vals[(code+h.valoffset[nb])&0xff]), bl
}

// decodeScanCoefs decodes one scan of a multi-scan file into the
// components' coefficient arrays (consume_data).
func (d *decoder) decodeScanCoefs() error {
	l, err := d.startScan()
	if err != nil {
		return err
	}
	if d.progressive {
		// No fast path, and running out of data anywhere is final: the
		// buffer is the whole input.
		d.bufEnd = len(d.data)
	}
	var ptrs [maxBlocksInMCU]*[64]int16
	var tables [maxBlocksInMCU]blockTables
	if !d.progressive {
		d.fillTables(&l, &tables)
	}
	mcuRowsPerIMCU := 1
	if d.compsInScan == 1 {
		mcuRowsPerIMCU = d.scanComps[0].v
	}
	for my := 0; my < l.mcuRows; my++ {
		iMCURow := my / mcuRowsPerIMCU
		for mx := 0; mx < l.mcusPerRow; mx++ {
			blkn := 0
			for ci := 0; ci < d.compsInScan; ci++ {
				c := d.scanComps[ci]
				for yi := 0; yi < l.mcuH[ci]; yi++ {
					by := my*l.mcuH[ci] + yi
					for xi := 0; xi < l.mcuW[ci]; xi++ {
						bx := mx*l.mcuW[ci] + xi
						off := (by*c.bw + bx) * 64
						ptrs[blkn] = (*[64]int16)(c.coefs[off : off+64])
						blkn++
					}
				}
			}
			if !d.insufficient {
				d.lastGoodIMCURow = iMCURow
			}
			if d.progressive {
				err = d.progressiveMCU(&l, &ptrs)
			} else {
				err = d.sequentialMCU(&l, &tables, &ptrs)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}
