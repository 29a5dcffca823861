package tokenizer

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/goformer/goformer/task"
)

// Errors returned (wrapped) by the package.
var (
	// ErrInputTooLong is returned by TryEncode for text longer than the
	// tokenizer's input limit.
	ErrInputTooLong = task.NewInputError("tokenizer: input too long")
	// ErrInvalidID is returned by DecodeStrict for an id outside the vocabulary.
	ErrInvalidID = errors.New("tokenizer: invalid token id")
	// ErrFormat is wrapped by loading errors caused by malformed files.
	ErrFormat = errors.New("tokenizer: malformed file")
	// ErrUnsupported is wrapped by loading errors for tokenizer.json features
	// this package does not implement.
	ErrUnsupported = errors.New("tokenizer: unsupported")
	// ErrUnknownLanguage is returned for a Whisper language that the
	// vocabulary has no token for.
	ErrUnknownLanguage = task.NewInputError("tokenizer: unknown language")
)

// maxTokenID bounds ids read from files (the largest vocabularies in use
// have a few hundred thousand tokens), so that a corrupt file cannot make
// the loader allocate gigabytes.
const maxTokenID = 1 << 21

// DefaultMaxInputBytes is the input limit of a tokenizer unless
// WithMaxInputBytes sets another.
const DefaultMaxInputBytes = 16 << 20

// EncodeOptions control EncodeWith.
type EncodeOptions struct {
	// Special lists special or added tokens (by their text, such as
	// "<|endoftext|>") that are recognised where they occur in the text.
	// Others are encoded as ordinary text.
	Special []string
	// AllSpecial recognises every special and added token in the text, which
	// is what transformers does by default.
	AllSpecial bool
	// NoFraming leaves out the tokens the tokenizer puts around a sequence:
	// [CLS] and [SEP] for WordPiece, <|startoftext|> and <|endoftext|> for
	// CLIP. Byte-level BPE (GPT-2, Whisper) adds none.
	NoFraming bool
	// MaxLen, when positive, truncates the ids to at most MaxLen, framing
	// included (the end token is kept). 0 means no truncation, as in
	// transformers' tokenizer(text) without truncation=True.
	MaxLen int
}

// Option configures a tokenizer when it is loaded.
type Option func(*options)

type options struct {
	maxInput  int
	cleanup   *bool
	cacheSize int
}

