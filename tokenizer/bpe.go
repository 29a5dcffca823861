package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Tokenizer is what every tokenizer of this package provides.
type Tokenizer interface {
	// Encode returns the ids of text. Special tokens written in the text are
	// not recognised (see EncodeWith); framing tokens such as [CLS]/[SEP] or
	// <|startoftext|>/<|endoftext|> are added where the model expects them.
	Encode(text string) []int
	// Decode returns the text of ids, leaving out special tokens when
	// skipSpecial is set. Ids outside the vocabulary are ignored.
	Decode(ids []int, skipSpecial bool) string
	// ID returns the id of a token, in the vocabulary's own spelling.
	ID(token string) (int, bool)
	// Token returns the token of an id, or "" when there is none.
	Token(id int) string
	// VocabSize returns the number of ids, added tokens included.
	VocabSize() int
}

// BPE is a byte-level BPE tokenizer: GPT-2's, Whisper's (see Whisper for the
// Whisper-specific parts), OpenAI's .tiktoken encodings, and byte-level or
// character-level BPE models from a tokenizer.json (CLIP's included). It is
// safe for concurrent use.
type BPE struct {
	*vocab
	model     *bpeModel
	idBytes   [][]byte // id -> bytes that Decode joins
	normalize func(string) string
	pretok    pretokenizer
	// pretokFor, when set, chooses the pre-tokenizer from the special tokens
	// allowed: CLIP's regex itself matches <|startoftext|> and <|endoftext|>,
	// and pieceSpecial maps such pieces to their ids.
	pretokFor      func(allow func(*addedToken) bool) pretokenizer
	pieceSpecial   map[string]int
	addPrefixSpace bool
	prefixIDs      []int
	suffixIDs      []int
	batchLen       int
	padID          int
	cleanup        bool
	decodeSuffix   string // replaced by a space, then the text is stripped (CLIP's "</w>")
}

var (
	_ Tokenizer = (*BPE)(nil)
	_ Tokenizer = (*CLIP)(nil)
	_ Tokenizer = (*Whisper)(nil)
)

// Encode returns the ids of text, with special tokens in the text treated as
// ordinary text. It is EncodeWith(text, EncodeOptions{}).
func (t *BPE) Encode(text string) []int { return t.EncodeWith(text, EncodeOptions{}) }

// EncodeWith returns the ids of text as opt asks. Text longer than the input
// limit is cut at the limit.
func (t *BPE) EncodeWith(text string, opt EncodeOptions) []int {
	return t.encodeWith(t.encode, text, opt)
}

// TryEncode is EncodeWith that returns ErrInputTooLong instead of cutting
// text longer than the input limit.
func (t *BPE) TryEncode(text string, opt EncodeOptions) ([]int, error) {
	return t.tryEncode(t.encode, text, opt)
}

func (t *BPE) encode(text string, opt EncodeOptions) []int {
	allow := allowFunc(opt)
	if t.addPrefixSpace && text != "" && text[0] != ' ' {
		text = " " + text
	}
	pretok := t.pretok
	if t.pretokFor != nil {
		pretok = t.pretokFor(allow)
	}
	ids := make([]int, 0, len(text)/3+2)
	model := func(s string) {
		if pretok == nil {
			ids = t.model.encodePiece(s, ids)
			return
		}
		pretok(s, func(piece string) {
			if t.pieceSpecial != nil && allow != nil {
				if id, ok := t.pieceSpecial[piece]; ok && allowedText(allow, piece) {
					ids = append(ids, id)
					return
				}
			}
			ids = t.model.encodePiece(piece, ids)
		})
	}
	t.encodeSegments(text, allow, t.normalize, model, func(id int) { ids = append(ids, id) })
	framing := 0
	if !opt.NoFraming {
		framing = len(t.prefixIDs) + len(t.suffixIDs)
	}
	ids = truncateContent(ids, opt.MaxLen, framing)
	if opt.NoFraming || framing == 0 {
		return ids
	}
	out := make([]int, 0, len(ids)+framing)
	out = append(out, t.prefixIDs...)
	out = append(out, ids...)
	return append(out, t.suffixIDs...)
}

// Decode returns the text of ids: the bytes of the tokens joined and decoded
// as UTF-8 with invalid bytes replaced by U+FFFD, as Python's
// errors="replace" does. skipSpecial leaves out special tokens; ids outside
// the vocabulary are ignored.
func (t *BPE) Decode(ids []int, skipSpecial bool) string {
	buf := make([]byte, 0, len(ids)*4)
	for _, id := range ids {
		if !t.validID(id) || (skipSpecial && t.special[id]) {
			continue
		}
		buf = append(buf, t.idBytes[id]...)
	}
	return t.finishDecode(buf)
}

