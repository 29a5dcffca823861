package jpeg

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"io"
)

// Marker codes (the byte after 0xFF).
const (
	mSOF0  = 0xc0
	mSOF1  = 0xc1
	mSOF2  = 0xc2
	mSOF3  = 0xc3
	mDHT   = 0xc4
	mSOF5  = 0xc5
	mSOF7  = 0xc7
	mJPG   = 0xc8
	mSOF9  = 0xc9
	mSOF10 = 0xca
	mSOF11 = 0xcb
	mDAC   = 0xcc
	mSOF13 = 0xcd
	mSOF15 = 0xcf
	mRST0  = 0xd0
	mRST7  = 0xd7
	mSOI   = 0xd8
	mEOI   = 0xd9
	mSOS   = 0xda
	mDQT   = 0xdb
	mDNL   = 0xdc
	mDRI   = 0xdd
	mAPP0  = 0xe0
	mAPP1  = 0xe1
	mAPP14 = 0xee
	mAPP15 = 0xef
	mCOM   = 0xfe
	mTEM   = 0x01
)

const (
	maxDimension    = 65500 // JPEG_MAX_DIMENSION
	maxBlocksInMCU  = 10    // D_MAX_BLOCKS_IN_MCU
	maxCompsInScan  = 4     // MAX_COMPS_IN_SCAN
	maxSampFactor   = 4     // MAX_SAMP_FACTOR
	numHuffTables   = 4     // NUM_HUFF_TBLS
	numQuantTables  = 4     // NUM_QUANT_TBLS
	maxScans        = 10000 // scans accepted in one file
	coefVisitFactor = 20    // coefficient visits allowed per coefficient, over all scans
)

// errSuspend is the internal signal that the (emulated) input buffer of
// Pillow's decoder ran dry; see decoder.bufEnd.
var errSuspend = errors.New("jpeg: suspend")

// colorSpace is libjpeg's J_COLOR_SPACE for the stored components.
type colorSpace int

const (
	csUnknown colorSpace = iota
	csGray
	csYCbCr
	csRGB
	csCMYK
	csYCCK
)

func (c colorSpace) String() string {
	switch c {
	case csGray:
		return "Gray"
	case csYCbCr:
		return "YCbCr"
	case csRGB:
		return "RGB"
	case csCMYK:
		return "CMYK"
	case csYCCK:
		return "YCCK"
	}
	return ""
}

// component is one image component (libjpeg's jpeg_component_info).
type component struct {
	id, index int
	h, v      int // sampling factors
	tq        int // quantization table selector

	widthInBlocks, heightInBlocks int
	bw, bh                        int // blocks allocated: rounded up to h, v
	dsWidth, dsHeight             int // downsampled size in samples

	// quant holds the latched quantization table (natural order) once the
	// component's first scan started; nil before.
	quant *[64]uint16
	// mult is quant as the IDCT multiplies it: libjpeg-turbo's SIMD builds
	// keep ISLOW_MULT_TYPE in a short.
	mult [64]int16

	coefs []int16 // whole-image coefficients (multi-scan files), bw*bh*64
	// plane holds decoded samples, stride bytes per row. It holds all
	// bh*8 rows, or for single-scan files a ring of rows: sample row i is
	// at row i%rows.
	plane  []byte
	stride int
	rows   int

	dcTbl, acTbl int // table selectors of the current scan

	// Progressive status (libjpeg's coef_bits[ci] and
	// coef_bits[ci+num_components]).
	coefBits, prevCoefBits [64]int8
}

// huffSpec is a Huffman table as defined by a DHT segment.
type huffSpec struct {
	bits [17]uint8
	vals [256]uint8
}