func buildOptions(opts []Option) options {
	o := options{maxInput: DefaultMaxInputBytes, cacheSize: DefaultCacheEntries}
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// WithMaxInputBytes sets the longest text, in bytes, that the tokenizer
// encodes: Encode cuts longer text at that many bytes (on a character
// boundary) and TryEncode returns ErrInputTooLong. n <= 0 removes the limit.
func WithMaxInputBytes(n int) Option { return func(o *options) { o.maxInput = n } }

// WithCleanUp overrides clean_up_tokenization_spaces: when on, Decode turns
// " ," into "," and so on, as transformers does.
func WithCleanUp(on bool) Option { return func(o *options) { o.cleanup = &on } }

// WithCacheSize sets how many pre-tokenized words a BPE tokenizer memoizes;
// 0 disables the cache.
func WithCacheSize(n int) Option { return func(o *options) { o.cacheSize = n } }

// addedToken is a token matched in text before the model sees it: an added
// token or a special token.
type addedToken struct {
	content    string
	id         int
	special    bool
	lstrip     bool
	rstrip     bool
	singleWord bool
	normalized bool // matched in normalized text (tokenizer.json only)
}

// vocab holds what every tokenizer has: the id <-> token tables, the special
// and added tokens, and the input limit.
type vocab struct {
	tokens   []string // id -> token; "" where valid[id] is false
	valid    []bool
	index    map[string]int // token -> id, vocabulary and added tokens
	special  []bool         // ids skipped by Decode(ids, true)
	isAdded  []bool         // ids that are added tokens rather than model tokens
	added    []*addedToken  // tokens that can be matched in text
	byFirst  [256][]*addedToken
	anyNorm  bool // some added token is matched after normalization
	maxInput int
	source   string // file or directory loaded, for messages
}

func newVocab(source string) *vocab {
	return &vocab{index: map[string]int{}, source: source}
}

// grow makes room for id.
func (v *vocab) grow(id int) {
	for len(v.tokens) <= id {
		v.tokens = append(v.tokens, "")
		v.valid = append(v.valid, false)
		v.special = append(v.special, false)
		v.isAdded = append(v.isAdded, false)
	}
}

// set records token at id.
func (v *vocab) set(tok string, id int) {
	v.grow(id)
	v.tokens[id] = tok
	v.valid[id] = true
	if old, ok := v.index[tok]; !ok || old != id {
		v.index[tok] = id
	}
}

// addToken registers an added or special token. When its text is already a
// token, that id is reused; otherwise it gets id (or the next free id when
// id < 0).
func (v *vocab) addToken(t addedToken, fromModel bool) int {
	if id, ok := v.index[t.content]; ok && (t.id < 0 || t.id == id) {
		t.id = id
	} else {
		if t.id < 0 {
			t.id = len(v.tokens)
		}
		v.set(t.content, t.id)
		if !fromModel {
			v.isAdded[t.id] = true
		}
	}
	if t.special {
		v.special[t.id] = true
	}
	for _, a := range v.added {
		if a.content == t.content {
			*a = t
			return t.id
		}
	}
	if t.content != "" {
		tt := t
		v.added = append(v.added, &tt)
	}
	return t.id
}

// finish builds the lookup tables of added tokens.
func (v *vocab) finish() {
	v.byFirst = [256][]*addedToken{}
	v.anyNorm = false
	for _, a := range v.added {
		v.byFirst[a.content[0]] = append(v.byFirst[a.content[0]], a)
		if a.normalized {
			v.anyNorm = true
		}
	}
	for _, l := range &v.byFirst {
		sort.SliceStable(l, func(i, j int) bool { return len(l[i].content) > len(l[j].content) })
	}
}

// ID returns the id of token (a vocabulary or added token, in the
// vocabulary's own spelling: byte-level BPE tokens use "Ġ" for a space).
func (v *vocab) ID(token string) (int, bool) {
	id, ok := v.index[token]
	return id, ok
}

// Token returns the token with the given id, or "" when there is none.
func (v *vocab) Token(id int) string {
	if id < 0 || id >= len(v.tokens) {
		return ""
	}
	return v.tokens[id]
}

// VocabSize returns the number of ids: one more than the largest id of the
// vocabulary and its added tokens (51865 for Whisper's multilingual models),
// which is the size of a model's output layer.
func (v *vocab) VocabSize() int { return len(v.tokens) }

// IsSpecial reports whether id is a special token, one that
// Decode(ids, true) leaves out.
func (v *vocab) IsSpecial(id int) bool {
	return id >= 0 && id < len(v.special) && v.special[id]
}

// SpecialTokens returns the ids of the special tokens, in increasing order.
func (v *vocab) SpecialTokens() []int {
	var ids []int
	for id, s := range v.special {
		if s {
			ids = append(ids, id)
		}
	}
	return ids
}

func (v *vocab) validID(id int) bool { return id >= 0 && id < len(v.valid) && v.valid[id] }

// checkIDs returns an ErrInvalidID error for the first id outside the
// vocabulary.
func (v *vocab) checkIDs(ids []int) error {
	for i, id := range ids {
		if !v.validID(id) {
			return fmt.Errorf("%w: %d at position %d (vocabulary of %d)", ErrInvalidID, id, i, len(v.tokens))
		}
	}
	return nil
}

// limit cuts text to the input limit, on a character boundary.
func (v *vocab) limit(text string) string {
	if v.maxInput <= 0 || len(text) <= v.maxInput {
		return text
	}
	n := v.maxInput
	for n > 0 && n < len(text) && !utf8.RuneStart(text[n]) {
		n--
	}
	return text[:n]
}

func (v *vocab) checkLen(text string) error {
	if v.maxInput > 0 && len(text) > v.maxInput {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrInputTooLong, len(text), v.maxInput)
	}
	return nil
}

// encodeFunc is a tokenizer's own encoding of text that is within the input
// limit.
type encodeFunc func(text string, opt EncodeOptions) []int