// DecodeStrict is Decode that returns an ErrInvalidID error for an id
// outside the vocabulary.
func (t *BPE) DecodeStrict(ids []int, skipSpecial bool) (string, error) {
	if err := t.checkIDs(ids); err != nil {
		return "", err
	}
	return t.Decode(ids, skipSpecial), nil
}

func (t *BPE) finishDecode(buf []byte) string {
	s := decodeUTF8Replace(buf)
	if t.decodeSuffix != "" {
		s = pyStrip(strings.ReplaceAll(s, t.decodeSuffix, " "))
	}
	if t.cleanup {
		s = cleanUpTokenization(s)
	}
	return s
}

// TokenBytes returns the bytes a token stands for (for byte-level tokens,
// the raw bytes, which may be part of a UTF-8 character), or nil for an
// invalid id.
func (t *BPE) TokenBytes(id int) []byte {
	if !t.validID(id) {
		return nil
	}
	return append([]byte(nil), t.idBytes[id]...)
}

// NewStreamDecoder returns a decoder that turns ids into text one at a time.
func (t *BPE) NewStreamDecoder(skipSpecial bool) *StreamDecoder {
	return &StreamDecoder{bytesOf: func(id int) []byte {
		if !t.validID(id) || (skipSpecial && t.special[id]) {
			return nil
		}
		return t.idBytes[id]
	}}
}

// EncodeBatch encodes texts with framing, truncates each to maxLen ids (the
// end token kept) and pads them to maxLen with the pad token (id 0 when the
// tokenizer has none; the mask tells padding apart). maxLen <= 0
// uses the model's length (77 for CLIP, a tokenizer.json truncation length)
// or, when there is none, the longest sequence. mask holds 1 for real tokens and 0 for padding.
func (t *BPE) EncodeBatch(texts []string, maxLen int) (ids, mask [][]int) {
	return padBatch(texts, maxLen, t.batchLen, t.padID, func(s string, n int) []int {
		return t.EncodeWith(s, EncodeOptions{MaxLen: n})
	})
}

// padBatch is EncodeBatch for any tokenizer.
func padBatch(texts []string, maxLen, def, pad int, enc func(string, int) []int) (ids, mask [][]int) {
	if maxLen <= 0 {
		maxLen = def
	}
	if maxLen < 0 {
		maxLen = 0
	}
	ids = make([][]int, len(texts))
	width := maxLen
	for i, s := range texts {
		ids[i] = enc(s, maxLen)
		if maxLen == 0 && len(ids[i]) > width {
			width = len(ids[i])
		}
	}
	if pad < 0 {
		pad = 0
	}
	mask = make([][]int, len(texts))
	for i := range ids {
		m := make([]int, width)
		row := make([]int, width)
		copy(row, ids[i])
		for j := range row {
			if j < len(ids[i]) {
				m[j] = 1
			} else {
				row[j] = pad
			}
		}
		ids[i], mask[i] = row, m
	}
	return ids, mask
}

// StreamDecoder decodes ids one at a time, as a model generates them, and
// emits only complete characters: bytes of a UTF-8 character split across
// tokens are held until the character is complete. Invalid bytes become
// U+FFFD as soon as they cannot start a valid character. The concatenation
// of everything Push and Flush return equals Decode of all the ids (before
// clean-up, which a stream does not apply). A StreamDecoder is not safe for
// concurrent use.
type StreamDecoder struct {
	bytesOf func(id int) []byte
	pending []byte
}

// Push adds one id and returns the text it completes, possibly "".
func (d *StreamDecoder) Push(id int) string {
	d.pending = append(d.pending, d.bytesOf(id)...)
	n := completePrefix(d.pending)
	if n == 0 {
		return ""
	}
	s := decodeUTF8Replace(d.pending[:n])
	d.pending = append(d.pending[:0], d.pending[n:]...)
	return s
}

// Flush returns what is left (an unfinished character becomes U+FFFD) and
// resets the decoder.
func (d *StreamDecoder) Flush() string {
	s := decodeUTF8Replace(d.pending)
	d.pending = d.pending[:0]
	return s
}

// newByteLevelBPE builds a GPT-2 style tokenizer from a vocabulary and
// merges in byte-level form.
func newByteLevelBPE(v *vocab, modelVocab map[string]int, merges [][2]string, o options) *BPE {
	m := newBPEModel()
	m.byteLevel = true
	m.setVocab(modelVocab)
	for i, p := range merges {
		m.addMerge(p[0], p[1], i)
	}
	m.finishInit()
	m.cache = newIDCache(o.cacheSize)
	v.maxInput = o.maxInput
	return &BPE{vocab: v, model: m, pretok: splitGPT2, padID: -1}
}