type decoder struct {
	data []byte
	pos  int
	src  *bufio.Reader // DecodeConfig only: data comes from here
	opts DecodeOptions

	warning string // first condition libjpeg warns about

	// Marker reader state.
	unreadMarker int
	sawSOI       bool
	sawSOF       bool
	inHeaders    bool
	stopAtSOF    bool // DecodeConfig: return after the frame header

	// Frame.
	progressive bool
	width       int
	height      int
	comps       []component
	maxH, maxV  int
	colorSpace  colorSpace

	// Tables and parameters defined by markers.
	quant           [numQuantTables]*[64]uint16
	dcSpec, acSpec  [numHuffTables]*huffSpec
	restartInterval int
	sawJFIF         bool
	jfifMajor       int
	sawAdobe        bool
	adobeTransform  int
	sawExif         bool
	orientation     int

	// Current scan.
	compsInScan     int
	scanComps       [maxCompsInScan]*component
	ss, se, ah, al  int
	nextRestartNum  int
	scanNumber      int
	multiScan       bool
	totalIMCURows   int
	coefVisits      int64
	coefBudget      int64
	lastGoodIMCURow int

	// Entropy decoder state.
	getBuf       uint64
	bitsLeft     int
	insufficient bool
	eobrun       int
	lastDC       [maxCompsInScan]int32
	restartsToGo int
	dcTables     [numHuffTables]*huffTable
	acTables     [numHuffTables]*huffTable

	// Derived Huffman tables and the specs they were derived from.
	dcDerived, acDerived         [numHuffTables]*huffTable
	dcDerivedFrom, acDerivedFrom [numHuffTables]*huffSpec

	// Emulation of the input buffer Pillow hands libjpeg: 64 KiB chunks,
	// which decide whether libjpeg-turbo's fast Huffman path runs.
	bufEnd int

	idctWS [64]int16

	// Output and its conversion state.
	out      image.Image
	ups      []*upsampler
	outRows  int  // rows of out already converted
	fused420 bool // 4:2:0 YCbCr: upsample and convert in one pass
}

func (d *decoder) warnf(format string, args ...any) {
	if d.warning == "" {
		d.warning = fmt.Sprintf(format, args...)
	}
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

func unsupportedf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

var errTruncated = fmt.Errorf("%w (image file is truncated)", ErrTruncated)

// --- byte input for marker segments ---

// readByte returns the next input byte.
func (d *decoder) readByte() (int, error) {
	if d.src != nil {
		c, err := d.src.ReadByte()
		if err != nil {
			return 0, d.srcErr(err)
		}
		d.pos++
		return int(c), nil
	}
	if d.pos >= len(d.data) {
		return 0, errTruncated
	}
	c := d.data[d.pos]
	d.pos++
	return int(c), nil
}

func (d *decoder) read2() (int, error) {
	a, err := d.readByte()
	if err != nil {
		return 0, err
	}
	b, err := d.readByte()
	if err != nil {
		return 0, err
	}
	return a<<8 | b, nil
}

// readN returns the next n bytes (a view of the input, or a fresh buffer
// when reading from a stream).
func (d *decoder) readN(n int) ([]byte, error) {
	if n <= 0 {
		return nil, nil
	}
	if d.src != nil {
		b := make([]byte, n)
		if _, err := io.ReadFull(d.src, b); err != nil {
			return nil, d.srcErr(err)
		}
		d.pos += n
		return b, nil
	}
	if len(d.data)-d.pos < n {
		d.pos = len(d.data)
		return nil, errTruncated
	}
	b := d.data[d.pos : d.pos+n]
	d.pos += n
	return b, nil
}

func (d *decoder) skip(n int) error {
	if n <= 0 {
		return nil
	}
	if d.src != nil {
		if _, err := d.src.Discard(n); err != nil {
			return d.srcErr(err)
		}
		d.pos += n
		return nil
	}
	if len(d.data)-d.pos < n {
		d.pos = len(d.data)
		return errTruncated
	}
	d.pos += n
	return nil
}

func (d *decoder) srcErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errTruncated
	}
	return fmt.Errorf("jpeg: reading input: %w", err)
}

// --- marker reading (jdmarker.c semantics) ---