// encodeWith is EncodeWith of every tokenizer: text longer than the input
// limit is cut at the limit, then encoded.
func (v *vocab) encodeWith(encode encodeFunc, text string, opt EncodeOptions) []int {
	return encode(v.limit(text), opt)
}

// tryEncode is TryEncode of every tokenizer: ErrInputTooLong instead of
// cutting text longer than the input limit.
func (v *vocab) tryEncode(encode encodeFunc, text string, opt EncodeOptions) ([]int, error) {
	if err := v.checkLen(text); err != nil {
		return nil, err
	}
	return encode(text, opt), nil
}

// tokenize is Tokenize of the tokenizers that have it: the tokens of the
// ids encodeWith gives, without framing.
func (v *vocab) tokenize(encode encodeFunc, text string, opt EncodeOptions) []string {
	opt.NoFraming = true
	ids := v.encodeWith(encode, text, opt)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = v.Token(id)
	}
	return out
}

// allowFunc turns EncodeOptions into a predicate on added tokens.
func allowFunc(opt EncodeOptions) func(*addedToken) bool {
	switch {
	case opt.AllSpecial:
		return func(*addedToken) bool { return true }
	case len(opt.Special) > 0:
		set := make(map[string]bool, len(opt.Special))
		for _, s := range opt.Special {
			set[s] = true
		}
		return func(a *addedToken) bool { return set[a.content] }
	}
	return nil
}

// allowed reports whether the token with this text may be matched.
func allowedText(allow func(*addedToken) bool, text string) bool {
	if allow == nil {
		return false
	}
	return allow(&addedToken{content: text})
}

// splitAdded cuts s at the added tokens that allow accepts (and whose
// normalized flag equals normalized), calling text for the pieces between
// them and tok for each match. Matching is leftmost-longest.
func (v *vocab) splitAdded(s string, allow func(*addedToken) bool, normalized bool, text func(string), tok func(int)) {
	if allow == nil || len(v.added) == 0 {
		text(s)
		return
	}
	segStart := 0
	for i := 0; i < len(s); {
		var hit *addedToken
		for _, a := range v.byFirst[s[i]] {
			if a.normalized != normalized || !strings.HasPrefix(s[i:], a.content) || !allow(a) {
				continue
			}
			if a.singleWord && !singleWordAt(s, i, i+len(a.content)) {
				continue
			}
			hit = a
			break
		}
		if hit == nil {
			i++
			continue
		}
		left := s[segStart:i]
		if hit.lstrip {
			left = strings.TrimRightFunc(left, pyIsSpace)
		}
		if left != "" {
			text(left)
		}
		tok(hit.id)
		i += len(hit.content)
		if hit.rstrip {
			for i < len(s) {
				r, w := decodeRune(s, i)
				if !pyIsSpace(r) {
					break
				}
				i += w
			}
		}
		segStart = i
	}
	if segStart < len(s) {
		text(s[segStart:])
	}
}

// singleWordAt reports whether s[i:j] is not glued to word characters.
func singleWordAt(s string, i, j int) bool {
	if i > 0 {
		r, _ := utf8.DecodeLastRuneInString(s[:i])
		if isWordChar(r) {
			return false
		}
	}
	if j < len(s) {
		r, _ := utf8.DecodeRuneInString(s[j:])
		if isWordChar(r) {
			return false
		}
	}
	return true
}

// encodeSegments runs the added-token split, normalization and the model
// over text: raw-text added tokens first, then normalized ones.
func (v *vocab) encodeSegments(text string, allow func(*addedToken) bool, normalize func(string) string,
	model func(normalized string), tok func(int)) {
	v.splitAdded(text, allow, false, func(seg string) {
		if normalize != nil {
			seg = normalize(seg)
		}
		if v.anyNorm {
			v.splitAdded(seg, allow, true, model, tok)
			return
		}
		model(seg)
	}, tok)
}

// truncateContent applies EncodeOptions.MaxLen to content ids that will get
// framing ids around them.
func truncateContent(ids []int, maxLen, framing int) []int {
	if maxLen <= 0 {
		return ids
	}
	budget := maxLen - framing
	if budget < 0 {
		budget = 0
	}
	if len(ids) > budget {
		ids = ids[:budget]
	}
	return ids
}