// finishBytes computes what Decode joins for each id: the raw bytes of
// byte-level tokens, the text of added tokens and of tokens that are not in
// byte-level form.
func (t *BPE) finishBytes(byteLevel bool) {
	t.idBytes = make([][]byte, len(t.tokens))
	for id, tok := range t.tokens {
		if !t.valid[id] {
			continue
		}
		if byteLevel && !t.isAdded[id] {
			if b, ok := byteLevelDecode(tok); ok {
				t.idBytes[id] = b
				continue
			}
		}
		t.idBytes[id] = []byte(tok)
	}
}

// readMerges reads a merges.txt: an optional "#version" first line, then one
// "left right" pair a line. limit > 0 keeps only the first limit merges.
func readMerges(path string, limit int) ([][2]string, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	var merges [][2]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if line == 1 && strings.HasPrefix(text, "#version") {
			continue
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		f := strings.Fields(text)
		if len(f) != 2 {
			return nil, fmt.Errorf("tokenizer: %s:%d: %w: a merge must be two tokens separated by a space, got %q", path, line, ErrFormat, text)
		}
		merges = append(merges, [2]string{f[0], f[1]})
		if limit > 0 && len(merges) == limit {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w: %v", path, ErrFormat, err)
	}
	return merges, nil
}

// gpt2Defaults are GPT2Tokenizer's default special tokens.
var gpt2Defaults = map[string]string{"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}

// LoadByteLevelBPE loads a GPT-2 style byte-level BPE tokenizer from a
// vocab.json and a merges.txt. "<|endoftext|>", when present, is its special
// token (and the unknown token). Decode does transformers' clean-up of
// tokenization spaces unless WithCleanUp(false) is given.
func LoadByteLevelBPE(vocabPath, mergesPath string, opts ...Option) (*BPE, error) {
	o := buildOptions(opts)
	mv, err := readVocabJSON(vocabPath)
	if err != nil {
		return nil, err
	}
	merges, err := readMerges(mergesPath, 0)
	if err != nil {
		return nil, err
	}
	v := newVocab(vocabPath)
	for tok, id := range mv {
		v.set(tok, id)
	}
	cfg := &hfConfig{roles: map[string]string{}}
	cfg.applyTo(v, gpt2Defaults)
	t := newByteLevelBPE(v, mv, merges, o)
	t.model.unk = cfg.roleID(v, "unk_token")
	t.cleanup = cleanupSetting(o, nil, true)
	t.finishBytes(true)
	return t, nil
}

// LoadBPE loads a GPT-2 style byte-level BPE tokenizer from a HuggingFace
// directory: vocab.json and merges.txt, with added_tokens.json,
// special_tokens_map.json and tokenizer_config.json when present
// (add_prefix_space, clean_up_tokenization_spaces and the special tokens are
// honoured). A directory with only a tokenizer.json is loaded from it.
func LoadBPE(dir string, opts ...Option) (*BPE, error) {
	if onlyTokenizerJSON(dir, "vocab.json") {
		return tokenizerJSONAs[*BPE](dir, "BPE", opts, nil)
	}
	return loadBPEDir(dir, gpt2Defaults, opts)
}

// readBPEDir reads dir's vocab.json, merges.txt (the first mergeLimit
// merges when it is positive) and tokenizer configuration, and builds the
// vocabulary with the configuration's tokens over defaults.
func readBPEDir(dir string, mergeLimit int, defaults map[string]string) (v *vocab, mv map[string]int, merges [][2]string, cfg *hfConfig, err error) {
	if mv, err = readVocabJSON(filepath.Join(dir, "vocab.json")); err != nil {
		return nil, nil, nil, nil, err
	}
	if merges, err = readMerges(filepath.Join(dir, "merges.txt"), mergeLimit); err != nil {
		return nil, nil, nil, nil, err
	}
	if cfg, err = readHFConfig(dir); err != nil {
		return nil, nil, nil, nil, err
	}
	v = newVocab(dir)
	for tok, id := range mv {
		v.set(tok, id)
	}
	cfg.applyTo(v, defaults)
	return v, mv, merges, cfg, nil
}

func loadBPEDir(dir string, defaults map[string]string, opts []Option) (*BPE, error) {
	o := buildOptions(opts)
	v, mv, merges, cfg, err := readBPEDir(dir, 0, defaults)
	if err != nil {
		return nil, err
	}
	t := newByteLevelBPE(v, mv, merges, o)
	t.model.unk = cfg.roleID(v, "unk_token")
	t.padID = cfg.roleID(v, "pad_token")
	t.addPrefixSpace = cfg.addPrefixSpace
	t.cleanup = cleanupSetting(o, cfg, true)
	t.finishBytes(true)
	return t, nil
}

// LoadTiktoken loads an OpenAI .tiktoken file (base64 token and rank a line)
// with the given special tokens (text -> id). Merging follows tiktoken: the
// lowest-ranked adjacent pair whose concatenation is a token merges first.
// Pre-tokenization uses the GPT-2 pattern (gpt2, r50k and Whisper's
// encodings). Decode does no clean-up unless WithCleanUp(true) is given.
func LoadTiktoken(path string, specials map[string]int, opts ...Option) (*BPE, error) {
	o := buildOptions(opts)
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	ranks := map[string]int{}
	seenRank := map[int]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		f := strings.Fields(text)
		if len(f) != 2 {
			return nil, fmt.Errorf("tokenizer: %s:%d: %w: expected \"base64-token rank\", got %q", path, line, ErrFormat, text)
		}
		var tok []byte
		if strings.Trim(f[0], "=") != "" {
			tok, err = base64.StdEncoding.DecodeString(f[0])
			if err != nil {
				return nil, fmt.Errorf("tokenizer: %s:%d: %w: bad base64 %q: %v", path, line, ErrFormat, f[0], err)
			}
		}
		rank, err := strconv.Atoi(f[1])
		if err != nil || rank < 0 || rank >= maxTokenID {
			return nil, fmt.Errorf("tokenizer: %s:%d: %w: bad rank %q", path, line, ErrFormat, f[1])
		}
		if seenRank[rank] {
			return nil, fmt.Errorf("tokenizer: %s:%d: %w: rank %d appears twice", path, line, ErrFormat, rank)
		}
		if _, dup := ranks[string(tok)]; dup {
			return nil, fmt.Errorf("tokenizer: %s:%d: %w: token %q appears twice", path, line, ErrFormat, tok)
		}
		seenRank[rank] = true
		ranks[string(tok)] = rank
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w: %v", path, ErrFormat, err)
	}
	if len(ranks) == 0 {
		return nil, fmt.Errorf("tokenizer: %s: %w: no tokens", path, ErrFormat)
	}
	v := newVocab(path)
	m := newBPEModel()
	m.byteLevel, m.rawBytes, m.single = true, true, true
	for tok, rank := range ranks {
		v.set(byteLevelEncode([]byte(tok)), rank)
		m.symID[m.intern(tok)] = int32(rank)
	}
	// Every split of a token into two tokens is a merge ranked by the token.
	for tok, rank := range ranks {
		for k := 1; k < len(tok); k++ {
			l, okl := m.symIndex[tok[:k]]
			r, okr := m.symIndex[tok[k:]]
			if okl && okr {
				m.pairs[pairKey(l, r)] = pairMerge{rank: int32(rank), out: m.symIndex[tok]}
			}
		}
	}
	m.finishInit()
	m.cache = newIDCache(o.cacheSize)
	for tok, id := range specials {
		if id < 0 || id >= maxTokenID || tok == "" {
			return nil, fmt.Errorf("tokenizer: %s: special token %q: bad id %d", path, tok, id)
		}
		v.addToken(addedToken{content: tok, id: id, special: true}, false)
	}
	v.finish()
	v.maxInput = o.maxInput
	t := &BPE{vocab: v, model: m, pretok: splitGPT2, padID: -1}
	t.cleanup = cleanupSetting(o, nil, false)
	t.finishBytes(true)
	if id, ok := specials["<|endoftext|>"]; ok {
		t.padID = id
	}
	return t, nil
}

// NewByteLevelBPE builds a GPT-2 style byte-level BPE tokenizer from an
// in-memory vocabulary (tokens in byte-level form, "Ġ" for a space) and
// merges in rank order. specials are special tokens: those missing from
// vocab get the next ids; the first one, "<|endoftext|>" for GPT-2, is also
// the unknown token. Decode does no clean-up unless WithCleanUp(true) is
// given.
func NewByteLevelBPE(vocab map[string]int, merges [][2]string, specials []string, opts ...Option) (*BPE, error) {
	o := buildOptions(opts)
	v := newVocab("in-memory vocabulary")
	for tok, id := range vocab {
		if id < 0 || id >= maxTokenID {
			return nil, fmt.Errorf("tokenizer: %w: token %q has id %d", ErrFormat, tok, id)
		}
		v.set(tok, id)
	}
	for i, m := range merges {
		if m[0] == "" || m[1] == "" {
			return nil, fmt.Errorf("tokenizer: %w: merge %d has an empty side", ErrFormat, i)
		}
	}
	unk := -1
	for i, s := range specials {
		id := v.addToken(addedToken{content: s, id: -1, special: true}, false)
		if i == 0 {
			unk = id
		}
	}
	v.finish()
	t := newByteLevelBPE(v, vocab, merges, o)
	t.model.unk = unk
	t.padID = unk
	t.cleanup = cleanupSetting(o, nil, false)
	t.finishBytes(true)
	return t, nil
}