// firstMarker checks the SOI marker. Pillow accepts a file only when the
// SOI is followed by another marker's 0xFF; libjpeg needs the SOI itself.
func (d *decoder) firstMarker() error {
	var head [2]int
	for i := range head {
		c, err := d.readByte()
		if err != nil {
			if errors.Is(err, ErrTruncated) {
				return fmt.Errorf("%w: too short", ErrFormat)
			}
			return err
		}
		head[i] = c
	}
	if head[0] != 0xff || head[1] != mSOI {
		return fmt.Errorf("%w: data starts with %02x %02x, want ff d8", ErrFormat, head[0], head[1])
	}
	next := -1
	if d.src != nil {
		if b, err := d.src.Peek(1); err == nil {
			next = int(b[0])
		}
	} else if d.pos < len(d.data) {
		next = int(d.data[d.pos])
	}
	if next != 0xff {
		return fmt.Errorf("%w: SOI marker not followed by a marker", ErrFormat)
	}
	d.unreadMarker = mSOI
	return nil
}

// nextMarker finds the next marker, skipping (with a warning) any bytes that
// are not one, as libjpeg's next_marker does.
func (d *decoder) nextMarker() error {
	discarded := 0
	for {
		c, err := d.readByte()
		if err != nil {
			return err
		}
		for c != 0xff {
			discarded++
			if c, err = d.readByte(); err != nil {
				return err
			}
		}
		for c == 0xff {
			if c, err = d.readByte(); err != nil {
				return err
			}
		}
		if c != 0 {
			if discarded != 0 {
				d.warnf("corrupt JPEG data: %d extraneous bytes before marker 0x%02x", discarded, c)
			}
			d.unreadMarker = c
			return nil
		}
		discarded += 2
	}
}

// readMarkers processes markers until SOS (returns mSOS with the scan
// header parsed) or EOI (returns mEOI), like libjpeg's read_markers.
func (d *decoder) readMarkers() (int, error) {
	for {
		if d.unreadMarker == 0 {
			if !d.sawSOI {
				if err := d.firstMarker(); err != nil {
					return 0, err
				}
			} else if err := d.nextMarker(); err != nil {
				return 0, err
			}
		}
		m := d.unreadMarker
		var err error
		switch {
		case m == mSOI:
			if d.sawSOI {
				return 0, corruptf("invalid JPEG file structure: two SOI markers")
			}
			d.getSOI()
		case m == mSOF0 || m == mSOF1:
			err = d.getSOF(false)
		case m == mSOF2:
			err = d.getSOF(true)
		case m == mSOF9 || m == mSOF10 || m == mDAC:
			return 0, unsupportedf("arithmetic coding (marker 0x%02x)", m)
		case m == mSOF3 || m == mSOF11:
			return 0, unsupportedf("lossless JPEG (marker 0x%02x)", m)
		case (m >= mSOF5 && m <= mSOF7) || (m >= mSOF13 && m <= mSOF15) || m == mJPG:
			return 0, unsupportedf("hierarchical or extension JPEG process (marker 0x%02x)", m)
		case m == mSOS:
			if err = d.getSOS(); err != nil {
				return 0, err
			}
			d.unreadMarker = 0
			return mSOS, nil
		case m == mEOI:
			d.unreadMarker = 0
			return mEOI, nil
		case m == mDHT:
			err = d.getDHT()
		case m == mDQT:
			err = d.getDQT()
		case m == mDRI:
			err = d.getDRI()
		case m >= mAPP0 && m <= mAPP15:
			err = d.getAPP(m)
		case m == mCOM || m == mDNL:
			err = d.skipVariable()
		case m >= mRST0 && m <= mRST7:
		case m == mTEM:
			if d.inHeaders {
				// Pillow's own header parser stops at FF01 ("no marker found").
				return 0, corruptf("unexpected marker 0x01 in header")
			}
		default:
			return 0, corruptf("unsupported marker type 0x%02x", m)
		}
		if err != nil {
			return 0, err
		}
		d.unreadMarker = 0
		if d.stopAtSOF && d.sawSOF {
			return m, nil
		}
	}
}

