package jpeg

// Output of multi-scan files, with libjpeg's interblock smoothing
// (jdcoefct.c, decompress_smooth_data) for progressive files whose first
// AC coefficients are not all known to full precision: the missing low
// frequencies are estimated from the DC values of the 5x5 neighbouring
// blocks. Files from ordinary encoders send every coefficient to full
// precision and are not smoothed.

// Natural-order positions of zigzag coefficients 1..9.
const (
	q01Pos = 1
	q10Pos = 8
	q20Pos = 16
	q11Pos = 9
	q02Pos = 2
	q03Pos = 3
	q12Pos = 10
	q21Pos = 17
	q30Pos = 24
)

const savedCoefs = 10

// smoothingLatch holds, per component, the coefficient precision libjpeg
// latches in smoothing_ok.
type smoothingLatch struct {
	cur, prev [savedCoefs]int
}

// smoothingOK is libjpeg's smoothing_ok.
func (d *decoder) smoothingOK() ([]smoothingLatch, bool) {
	if !d.progressive {
		return nil, false
	}
	latches := make([]smoothingLatch, len(d.comps))
	useful := false
	for i := range d.comps {
		c := &d.comps[i]
		q := c.quant
		if q == nil {
			return nil, false
		}
		if q[0] == 0 || q[q01Pos] == 0 || q[q10Pos] == 0 || q[q20Pos] == 0 || q[q11Pos] == 0 ||
			q[q02Pos] == 0 || q[q03Pos] == 0 || q[q12Pos] == 0 || q[q21Pos] == 0 || q[q30Pos] == 0 {
			return nil, false
		}
		if c.coefBits[0] < 0 {
			return nil, false
		}
		latches[i].cur[0] = int(c.coefBits[0])
		for k := 1; k < savedCoefs; k++ {
			if d.scanNumber > 1 {
				latches[i].prev[k] = int(c.prevCoefBits[k])
			} else {
				latches[i].prev[k] = -1
			}
			latches[i].cur[k] = int(c.coefBits[k])
			if c.coefBits[k] != 0 {
				useful = true
			}
		}
	}
	return latches, useful
}

// outputCoefs inverse-transforms the coefficient arrays into the planes.
func (d *decoder) outputCoefs() {
	latches, smooth := d.smoothingOK()
	for i := range d.comps {
		c := &d.comps[i]
		if smooth {
			d.smoothComponent(c, &latches[i])
			continue
		}
		for by := 0; by < c.heightInBlocks; by++ {
			for bx := 0; bx < c.widthInBlocks; bx++ {
				off := (by*c.bw + bx) * 64
				idctBlock((*[64]int16)(c.coefs[off:off+64]), &c.mult, c.plane[by*8*c.stride+bx*8:], c.stride, &d.idctWS)
			}
		}
	}
}

// smoothPred is one coefficient estimate: num/(q<<8) rounded, limited to
// below 1<<al when al > 0.
func smoothPred(num, q int64, al int) int {
	var pred int
	if num >= 0 {
		pred = int(((q << 7) + num) / (q << 8))
		if al > 0 && pred >= 1<<al {
			pred = 1<<al - 1
		}
	} else {
		pred = int(((q << 7) - num) / (q << 8))
		if al > 0 && pred >= 1<<al {
			pred = 1<<al - 1
		}
		pred = -pred
	}
	return pred
}

func (d *decoder) smoothComponent(c *component, latch *smoothingLatch) {
	last := d.totalIMCURows - 1
	q := c.quant
	q00, q01, q10, q20 := int64(q[0]), int64(q[q01Pos]), int64(q[q10Pos]), int64(q[q20Pos])
	q11, q02 := int64(q[q11Pos]), int64(q[q02Pos])
	q03, q12, q21, q30 := int64(q[q03Pos]), int64(q[q12Pos]), int64(q[q21Pos]), int64(q[q30Pos])
	block := func(row, col int) []int16 {
		off := (row*c.bw + col) * 64
		return c.coefs[off : off+64]
	}
	var ws [64]int16
	for imcu := 0; imcu <= last; imcu++ {
		blockRows := c.v
		if imcu == last {
			blockRows = c.heightInBlocks % c.v
			if blockRows == 0 {
				blockRows = c.v
			}
		}
		bits := &latch.cur
		if imcu > d.lastGoodIMCURow {
			bits = &latch.prev
		}
		changeDC := true
		for k := 1; k <= 9; k++ {
			if bits[k] != -1 {
				changeDC = false
			}
		}
		for br := 0; br < blockRows; br++ {
			row := imcu*c.v + br
			prevRow, prevPrevRow, nextRow, nextNextRow := row, row, row, row
			if br > 0 || imcu > 0 {
				prevRow = row - 1
			}
			if br > 1 || imcu > 1 {
				prevPrevRow = row - 2
			} else {
				prevPrevRow = prevRow
			}
			if br < blockRows-1 || imcu < last {
				nextRow = row + 1
			}
			if br < blockRows-2 || imcu+1 < last {
				nextNextRow = row + 2
			} else {
				nextNextRow = nextRow
			}
			rows := [5]int{prevPrevRow, prevRow, row, nextRow, nextNextRow}
			// dc[r][j]: DC of row r at column offset j-2 (the DC01..DC25
			// sliding registers of libjpeg).
			var dc [5][5]int
			for r := 0; r < 5; r++ {
				v := int(block(rows[r], 0)[0])
				dc[r] = [5]int{v, v, v, v, v}
			}
			lastCol := c.widthInBlocks - 1
			for bn := 0; bn <= lastCol; bn++ {
				copy(ws[:], block(row, bn))
				if bn == 0 && bn < lastCol {
					for r := 0; r < 5; r++ {
						dc[r][3] = int(block(rows[r], bn+1)[0])
					}
				}
				if bn+1 < lastCol {
					for r := 0; r < 5; r++ {
						dc[r][4] = int(block(rows[r], bn+2)[0])
					}
				}
				d.smoothBlock(&ws, &dc, bits, changeDC, q00, q01, q10, q20, q11, q02, q03, q12, q21, q30)
				idctBlock(&ws, &c.mult, c.plane[row*8*c.stride+bn*8:], c.stride, &d.idctWS)
				for r := 0; r < 5; r++ {
					dc[r][0], dc[r][1], dc[r][2], dc[r][3] = dc[r][1], dc[r][2], dc[r][3], dc[r][4]
				}
			}
		}
	}
}

