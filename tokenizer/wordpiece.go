package tokenizer

import (
	"fmt"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// WordPiece is BERT's tokenizer (BLIP uses bert-base-uncased with an added
// [DEC] token): a basic tokenizer (control characters removed, CJK
// characters split apart, lowercasing and accent stripping, punctuation
// split) followed by greedy longest-match-first WordPiece with "##"
// continuations; a word longer than 100 characters, or one that cannot be
// covered, becomes [UNK]. Encode frames the ids with [CLS] and [SEP]. It is
// safe for concurrent use.
type WordPiece struct {
	*vocab
	normalize  func(string) string
	pretok     pretokenizer
	modelVocab map[string]int
	unk        int
	prefix     string
	maxChars   int
	cls, sep   int
	prefixIDs  []int
	suffixIDs  []int
	padID      int
	batchLen   int
	cleanup    bool
}

var _ Tokenizer = (*WordPiece)(nil)

// Encode returns [CLS], the ids of text, [SEP]. Special tokens written in the
// text ("[SEP]") are encoded as ordinary text; see EncodeWith.
func (t *WordPiece) Encode(text string) []int { return t.EncodeWith(text, EncodeOptions{}) }

// EncodePlain returns the ids of text without [CLS] and [SEP].
func (t *WordPiece) EncodePlain(text string) []int {
	return t.EncodeWith(text, EncodeOptions{NoFraming: true})
}

// EncodeWith returns the ids of text as opt asks. transformers' default,
// tokenizer(text).input_ids, is EncodeWith(text, EncodeOptions{AllSpecial:
// true}). Text longer than the input limit is cut at the limit.
func (t *WordPiece) EncodeWith(text string, opt EncodeOptions) []int {
	return t.encodeWith(t.encode, text, opt)
}

// TryEncode is EncodeWith that returns ErrInputTooLong instead of cutting
// text longer than the input limit.
func (t *WordPiece) TryEncode(text string, opt EncodeOptions) ([]int, error) {
	return t.tryEncode(t.encode, text, opt)
}

// Tokenize returns the WordPiece tokens of text (what transformers'
// tokenize returns, with opt.AllSpecial for its default), without framing.
func (t *WordPiece) Tokenize(text string, opt EncodeOptions) []string {
	return t.tokenize(t.encode, text, opt)
}

func (t *WordPiece) encode(text string, opt EncodeOptions) []int {
	var ids []int
	var buf []byte
	model := func(s string) {
		t.pretok(s, func(word string) {
			ids, buf = t.wordPiece(word, ids, buf)
		})
	}
	t.encodeSegments(text, allowFunc(opt), t.normalize, model, func(id int) { ids = append(ids, id) })
	framing := 0
	if !opt.NoFraming {
		framing = len(t.prefixIDs) + len(t.suffixIDs)
	}
	ids = truncateContent(ids, opt.MaxLen, framing)
	if framing == 0 {
		return ids
	}
	out := make([]int, 0, len(ids)+framing)
	out = append(out, t.prefixIDs...)
	out = append(out, ids...)
	return append(out, t.suffixIDs...)
}

// wordPiece appends the ids of one word: greedy longest match first.
func (t *WordPiece) wordPiece(word string, dst []int, buf []byte) ([]int, []byte) {
	if utf8.RuneCountInString(word) > t.maxChars {
		if t.unk >= 0 {
			dst = append(dst, t.unk)
		}
		return dst, buf
	}
	start := len(dst)
	for pos := 0; pos < len(word); {
		found := -1
		end := len(word)
		for end > pos {
			buf = buf[:0]
			if pos > 0 {
				buf = append(buf, t.prefix...)
			}
			buf = append(buf, word[pos:end]...)
			if id, ok := t.modelVocab[string(buf)]; ok {
				found = id
				break
			}
			// Step back one character.
			_, w := utf8.DecodeLastRuneInString(word[pos:end])
			end -= w
		}
		if found < 0 {
			dst = dst[:start]
			if t.unk >= 0 {
				dst = append(dst, t.unk)
			}
			return dst, buf
		}
		dst = append(dst, found)
		pos = end
	}
	return dst, buf
}

// Decode returns the text of ids as transformers' BERT decode does: tokens
// joined by spaces, "##" continuations glued to the previous token, and
// clean-up of tokenization spaces when enabled (the default for BERT).
// skipSpecial leaves out special tokens; ids outside the vocabulary are
// ignored.
func (t *WordPiece) Decode(ids []int, skipSpecial bool) string {
	var b strings.Builder
	first := true
	for _, id := range ids {
		if !t.validID(id) || (skipSpecial && t.special[id]) {
			continue
		}
		tok := t.tokens[id]
		if !first {
			if rest, ok := strings.CutPrefix(tok, t.prefix); ok && t.prefix != "" {
				tok = rest
			} else {
				b.WriteByte(' ')
			}
		}
		first = false
		b.WriteString(tok)
	}
	s := b.String()
	if t.cleanup {
		s = cleanUpTokenization(s)
	}
	return s
}

// DecodeStrict is Decode that returns an ErrInvalidID error for an id
// outside the vocabulary.
func (t *WordPiece) DecodeStrict(ids []int, skipSpecial bool) (string, error) {
	if err := t.checkIDs(ids); err != nil {
		return "", err
	}
	return t.Decode(ids, skipSpecial), nil
}

// EncodeBatch encodes texts with [CLS]/[SEP], truncates each to maxLen ids
// ([SEP] kept) and pads them with [PAD] to maxLen; maxLen <= 0 uses the
// tokenizer.json truncation length when there is one, else the longest
// sequence. mask holds 1 for real tokens and 0 for padding.
func (t *WordPiece) EncodeBatch(texts []string, maxLen int) (ids, mask [][]int) {
	return padBatch(texts, maxLen, t.batchLen, t.padID, func(s string, n int) []int {
		return t.EncodeWith(s, EncodeOptions{MaxLen: n})
	})
}

// CLS returns the id of [CLS].
func (t *WordPiece) CLS() int { return t.cls }

// SEP returns the id of [SEP].
func (t *WordPiece) SEP() int { return t.sep }

// isChineseChar reports whether r is in one of the CJK ideograph blocks
// BERT splits apart.
func isChineseChar(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) || (r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B820 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}

// isBertControl is BERT's control test: category C* (unassigned included)
// except tab, newline and carriage return.
func isBertControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	if r < utf8.RuneSelf {
		return r < 0x20 || r == 0x7F
	}
	if unicode.Is(unicode.C, r) {
		return true
	}
	return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z)
}