func (d *decoder) getSOI() {
	d.restartInterval = 0
	d.sawJFIF, d.jfifMajor = false, 1
	d.sawAdobe, d.adobeTransform = false, 0
	d.sawSOI = true
}

func (d *decoder) getSOF(progressive bool) error {
	length, err := d.read2()
	if err != nil {
		return err
	}
	if length < 8 {
		// libjpeg reads the fixed fields regardless and then fails the
		// length check; the result is the same error.
		return corruptf("bogus SOF marker length %d", length)
	}
	b, err := d.readN(6)
	if err != nil {
		return err
	}
	precision := int(b[0])
	height := int(b[1])<<8 | int(b[2])
	width := int(b[3])<<8 | int(b[4])
	nc := int(b[5])
	if d.sawSOF {
		return corruptf("invalid JPEG file structure: two SOF markers")
	}
	if height <= 0 || width <= 0 || nc <= 0 {
		return corruptf("empty JPEG image (DNL not supported)")
	}
	if length-8 != nc*3 {
		return corruptf("bogus SOF marker length %d for %d components", length, nc)
	}
	cb, err := d.readN(nc * 3)
	if err != nil {
		return err
	}
	// Checks of libjpeg's initial_setup and of Pillow's SOF handler, done
	// here so that DecodeConfig reports them too.
	if precision != 8 {
		return unsupportedf("%d-bit sample precision (only 8-bit is supported)", precision)
	}
	if nc != 1 && nc != 3 && nc != 4 {
		return unsupportedf("%d-component image (Pillow reads 1, 3 or 4 components)", nc)
	}
	if width > maxDimension || height > maxDimension {
		return fmt.Errorf("%w: %dx%d exceeds the JPEG maximum dimension %d", ErrTooLarge, width, height, maxDimension)
	}
	maxPixels := d.opts.MaxPixels
	if maxPixels == 0 {
		maxPixels = DefaultMaxPixels
	}
	if maxPixels > 0 && int64(width)*int64(height) > maxPixels {
		return fmt.Errorf("%w: %dx%d = %d pixels exceeds the limit of %d", ErrTooLarge, width, height, int64(width)*int64(height), maxPixels)
	}
	d.progressive = progressive
	d.width, d.height = width, height
	d.comps = make([]component, nc)
	for i := range d.comps {
		c := &d.comps[i]
		c.index = i
		c.id = int(cb[3*i])
		c.h = int(cb[3*i+1] >> 4)
		c.v = int(cb[3*i+1] & 15)
		c.tq = int(cb[3*i+2])
	}
	d.sawSOF = true
	return nil
}

func (d *decoder) getSOS() error {
	if !d.sawSOF {
		return corruptf("invalid JPEG file structure: SOS before SOF")
	}
	length, err := d.read2()
	if err != nil {
		return err
	}
	n, err := d.readByte()
	if err != nil {
		return err
	}
	if length != n*2+6 || n < 1 || n > maxCompsInScan {
		return corruptf("bogus SOS marker length %d", length)
	}
	b, err := d.readN(2*n + 3)
	if err != nil {
		return err
	}
	d.compsInScan = n
	// libjpeg indexes cur_comp_info by component index when looking for an
	// unused component with the id (and by scan position when storing):
	// reproduce its matching of duplicate component ids.
	var cur [maxCompsInScan]*component
	for i := 0; i < n; i++ {
		cc, c := int(b[2*i]), int(b[2*i+1])
		var found *component
		for ci := 0; ci < len(d.comps) && ci < maxCompsInScan; ci++ {
			if cc == d.comps[ci].id && cur[ci] == nil {
				found = &d.comps[ci]
				break
			}
		}
		if found == nil {
			return corruptf("invalid component ID %d in SOS", cc)
		}
		cur[i] = found
		found.dcTbl = c >> 4
		found.acTbl = c & 15
		for pi := 0; pi < i; pi++ {
			if cur[pi] == found {
				return corruptf("invalid component ID %d in SOS", cc)
			}
		}
	}
	d.scanComps = cur
	d.ss = int(b[2*n])
	d.se = int(b[2*n+1])
	d.ah = int(b[2*n+2] >> 4)
	d.al = int(b[2*n+2] & 15)
	d.nextRestartNum = 0
	d.scanNumber++
	return nil
}