func (d *decoder) smoothBlock(ws *[64]int16, dc *[5][5]int, bits *[savedCoefs]int, changeDC bool,
	q00, q01, q10, q20, q11, q02, q03, q12, q21, q30 int64) {
	// Names as libjpeg's: DC01..DC05 is the row two above, DC11..DC15 the
	// block's own row (DC13 the block itself), DC21..DC25 two below.
	DC01, DC02, DC03, DC04, DC05 := dc[0][0], dc[0][1], dc[0][2], dc[0][3], dc[0][4]
	DC06, DC07, DC08, DC09, DC10 := dc[1][0], dc[1][1], dc[1][2], dc[1][3], dc[1][4]
	DC11, DC12, DC13, DC14, DC15 := dc[2][0], dc[2][1], dc[2][2], dc[2][3], dc[2][4]
	DC16, DC17, DC18, DC19, DC20 := dc[3][0], dc[3][1], dc[3][2], dc[3][3], dc[3][4]
	DC21, DC22, DC23, DC24, DC25 := dc[4][0], dc[4][1], dc[4][2], dc[4][3], dc[4][4]
	var num int64
	if al := bits[1]; al != 0 && ws[1] == 0 {
		if changeDC {
			num = q00 * int64(-DC01-DC02+DC04+DC05-3*DC06+13*DC07-13*DC09+3*DC10-3*DC11+38*DC12-38*DC14+
				3*DC15-3*DC16+13*DC17-13*DC19+3*DC20-DC21-DC22+DC24+DC25)
		} else {
			num = q00 * int64(-7*DC11+50*DC12-50*DC14+7*DC15)
		}
		ws[1] = int16(smoothPred(num, q01, al))
	}
	if al := bits[2]; al != 0 && ws[8] == 0 {
		if changeDC {
			num = q00 * int64(-DC01-3*DC02-3*DC03-3*DC04-DC05-DC06+13*DC07+38*DC08+13*DC09-DC10+DC16-
				13*DC17-38*DC18-13*DC19+DC20+DC21+3*DC22+3*DC23+3*DC24+DC25)
		} else {
			num = q00 * int64(-7*DC03+50*DC08-50*DC18+7*DC23)
		}
		ws[8] = int16(smoothPred(num, q10, al))
	}
	if al := bits[3]; al != 0 && ws[16] == 0 {
		if changeDC {
			num = q00 * int64(DC03+2*DC07+7*DC08+2*DC09-5*DC12-14*DC13-5*DC14+2*DC17+7*DC18+2*DC19+DC23)
		} else {
			num = q00 * int64(-DC03+13*DC08-24*DC13+13*DC18-DC23)
		}
		ws[16] = int16(smoothPred(num, q20, al))
	}
	if al := bits[4]; al != 0 && ws[9] == 0 {
		if changeDC {
			num = q00 * int64(-DC01+DC05+9*DC07-9*DC09-9*DC17+9*DC19+DC21-DC25)
		} else {
			num = q00 * int64(DC10+DC16-10*DC17+10*DC19-DC02-DC20+DC22-DC24+DC04-DC06+10*DC07-10*DC09)
		}
		ws[9] = int16(smoothPred(num, q11, al))
	}
	if al := bits[5]; al != 0 && ws[2] == 0 {
		if changeDC {
			num = q00 * int64(2*DC07-5*DC08+2*DC09+DC11+7*DC12-14*DC13+7*DC14+DC15+2*DC17-5*DC18+2*DC19)
		} else {
			num = q00 * int64(-DC11+13*DC12-24*DC13+13*DC14-DC15)
		}
		ws[2] = int16(smoothPred(num, q02, al))
	}
	if !changeDC {
		return
	}
	if al := bits[6]; al != 0 && ws[3] == 0 {
		num = q00 * int64(DC07-DC09+2*DC12-2*DC14+DC17-DC19)
		ws[3] = int16(smoothPred(num, q03, al))
	}
	if al := bits[7]; al != 0 && ws[10] == 0 {
		num = q00 * int64(DC07-3*DC08+DC09-DC17+3*DC18-DC19)
		ws[10] = int16(smoothPred(num, q12, al))
	}
	if al := bits[8]; al != 0 && ws[17] == 0 {
		num = q00 * int64(DC07-DC09-3*DC12+3*DC14+DC17-DC19)
		ws[17] = int16(smoothPred(num, q21, al))
	}
	if al := bits[9]; al != 0 && ws[24] == 0 {
		num = q00 * int64(DC07+2*DC08+DC09-DC17-2*DC18-DC19)
		ws[24] = int16(smoothPred(num, q30, al))
	}
	num = q00 * int64(-2*DC01-6*DC02-8*DC03-6*DC04-2*DC05-6*DC06+6*DC07+42*DC08+6*DC09-6*DC10-
		8*DC11+42*DC12+152*DC13+42*DC14-8*DC15-6*DC16+6*DC17+42*DC18+6*DC19-6*DC20-
		2*DC21-6*DC22-8*DC23-6*DC24-2*DC25)
	ws[0] = int16(smoothPred(num, q00, 0))
}
