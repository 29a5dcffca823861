// Package zlibref computes the length of the stream the reference zlib
// (1.2.x, the library behind CPython's zlib.compress) writes at level 6,
// without writing it. OpenAI Whisper's compression ratio, which decides
// whether a decoding falls back to a higher temperature, is
// len(text) / len(zlib.compress(text)); Go's compress/zlib writes
// different (valid) streams, so a faithful port needs zlib's own choices:
// deflate_slow with lazy matching, hash chains, block splitting and the
// stored/static/dynamic block decision.
package zlibref

import (
	"bytes"
	"compress/zlib"
)

// Constants of zlib's deflate (deflate.h, trees.c) at level 6 with the
// default windowBits 15 and memLevel 8.
const (
	zMinMatch     = 3
	zMaxMatch     = 258
	zWSize        = 1 << 15
	zWMask        = zWSize - 1
	zHashBits     = 8 + 7
	zHashSize     = 1 << zHashBits
	zHashMask     = zHashSize - 1
	zHashShift    = (zHashBits + zMinMatch - 1) / zMinMatch
	zMinLookahead = zMaxMatch + zMinMatch + 1
	zMaxDist      = zWSize - zMinLookahead
	zTooFar       = 4096
	zLitBufSize   = 1 << (8 + 6)
	zSymEnd       = zLitBufSize - 1 // symbols per block (sym_end / 3)
	zGoodLength   = 8
	zMaxLazy      = 16
	zNiceLength   = 128
	zMaxChain     = 128

	zLiterals   = 256
	zLengthCode = 29
	zLCodes     = zLiterals + 1 + zLengthCode
	zDCodes     = 30
	zBLCodes    = 19
	zHeapSize   = 2*zLCodes + 1
	zMaxBits    = 15
	zMaxBLBits  = 7
	zEndBlock   = 256
	zRep36      = 16
	zRepz310    = 17
	zRepz11138  = 18
)