func (d *decoder) getDHT() error {
	length, err := d.read2()
	if err != nil {
		return err
	}
	length -= 2
	for length > 16 {
		b, err := d.readN(17)
		if err != nil {
			return err
		}
		index := int(b[0])
		var spec huffSpec
		count := 0
		for i := 1; i <= 16; i++ {
			spec.bits[i] = b[i]
			count += int(b[i])
		}
		length -= 17
		if count > 256 || count > length {
			return corruptf("bogus Huffman table definition")
		}
		vals, err := d.readN(count)
		if err != nil {
			return err
		}
		copy(spec.vals[:], vals)
		length -= count
		var slot **huffSpec
		if index&0x10 != 0 {
			index -= 0x10
			if index >= numHuffTables {
				return corruptf("bogus DHT index %d", index)
			}
			slot = &d.acSpec[index]
		} else {
			if index >= numHuffTables {
				return corruptf("bogus DHT index %d", index)
			}
			slot = &d.dcSpec[index]
		}
		*slot = &spec
	}
	if length != 0 {
		return corruptf("bogus DHT marker length")
	}
	return nil
}

func (d *decoder) getDQT() error {
	length, err := d.read2()
	if err != nil {
		return err
	}
	length -= 2
	for length > 0 {
		n, err := d.readByte()
		if err != nil {
			return err
		}
		prec := n >> 4
		n &= 15
		if n >= numQuantTables {
			return corruptf("bogus DQT index %d", n)
		}
		size := 64
		if prec != 0 {
			size = 128
		}
		b, err := d.readN(size)
		if err != nil {
			return err
		}
		q := new([64]uint16)
		for i := 0; i < 64; i++ {
			if prec != 0 {
				q[naturalOrder[i]] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
			} else {
				q[naturalOrder[i]] = uint16(b[i])
			}
		}
		d.quant[n] = q
		length -= 65
		if prec != 0 {
			length -= 64
		}
	}
	if length != 0 {
		return corruptf("bogus DQT marker length")
	}
	return nil
}

func (d *decoder) getDRI() error {
	length, err := d.read2()
	if err != nil {
		return err
	}
	if length != 4 {
		return corruptf("bogus DRI marker length %d", length)
	}
	v, err := d.read2()
	if err != nil {
		return err
	}
	d.restartInterval = v
	return nil
}

func (d *decoder) skipVariable() error {
	length, err := d.read2()
	if err != nil {
		return err
	}
	return d.skip(length - 2)
}

func (d *decoder) getAPP(m int) error {
	length, err := d.read2()
	if err != nil {
		return err
	}
	length -= 2
	if length <= 0 {
		return nil
	}
	switch m {
	case mAPP0, mAPP14:
		n := min(length, 14)
		b, err := d.readN(n)
		if err != nil {
			return err
		}
		if d.inHeaders && len(b) < 7 && (m == mAPP0 && string(b[:min(len(b), 4)]) == "JFIF" ||
			m == mAPP14 && string(b[:min(len(b), 5)]) == "Adobe") {
			// Pillow's header parser reads a 16-bit version at offset 5 of
			// these segments and gives up ("cannot identify image file").
			return corruptf("APP%d %q segment of %d bytes is too short", m-mAPP0, b, len(b))
		}
		if m == mAPP0 {
			d.examineAPP0(b)
		} else {
			d.examineAPP14(b)
		}
		return d.skip(length - n)
	case mAPP1:
		// Pillow keeps the first APP1 that starts with "Exif\0" as the
		// EXIF block; its parser strips "Exif\0\0" and reads TIFF data.
		if d.sawExif || !d.inHeaders || length < 5 {
			return d.skip(length)
		}
		b, err := d.readN(length)
		if err != nil {
			return err
		}
		if string(b[:5]) == "Exif\x00" {
			d.sawExif = true
			if len(b) >= 6 && b[5] == 0 {
				d.orientation = exifOrientation(b[6:])
			}
		}
		return nil
	}
	return d.skip(length)
}