// isBertWhitespace is BERT's whitespace test: space, tab, newline, carriage
// return or category Zs.
func isBertWhitespace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || unicode.Is(unicode.Zs, r)
}

// stripAccents removes combining marks after canonical decomposition.
func stripAccents(s string) string {
	s = norm.NFD.String(s)
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Mn, r) {
			return -1
		}
		return r
	}, s)
}

// bertNormalizer is BERT's text normalization (BertNormalizer).
type bertNormalizer struct {
	clean, chinese, lower, strip bool
}

func (n bertNormalizer) apply(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	ascii := true
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			if n.clean {
				switch {
				case c == ' ' || c == '\t' || c == '\n' || c == '\r':
					b.WriteByte(' ')
					continue
				case c < 0x20 || c == 0x7F:
					continue
				}
			}
			b.WriteByte(c)
			continue
		}
		ascii = false
		r, w := decodeRune(s, i)
		if w == 1 && r == utf8.RuneError {
			r = 0xFFFD
		}
		i += w
		if n.clean {
			if r == 0xFFFD || isBertControl(r) {
				continue
			}
			if isBertWhitespace(r) {
				b.WriteByte(' ')
				continue
			}
		}
		if n.chinese && isChineseChar(r) {
			b.WriteByte(' ')
			b.WriteRune(r)
			b.WriteByte(' ')
			continue
		}
		b.WriteRune(r)
	}
	out := b.String()
	if n.strip && !ascii {
		out = stripAccents(out)
	}
	if n.lower {
		out = lowerFull(out)
	}
	return out
}

var bertDefaults = map[string]string{
	"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]",
}

// readVocabTxt reads a WordPiece vocab.txt: one token a line, the line
// number is the id.
func readVocabTxt(path string) (map[string]int, []string, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, nil, err
	}
	if !utf8.Valid(b) {
		return nil, nil, fmt.Errorf("tokenizer: %s: %w: not UTF-8 text", path, ErrFormat)
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) == 0 {
		return nil, nil, fmt.Errorf("tokenizer: %s: %w: empty vocabulary", path, ErrFormat)
	}
	if len(lines) >= maxTokenID {
		return nil, nil, fmt.Errorf("tokenizer: %s: %w: too many tokens", path, ErrFormat)
	}
	m := make(map[string]int, len(lines))
	for i, l := range lines {
		m[l] = i
	}
	return m, lines, nil
}

