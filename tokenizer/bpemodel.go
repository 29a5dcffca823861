package tokenizer

import (
	"math"
	"strings"
	"sync"
)

// pairMerge is what merging a pair of symbols gives: the merge's rank
// (lower merges first) and the merged symbol.
type pairMerge struct {
	rank, out int32
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// bpeModel is the merge engine shared by every BPE tokenizer. Symbols are
// interned strings (in the vocabulary's own form: byte-level characters for
// HuggingFace files, raw bytes for .tiktoken files); a word is a slice of
// symbol indices that merges shorten until no ranked pair is left.
type bpeModel struct {
	symIndex map[string]int32
	symStr   []string
	symID    []int32 // vocabulary id of each symbol, -1 when it has none
	pairs    map[uint64]pairMerge

	// single selects tiktoken's rule: merge only the leftmost lowest-ranked
	// pair, then look again. Otherwise every occurrence of the lowest-ranked
	// pair is merged left to right in one pass, as transformers' bpe() does.
	single bool

	byteLevel bool // words are split into bytes, not characters
	rawBytes  bool // symbols are raw bytes (tiktoken) rather than byte-level characters
	prefix    string
	suffix    string
	unk       int // id for symbols outside the vocabulary; -1 drops them

	byteSym    [256]int32 // initial symbol of a byte
	byteSymEnd [256]int32 // initial symbol of a word's last byte (suffix added)

	cache *idCache
}

func newBPEModel() *bpeModel {
	return &bpeModel{symIndex: map[string]int32{}, pairs: map[uint64]pairMerge{}, unk: -1}
}

// intern returns the index of symbol s, adding it when new.
func (m *bpeModel) intern(s string) int32 {
	if i, ok := m.symIndex[s]; ok {
		return i
	}
	i := int32(len(m.symStr))
	m.symIndex[s] = i
	m.symStr = append(m.symStr, s)
	m.symID = append(m.symID, -1)
	return i
}

// setVocab records the vocabulary id of every symbol, interning the tokens.
func (m *bpeModel) setVocab(vocab map[string]int) {
	for tok, id := range vocab {
		m.symID[m.intern(tok)] = int32(id)
	}
}

// addMerge adds a merges.txt rule. A later duplicate overrides the rank, as
// Python's dict(zip(merges, range(n))) does.
func (m *bpeModel) addMerge(a, b string, rank int) {
	ia, ib := m.intern(a), m.intern(b)
	out := m.intern(a + b)
	m.pairs[pairKey(ia, ib)] = pairMerge{rank: int32(rank), out: out}
}

// finishInit prepares the initial byte symbols once the vocabulary is known.
func (m *bpeModel) finishInit() {
	for b := 0; b < 256; b++ {
		var s string
		if m.rawBytes {
			s = string([]byte{byte(b)})
		} else {
			s = byteToString[b]
		}
		m.byteSym[b] = m.intern(s)
		if m.suffix != "" {
			m.byteSymEnd[b] = m.intern(s + m.suffix)
		}
	}
}

// initialSymbols splits a pre-tokenized piece into the symbols BPE starts
// from: bytes for byte-level models, characters otherwise, with the
// continuing-subword prefix on all but the first and the end-of-word suffix
// on the last. -1 marks a character that is no symbol at all.
func (m *bpeModel) initialSymbols(piece string, dst []int32) []int32 {
	if m.byteLevel && m.prefix == "" {
		n := len(piece)
		for i := 0; i < n; i++ {
			if i == n-1 && m.suffix != "" {
				dst = append(dst, m.byteSymEnd[piece[i]])
			} else {
				dst = append(dst, m.byteSym[piece[i]])
			}
		}
		return dst
	}
	var units []string
	if m.byteLevel {
		for i := 0; i < len(piece); i++ {
			units = append(units, m.symStr[m.byteSym[piece[i]]])
		}
	} else {
		for i := 0; i < len(piece); {
			_, w := decodeRune(piece, i)
			units = append(units, piece[i:i+w])
			i += w
		}
	}
	for i, u := range units {
		if i > 0 {
			u = m.prefix + u
		}
		if i == len(units)-1 {
			u += m.suffix
		}
		s, ok := m.symIndex[u]
		if !ok {
			s = -1
		}
		dst = append(dst, s)
	}
	return dst
}

// heapThreshold is the word length above which merging uses a priority
// queue instead of rescanning all pairs after every merge.
var heapThreshold = 48

// merge applies the merges to a word. The two algorithms give the same
// result; the queue keeps long words (a megabyte without spaces) from going
// quadratic.
func (m *bpeModel) merge(w []int32) []int32 {
	if len(w) < 2 {
		return w
	}
	if len(w) > heapThreshold {
		return m.mergeQueue(w)
	}
	return m.mergeScan(w)
}

// mergeScan is transformers' bpe() loop on symbol indices (or tiktoken's
// when m.single is set).
func (m *bpeModel) mergeScan(w []int32) []int32 {
	for len(w) > 1 {
		best := int32(math.MaxInt32)
		bi := -1
		var bm pairMerge
		for i := 0; i+1 < len(w); i++ {
			if w[i] < 0 || w[i+1] < 0 {
				continue
			}
			if pm, ok := m.pairs[pairKey(w[i], w[i+1])]; ok && pm.rank < best {
				best, bi, bm = pm.rank, i, pm
			}
		}
		if bi < 0 {
			break
		}
		if m.single {
			w[bi] = bm.out
			w = append(w[:bi+1], w[bi+2:]...)
			continue
		}
		// bi is the leftmost occurrence of the pair; merge all of them,
		// left to right, without overlap. Writing never overtakes reading.
		a, b := w[bi], w[bi+1]
		out := w[:bi]
		for i := bi; i < len(w); {
			if i+1 < len(w) && w[i] == a && w[i+1] == b {
				out = append(out, bm.out)
				i += 2
			} else {
				out = append(out, w[i])
				i++
			}
		}
		w = out
	}
	return w
}

type mergeEntry struct {
	rank int32
	pos  int32 // index of the left node (nodes keep their original order)
	a, b int32 // the pair's symbols when queued, to detect stale entries
}

func (e mergeEntry) less(f mergeEntry) bool {
	return e.rank < f.rank || (e.rank == f.rank && e.pos < f.pos)
}

type mergeHeap []mergeEntry

func (h *mergeHeap) push(e mergeEntry) {
	*h = append(*h, e)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s[i].less(s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *mergeHeap) pop() mergeEntry {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l, r, small := 2*i+1, 2*i+2, i
		if l < n && s[l].less(s[small]) {
			small = l
		}
		if r < n && s[r].less(s[small]) {
			small = r
		}
		if small == i {
			break
		}
		s[i], s[small] = s[small], s[i]
		i = small
	}
	*h = s
	return top
}

// mergeQueue gives mergeScan's result with a priority queue ordered by
// (rank, position). In transformers mode all queued occurrences of the
// lowest rank are merged in one round, left to right, before pairs created
// by that round are considered, exactly like one pass of bpe(); in tiktoken
// mode one merge happens at a time.
func (m *bpeModel) mergeQueue(w []int32) []int32 {
	n := len(w)
	sym := w
	next := make([]int32, n)
	prev := make([]int32, n)
	for i := range n {
		next[i] = int32(i + 1)
		prev[i] = int32(i - 1)
	}
	next[n-1] = -1
	h := make(mergeHeap, 0, n)
	queue := func(i int32) {
		j := next[i]
		if j < 0 || sym[i] < 0 || sym[j] < 0 {
			return
		}
		if pm, ok := m.pairs[pairKey(sym[i], sym[j])]; ok {
			h.push(mergeEntry{rank: pm.rank, pos: i, a: sym[i], b: sym[j]})
		}
	}
	for i := 0; i+1 < n; i++ {
		queue(int32(i))
	}
	const dead = -2
	valid := func(e mergeEntry) bool {
		i := e.pos
		if sym[i] != e.a {
			return false
		}
		j := next[i]
		return j >= 0 && sym[j] == e.b
	}
	apply := func(e mergeEntry) {
		i := e.pos
		j := next[i]
		sym[i] = m.pairs[pairKey(e.a, e.b)].out
		sym[j] = dead
		nj := next[j]
		next[i] = nj
		if nj >= 0 {
			prev[nj] = i
		}
	}
	var batch []mergeEntry
	for len(h) > 0 {
		e := h.pop()
		if m.single {
			if valid(e) {
				apply(e)
				if p := prev[e.pos]; p >= 0 {
					queue(p)
				}
				queue(e.pos)
			}
			continue
		}
		batch = append(batch[:0], e)
		for len(h) > 0 && h[0].rank == e.rank {
			batch = append(batch, h.pop())
		}
		merged := batch[:0]
		for _, f := range batch {
			if valid(f) {
				apply(f)
				merged = append(merged, f)
			}
		}
		for _, f := range merged {
			if sym[f.pos] == dead {
				continue
			}
			if p := prev[f.pos]; p >= 0 {
				queue(p)
			}
			queue(f.pos)
		}
	}
	out := w[:0]
	for i := int32(0); i >= 0; i = next[i] {
		out = append(out, sym[i])
	}
	return out
}

// encodePiece appends the ids of one pre-tokenized piece to dst.
func (m *bpeModel) encodePiece(piece string, dst []int) []int {
	if piece == "" {
		return dst
	}
	cacheable := m.cache != nil && len(piece) <= maxCachedPiece
	if cacheable {
		if ids, ok := m.cache.get(piece); ok {
			return append(dst, ids...)
		}
	}
	var buf [32]int32
	w := m.merge(m.initialSymbols(piece, buf[:0]))
	start := len(dst)
	for _, s := range w {
		id := m.unk
		if s >= 0 && m.symID[s] >= 0 {
			id = int(m.symID[s])
		}
		if id >= 0 {
			dst = append(dst, id)
		}
	}
	if cacheable {
		m.cache.put(piece, dst[start:])
	}
	return dst
}

// maxCachedPiece bounds the pieces worth caching: long ones are rare and
// would pin memory.
const maxCachedPiece = 128

const cacheShards = 16

// idCache memoizes the ids of pre-tokenized pieces. It is sharded and each
// shard is emptied when it reaches its capacity, so memory stays bounded
// whatever the input.
type idCache struct {
	perShard int
	shards   [cacheShards]struct {
		mu sync.RWMutex
		m  map[string][]int
	}
}

// DefaultCacheEntries is the default capacity of a BPE tokenizer's word cache.
const DefaultCacheEntries = 1 << 16

func newIDCache(entries int) *idCache {
	if entries <= 0 {
		return nil
	}
	c := &idCache{perShard: (entries + cacheShards - 1) / cacheShards}
	for i := range c.shards {
		c.shards[i].m = make(map[string][]int)
	}
	return c
}

func shardOf(s string) int {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return int(h % cacheShards)
}

func (c *idCache) get(k string) ([]int, bool) {
	sh := &c.shards[shardOf(k)]
	sh.mu.RLock()
	v, ok := sh.m[k]
	sh.mu.RUnlock()
	return v, ok
}

func (c *idCache) put(k string, v []int) {
	v = append([]int(nil), v...)
	sh := &c.shards[shardOf(k)]
	sh.mu.Lock()
	if len(sh.m) >= c.perShard {
		sh.m = make(map[string][]int, c.perShard/4)
	}
	sh.m[strings.Clone(k)] = v
	sh.mu.Unlock()
}