func (d *decoder) examineAPP0(b []byte) {
	if len(b) >= 14 && string(b[:5]) == "JFIF\x00" {
		d.sawJFIF = true
		d.jfifMajor = int(b[5])
		if d.jfifMajor != 1 {
			d.warnf("warning: unknown JFIF revision number %d.%02d", b[5], b[6])
		}
	}
}

func (d *decoder) examineAPP14(b []byte) {
	if len(b) >= 12 && string(b[:5]) == "Adobe" {
		d.sawAdobe = true
		d.adobeTransform = int(b[11])
	}
}

// readConfig reads markers up to the frame header (DecodeConfig).
func (d *decoder) readConfig() error {
	d.inHeaders = true
	d.stopAtSOF = true
	for !d.sawSOF {
		m, err := d.readMarkers()
		if err != nil {
			return err
		}
		if m == mEOI {
			if err := d.tablesOnly(); err != nil {
				return err
			}
		}
	}
	return d.checkFrame()
}

// tablesOnly handles an EOI met before the first scan: libjpeg (called by
// Pillow with require_image FALSE) treats what came before as an
// abbreviated table-specification datastream and starts over, keeping the
// tables, at a new SOI that must follow immediately.
func (d *decoder) tablesOnly() error {
	if d.sawSOF {
		return corruptf("invalid JPEG file structure: missing SOS marker")
	}
	c, err := d.readByte()
	if err != nil {
		return err
	}
	c2, err := d.readByte()
	if err != nil {
		return err
	}
	if c != 0xff || c2 != mSOI {
		return corruptf("not a JPEG file: starts with 0x%02x 0x%02x after a tables-only datastream", c, c2)
	}
	d.sawSOI = false
	d.unreadMarker = mSOI
	return nil
}

// checkFrame validates the frame header as libjpeg's initial_setup and
// jinit_upsampler do and computes component geometry.
func (d *decoder) checkFrame() error {
	d.maxH, d.maxV = 1, 1
	for i := range d.comps {
		c := &d.comps[i]
		if c.h <= 0 || c.h > maxSampFactor || c.v <= 0 || c.v > maxSampFactor {
			return corruptf("bogus sampling factors %dx%d", c.h, c.v)
		}
		d.maxH = max(d.maxH, c.h)
		d.maxV = max(d.maxV, c.v)
	}
	for i := range d.comps {
		c := &d.comps[i]
		if d.maxH%c.h != 0 || d.maxV%c.v != 0 {
			return unsupportedf("fractional sampling factors (component %d is %dx%d, maximum %dx%d)", i, c.h, c.v, d.maxH, d.maxV)
		}
		c.widthInBlocks = divRoundUp(d.width*c.h, d.maxH*8)
		c.heightInBlocks = divRoundUp(d.height*c.v, d.maxV*8)
		c.dsWidth = divRoundUp(d.width*c.h, d.maxH)
		c.dsHeight = divRoundUp(d.height*c.v, d.maxV)
		c.bw = roundUp(c.widthInBlocks, c.h)
		c.bh = roundUp(c.heightInBlocks, c.v)
		for k := range c.coefBits {
			c.coefBits[k] = -1
		}
	}
	d.totalIMCURows = divRoundUp(d.height, d.maxV*8)
	return nil
}

func divRoundUp(a, b int) int { return (a + b - 1) / b }
func roundUp(a, b int) int    { return divRoundUp(a, b) * b }