var (
	zExtraLBits  = [zLengthCode]int{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	zExtraDBits  = [zDCodes]int{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	zExtraBLBits = [zBLCodes]int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 7}
	zBLOrder     = [zBLCodes]int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

	zLengthCodeOf [256]uint8 // match length − 3 → length code
	zDistCodeOf   [512]uint8 // distance − 1 → distance code (see zDCode)
	zStaticLLen   [zLCodes + 2]int
	zStaticDLen   [zDCodes]int
)

func init() {
	length := 0
	code := 0
	for code = 0; code < zLengthCode-1; code++ {
		for n := 0; n < 1<<zExtraLBits[code]; n++ {
			zLengthCodeOf[length] = uint8(code)
			length++
		}
	}
	zLengthCodeOf[length-1] = uint8(code)
	dist := 0
	for code = 0; code < 16; code++ {
		for n := 0; n < 1<<zExtraDBits[code]; n++ {
			zDistCodeOf[dist] = uint8(code)
			dist++
		}
	}
	dist >>= 7
	for ; code < zDCodes; code++ {
		for n := 0; n < 1<<(zExtraDBits[code]-7); n++ {
			zDistCodeOf[256+dist] = uint8(code)
			dist++
		}
	}
	for n := 0; n <= 287 && n < len(zStaticLLen); n++ {
		switch {
		case n <= 143:
			zStaticLLen[n] = 8
		case n <= 255:
			zStaticLLen[n] = 9
		case n <= 279:
			zStaticLLen[n] = 7
		default:
			zStaticLLen[n] = 8
		}
	}
	for n := range zStaticDLen {
		zStaticDLen[n] = 5
	}
}

func zDCode(dist int) int {
	if dist < 256 {
		return int(zDistCodeOf[dist])
	}
	return int(zDistCodeOf[256+(dist>>7)])
}

// zTree is one Huffman tree under construction (ct_data arrays).
type zTree struct {
	freq, dad, length []int
}

func newZTree(n int) *zTree {
	return &zTree{freq: make([]int, n), dad: make([]int, n), length: make([]int, n)}
}

// zTreeDesc is tree_desc with its static description.
type zTreeDesc struct {
	tree      *zTree
	maxCode   int
	staticLen []int // nil for the bit-length tree
	extra     []int
	extraBase int
	elems     int
	maxLength int
}

// zDeflate holds the state of zlib's deflate_slow needed to size the output.
type zDeflate struct {
	window  []byte
	head    []int
	prev    []int
	insH    int
	lookahd int
	strstart,
	blockStart,
	matchLength, prevLength, prevMatch, matchStart int
	matchAvailable bool

	ltree, dtree, bltree *zTree
	lDesc, dDesc, blDesc zTreeDesc
	heap                 [zHeapSize]int
	heapLen, heapMax     int
	depth                [zHeapSize]int
	blCount              [zMaxBits + 1]int
	optLen, staticLen    int
	nSyms                int

	bits int // output bits so far (deflate stream only)
}

// MaxExact is the longest input whose length CompressedLen computes
// exactly; past it zlib slides its window, which is not reproduced.
const MaxExact = 2*zWSize - zMinLookahead

// CompressedLen returns len(zlib.compress(b)) for CPython's zlib
// (reference zlib 1.2.x, level 6): deflate_slow with lazy matching, block
// splitting after 16383 symbols and the stored/static/dynamic choice of
// _tr_flush_block, plus the 2-byte header and 4-byte Adler-32 trailer.
// Inputs longer than MaxExact fall back to the length of Go's compressor's
// output (a valid stream, of a close but not always equal length).
func CompressedLen(b []byte) int {
	if len(b) > MaxExact {
		var buf bytes.Buffer
		w, _ := zlib.NewWriterLevel(&buf, 6)
		w.Write(b)
		w.Close()
		return buf.Len()
	}
	s := &zDeflate{
		// the data, then zeros (zlib zero-initialises the window past the
		// input, which longest_match may read)
		window: make([]byte, len(b)+2*zMaxMatch+8),
		head:   make([]int, zHashSize),
		prev:   make([]int, zWSize),
		ltree:  newZTree(zHeapSize),
		dtree:  newZTree(2*zDCodes + 1),
		bltree: newZTree(2*zBLCodes + 1),
	}
	copy(s.window, b)
	s.lDesc = zTreeDesc{tree: s.ltree, staticLen: zStaticLLen[:], extra: zExtraLBits[:], extraBase: zLiterals + 1, elems: zLCodes, maxLength: zMaxBits}
	s.dDesc = zTreeDesc{tree: s.dtree, staticLen: zStaticDLen[:], extra: zExtraDBits[:], extraBase: 0, elems: zDCodes, maxLength: zMaxBits}
	s.blDesc = zTreeDesc{tree: s.bltree, extra: zExtraBLBits[:], extraBase: 0, elems: zBLCodes, maxLength: zMaxBLBits}
	s.initBlock()
	s.matchLength, s.prevLength = zMinMatch-1, zMinMatch-1
	s.lookahd = len(b)
	// fill_window: initialise the hash with the first bytes
	if s.lookahd >= zMinMatch {
		s.insH = int(s.window[0])
		s.insH = ((s.insH << zHashShift) ^ int(s.window[1])) & zHashMask
	}
	s.deflateSlow()
	return 2 + (s.bits+7)/8 + 4
}

func (s *zDeflate) insertString(str int) int {
	s.insH = ((s.insH << zHashShift) ^ int(s.window[str+zMinMatch-1])) & zHashMask
	h := s.head[s.insH]
	s.prev[str&zWMask] = h
	s.head[s.insH] = str
	return h
}

func (s *zDeflate) longestMatch(cur int) int {
	chain := zMaxChain
	scan := s.strstart
	bestLen := s.prevLength
	nice := zNiceLength
	limit := 0
	if s.strstart > zMaxDist {
		limit = s.strstart - zMaxDist
	}
	strend := scan + zMaxMatch
	w := s.window
	scanEnd1 := w[scan+bestLen-1]
	scanEnd := w[scan+bestLen]
	if s.prevLength >= zGoodLength {
		chain >>= 2
	}
	if nice > s.lookahd {
		nice = s.lookahd
	}
	for {
		m := cur
		if w[m+bestLen] == scanEnd && w[m+bestLen-1] == scanEnd1 && w[m] == w[scan] && w[m+1] == w[scan+1] {
			// scan[2] == match[2] follows from equal hashes; compare on
			p, q := scan+2, m+2
			for p < strend && w[p] == w[q] {
				p++
				q++
			}
			n := p - scan
			if n > bestLen {
				s.matchStart = cur
				bestLen = n
				if n >= nice {
					break
				}
				scanEnd1 = w[scan+bestLen-1]
				scanEnd = w[scan+bestLen]
			}
		}
		cur = s.prev[cur&zWMask]
		if cur <= limit {
			break
		}
		chain--
		if chain == 0 {
			break
		}
	}
	if bestLen <= s.lookahd {
		return bestLen
	}
	return s.lookahd
}

func (s *zDeflate) tallyLit(c byte) bool {
	s.ltree.freq[c]++
	s.nSyms++
	return s.nSyms == zSymEnd
}

func (s *zDeflate) tallyDist(dist, lenCode int) bool {
	dist--
	s.ltree.freq[int(zLengthCodeOf[lenCode])+zLiterals+1]++
	s.dtree.freq[zDCode(dist)]++
	s.nSyms++
	return s.nSyms == zSymEnd
}

func (s *zDeflate) deflateSlow() {
	for {
		if s.lookahd == 0 {
			break
		}
		hashHead := 0
		if s.lookahd >= zMinMatch {
			hashHead = s.insertString(s.strstart)
		}
		s.prevLength, s.prevMatch = s.matchLength, s.matchStart
		s.matchLength = zMinMatch - 1
		if hashHead != 0 && s.prevLength < zMaxLazy && s.strstart-hashHead <= zMaxDist {
			s.matchLength = s.longestMatch(hashHead)
			if s.matchLength <= 5 && s.matchLength == zMinMatch && s.strstart-s.matchStart > zTooFar {
				s.matchLength = zMinMatch - 1
			}
		}
		switch {
		case s.prevLength >= zMinMatch && s.matchLength <= s.prevLength:
			maxInsert := s.strstart + s.lookahd - zMinMatch
			flush := s.tallyDist(s.strstart-1-s.prevMatch, s.prevLength-zMinMatch)
			s.lookahd -= s.prevLength - 1
			s.prevLength -= 2
			for {
				s.strstart++
				if s.strstart <= maxInsert {
					s.insertString(s.strstart)
				}
				s.prevLength--
				if s.prevLength == 0 {
					break
				}
			}
			s.matchAvailable = false
			s.matchLength = zMinMatch - 1
			s.strstart++
			if flush {
				s.flushBlock(false)
			}
		case s.matchAvailable:
			if s.tallyLit(s.window[s.strstart-1]) {
				s.flushBlock(false)
			}
			s.strstart++
			s.lookahd--
		default:
			s.matchAvailable = true
			s.strstart++
			s.lookahd--
		}
	}
	if s.matchAvailable {
		s.tallyLit(s.window[s.strstart-1])
		s.matchAvailable = false
	}
	s.flushBlock(true)
}

func (s *zDeflate) initBlock() {
	for n := 0; n < zLCodes; n++ {
		s.ltree.freq[n] = 0
	}
	for n := 0; n < zDCodes; n++ {
		s.dtree.freq[n] = 0
	}
	for n := 0; n < zBLCodes; n++ {
		s.bltree.freq[n] = 0
	}
	s.ltree.freq[zEndBlock] = 1
	s.optLen, s.staticLen = 0, 0
	s.nSyms = 0
}

// flushBlock is _tr_flush_block: it adds the size of the cheapest block
// encoding to the output bit count.
func (s *zDeflate) flushBlock(last bool) {
	storedLen := s.strstart - s.blockStart
	s.buildTree(&s.lDesc)
	s.buildTree(&s.dDesc)
	maxBLIndex := s.buildBLTree()
	optLenB := (s.optLen + 3 + 7) >> 3
	staticLenB := (s.staticLen + 3 + 7) >> 3
	if staticLenB <= optLenB {
		optLenB = staticLenB
	}
	_ = maxBLIndex
	switch {
	case storedLen+4 <= optLenB:
		// 3 header bits, align to a byte, LEN and NLEN, the bytes
		s.bits += 3
		s.bits = (s.bits + 7) &^ 7
		s.bits += 8 * (4 + storedLen)
	case staticLenB == optLenB:
		s.bits += 3 + s.staticLen
	default:
		s.bits += 3 + s.optLen
	}
	s.initBlock()
	s.blockStart = s.strstart
}

func (s *zDeflate) smaller(t *zTree, n, m int) bool {
	return t.freq[n] < t.freq[m] || (t.freq[n] == t.freq[m] && s.depth[n] <= s.depth[m])
}

func (s *zDeflate) pqDownHeap(t *zTree, k int) {
	v := s.heap[k]
	j := k << 1
	for j <= s.heapLen {
		if j < s.heapLen && s.smaller(t, s.heap[j+1], s.heap[j]) {
			j++
		}
		if s.smaller(t, v, s.heap[j]) {
			break
		}
		s.heap[k] = s.heap[j]
		k = j
		j <<= 1
	}
	s.heap[k] = v
}

func (s *zDeflate) buildTree(desc *zTreeDesc) {
	t := desc.tree
	maxCode := -1
	s.heapLen, s.heapMax = 0, zHeapSize
	for n := 0; n < desc.elems; n++ {
		if t.freq[n] != 0 {
			s.heapLen++
			s.heap[s.heapLen] = n
			maxCode = n
			s.depth[n] = 0
		} else {
			t.length[n] = 0
		}
	}
	for s.heapLen < 2 {
		node := 0
		if maxCode < 2 {
			maxCode++
			node = maxCode
		}
		s.heapLen++
		s.heap[s.heapLen] = node
		t.freq[node] = 1
		s.depth[node] = 0
		s.optLen--
		if desc.staticLen != nil {
			s.staticLen -= desc.staticLen[node]
		}
	}
	desc.maxCode = maxCode
	for n := s.heapLen / 2; n >= 1; n-- {
		s.pqDownHeap(t, n)
	}
	node := desc.elems
	for {
		n := s.heap[1]
		s.heap[1] = s.heap[s.heapLen]
		s.heapLen--
		s.pqDownHeap(t, 1)
		m := s.heap[1]
		s.heapMax--
		s.heap[s.heapMax] = n
		s.heapMax--
		s.heap[s.heapMax] = m
		t.freq[node] = t.freq[n] + t.freq[m]
		s.depth[node] = max(s.depth[n], s.depth[m]) + 1
		t.dad[n], t.dad[m] = node, node
		s.heap[1] = node
		node++
		s.pqDownHeap(t, 1)
		if s.heapLen < 2 {
			break
		}
	}
	s.heapMax--
	s.heap[s.heapMax] = s.heap[1]
	s.genBitLen(desc)
}

func (s *zDeflate) genBitLen(desc *zTreeDesc) {
	t := desc.tree
	for i := range s.blCount {
		s.blCount[i] = 0
	}
	overflow := 0
	t.length[s.heap[s.heapMax]] = 0
	h := s.heapMax + 1
	for ; h < zHeapSize; h++ {
		n := s.heap[h]
		bits := t.length[t.dad[n]] + 1
		if bits > desc.maxLength {
			bits = desc.maxLength
			overflow++
		}
		t.length[n] = bits
		if n > desc.maxCode {
			continue
		}
		s.blCount[bits]++
		xbits := 0
		if n >= desc.extraBase {
			xbits = desc.extra[n-desc.extraBase]
		}
		f := t.freq[n]
		s.optLen += f * (bits + xbits)
		if desc.staticLen != nil {
			s.staticLen += f * (desc.staticLen[n] + xbits)
		}
	}
	if overflow == 0 {
		return
	}
	for overflow > 0 {
		bits := desc.maxLength - 1
		for s.blCount[bits] == 0 {
			bits--
		}
		s.blCount[bits]--
		s.blCount[bits+1] += 2
		s.blCount[desc.maxLength]--
		overflow -= 2
	}
	h = zHeapSize
	for bits := desc.maxLength; bits != 0; bits-- {
		n := s.blCount[bits]
		for n != 0 {
			h--
			m := s.heap[h]
			if m > desc.maxCode {
				continue
			}
			if t.length[m] != bits {
				s.optLen += (bits - t.length[m]) * t.freq[m]
				t.length[m] = bits
			}
			n--
		}
	}
}

func (s *zDeflate) scanTree(t *zTree, maxCode int) {
	prevLen := -1
	nextLen := t.length[0]
	count := 0
	maxCount, minCount := 7, 4
	if nextLen == 0 {
		maxCount, minCount = 138, 3
	}
	t.length[maxCode+1] = 0xffff // guard
	for n := 0; n <= maxCode; n++ {
		curLen := nextLen
		nextLen = t.length[n+1]
		count++
		if count < maxCount && curLen == nextLen {
			continue
		} else if count < minCount {
			s.bltree.freq[curLen] += count
		} else if curLen != 0 {
			if curLen != prevLen {
				s.bltree.freq[curLen]++
			}
			s.bltree.freq[zRep36]++
		} else if count <= 10 {
			s.bltree.freq[zRepz310]++
		} else {
			s.bltree.freq[zRepz11138]++
		}
		count = 0
		prevLen = curLen
		switch {
		case nextLen == 0:
			maxCount, minCount = 138, 3
		case curLen == nextLen:
			maxCount, minCount = 6, 3
		default:
			maxCount, minCount = 7, 4
		}
	}
}

func (s *zDeflate) buildBLTree() int {
	s.scanTree(s.ltree, s.lDesc.maxCode)
	s.scanTree(s.dtree, s.dDesc.maxCode)
	s.buildTree(&s.blDesc)
	maxBLIndex := zBLCodes - 1
	for ; maxBLIndex >= 3; maxBLIndex-- {
		if s.bltree.length[zBLOrder[maxBLIndex]] != 0 {
			break
		}
	}
	s.optLen += 3*(maxBLIndex+1) + 5 + 5 + 4
	return maxBLIndex
}