// LoadWordPiece loads a BERT WordPiece tokenizer from a HuggingFace
// directory: vocab.txt with, when present, added_tokens.json (BLIP's [DEC]),
// special_tokens_map.json and tokenizer_config.json (do_lower_case,
// strip_accents, tokenize_chinese_chars, clean_up_tokenization_spaces), or
// from its tokenizer.json.
func LoadWordPiece(dir string, opts ...Option) (*WordPiece, error) {
	if onlyTokenizerJSON(dir, "vocab.txt") {
		return tokenizerJSONAs[*WordPiece](dir, "WordPiece", opts, nil)
	}
	o := buildOptions(opts)
	mv, lines, err := readVocabTxt(filepath.Join(dir, "vocab.txt"))
	if err != nil {
		return nil, err
	}
	cfg, err := readHFConfig(dir)
	if err != nil {
		return nil, err
	}
	v := newVocab(dir)
	for i, l := range lines {
		v.grow(i)
		v.tokens[i], v.valid[i] = l, true
	}
	for tok, id := range mv {
		v.index[tok] = id
	}
	cfg.applyTo(v, bertDefaults)
	v.maxInput = o.maxInput
	lower := cfg.doLowerCase == nil || *cfg.doLowerCase
	strip := lower
	if cfg.stripAccents != nil {
		strip = *cfg.stripAccents
	}
	chinese := cfg.chineseChars == nil || *cfg.chineseChars
	nz := bertNormalizer{clean: true, chinese: chinese, lower: lower, strip: strip}
	t := &WordPiece{
		vocab:      v,
		normalize:  nz.apply,
		pretok:     splitBert,
		modelVocab: mv,
		unk:        cfg.roleID(v, "unk_token"),
		prefix:     "##",
		maxChars:   100,
		cls:        cfg.roleID(v, "cls_token"),
		sep:        cfg.roleID(v, "sep_token"),
		padID:      cfg.roleID(v, "pad_token"),
		cleanup:    cleanupSetting(o, cfg, true),
	}
	t.frameCLSSEP()
	return t, nil
}

// NewWordPiece builds a BERT uncased WordPiece tokenizer from an in-memory
// vocabulary (the lines of a vocab.txt: the index is the id), with BERT's
// special tokens [UNK], [CLS], [SEP], [PAD] and [MASK] where present.
func NewWordPiece(vocab []string, opts ...Option) (*WordPiece, error) {
	o := buildOptions(opts)
	if len(vocab) == 0 || len(vocab) >= maxTokenID {
		return nil, fmt.Errorf("tokenizer: %w: vocabulary of %d tokens", ErrFormat, len(vocab))
	}
	v := newVocab("in-memory vocabulary")
	mv := make(map[string]int, len(vocab))
	for i, tok := range vocab {
		v.grow(i)
		v.tokens[i], v.valid[i] = tok, true
		v.index[tok] = i
		mv[tok] = i
	}
	cfg := &hfConfig{roles: map[string]string{}}
	cfg.applyTo(v, bertDefaults)
	v.maxInput = o.maxInput
	nz := bertNormalizer{clean: true, chinese: true, lower: true, strip: true}
	t := &WordPiece{
		vocab: v, normalize: nz.apply, pretok: splitBert, modelVocab: mv,
		unk: cfg.roleID(v, "unk_token"), prefix: "##", maxChars: 100,
		cls: cfg.roleID(v, "cls_token"), sep: cfg.roleID(v, "sep_token"), padID: cfg.roleID(v, "pad_token"),
		cleanup: cleanupSetting(o, nil, true),
	}
	t.frameCLSSEP()
	return t, nil
}

// frameCLSSEP frames encodings as BERT does, [CLS] … [SEP], with the
// tokens the vocabulary has.
func (t *WordPiece) frameCLSSEP() {
	if t.cls >= 0 {
		t.prefixIDs = []int{t.cls}
	}
	if t.sep >= 0 {
		t.suffixIDs = []int{t.sep}
	}
}