// chooseColorSpace applies libjpeg's default_decompress_parms guess.
func (d *decoder) chooseColorSpace() {
	switch len(d.comps) {
	case 1:
		d.colorSpace = csGray
	case 3:
		switch {
		case d.sawJFIF:
			d.colorSpace = csYCbCr
		case d.sawAdobe:
			switch d.adobeTransform {
			case 0:
				d.colorSpace = csRGB
			case 1:
				d.colorSpace = csYCbCr
			default:
				d.warnf("warning: unknown Adobe color transform code %d", d.adobeTransform)
				d.colorSpace = csYCbCr
			}
		default:
			id0, id1, id2 := d.comps[0].id, d.comps[1].id, d.comps[2].id
			if id0 == 82 && id1 == 71 && id2 == 66 {
				d.colorSpace = csRGB
			} else {
				d.colorSpace = csYCbCr
			}
		}
	case 4:
		if d.sawAdobe {
			switch d.adobeTransform {
			case 0:
				d.colorSpace = csCMYK
			case 2:
				d.colorSpace = csYCCK
			default:
				d.warnf("warning: unknown Adobe color transform code %d", d.adobeTransform)
				d.colorSpace = csYCCK
			}
		} else {
			d.colorSpace = csCMYK
		}
	}
}

// decode runs the whole decompression.
func (d *decoder) decode() (image.Image, error) {
	d.inHeaders = true
	for {
		m, err := d.readMarkers()
		if err != nil {
			return nil, err
		}
		if m == mSOS {
			break
		}
		if err := d.tablesOnly(); err != nil {
			return nil, err
		}
	}
	d.inHeaders = false
	if err := d.checkFrame(); err != nil {
		return nil, err
	}
	d.chooseColorSpace()
	d.multiScan = d.progressive || d.compsInScan < len(d.comps)
	d.allocate()
	if !d.progressive {
		d.stdHuffTables()
	}
	d.newOutput()
	if d.multiScan {
		return d.decodeMultiScan()
	}
	if err := d.decodeSingleScan(); err != nil {
		return nil, err
	}
	d.convertRows(d.height)
	// jpeg_finish_decompress reads on to EOI; Pillow ignores running out of
	// data there (all rows are out) but not errors.
	for {
		m, err := d.readMarkers()
		if err != nil {
			if errors.Is(err, ErrTruncated) {
				d.warnf("premature end of JPEG file: no EOI marker")
				break
			}
			return nil, err
		}
		if m == mEOI {
			break
		}
		return nil, corruptf("bogus JPEG file: didn't expect more than one scan")
	}
	return d.out, nil
}

// decodeMultiScan reads every scan into the coefficient arrays (libjpeg
// consumes the whole file before output when it has several scans), then
// produces the output.
func (d *decoder) decodeMultiScan() (image.Image, error) {
	for {
		if d.scanNumber > maxScans {
			return nil, corruptf("more than %d scans", maxScans)
		}
		if err := d.decodeScanCoefs(); err != nil {
			return nil, err
		}
		m, err := d.readMarkers()
		if err != nil {
			return nil, err
		}
		if m == mEOI {
			break
		}
	}
	d.outputCoefs()
	d.convertRows(d.height)
	return d.out, nil
}

// pillowChunk is the size of the reads Pillow feeds libjpeg
// (ImageFile.MAXBLOCK).
const pillowChunk = 65536

func (d *decoder) allocate() {
	var total int64
	for i := range d.comps {
		c := &d.comps[i]
		c.stride = c.bw * 8
		c.rows = c.bh * 8
		if !d.multiScan {
			// Rows are converted one iMCU row behind the decoder, and
			// upsampling looks one row beyond: three iMCU rows suffice.
			c.rows = min(c.rows, 3*c.v*8)
		}
		c.plane = make([]byte, c.stride*c.rows)
		if d.multiScan {
			c.coefs = make([]int16, c.bw*c.bh*64)
		}
		total += int64(c.bw * c.bh * 64)
	}
	d.coefBudget = coefVisitFactor*total + 1<<16
}
