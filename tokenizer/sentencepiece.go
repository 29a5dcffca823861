package tokenizer

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// spaceMark is SentencePiece's visible space, U+2581 LOWER ONE EIGHTH BLOCK.
const spaceMark = "▁"

// prependScheme says where a Metaspace pre-tokenizer puts "▁" before the
// text, as in the tokenizers library.
type prependScheme int

const (
	// prependFirst puts "▁" before the text that starts the input, not
	// before text that follows a special token (transformers' legacy=false).
	prependFirst prependScheme = iota
	// prependAlways puts "▁" before every piece of text, also after special
	// tokens.
	prependAlways
	// prependNever puts no "▁".
	prependNever
)

// SentencePiece is a SentencePiece BPE tokenizer with byte fallback, the
// tokenizer of Llama, Llama 2, Vicuna, LLaVA, Mistral and their kin, as
// transformers' LlamaTokenizerFast runs it: text is cut at added and
// special tokens, spaces become "▁" (with a "▁" before the text as the
// legacy flag and add_prefix_space say), pieces are merged by their scores
// (or a tokenizer.json's merge ranks), characters outside the vocabulary
// become their UTF-8 bytes as <0xXX> tokens, and <s> is put in front. It is
// safe for concurrent use.
//
// Where transformers' slow LlamaTokenizer and the fast one differ (with
// legacy=false, text that starts with a space: the slow one gives "▁",
// "▁Hello", the fast one "▁Hello"), a tokenizer built from tokenizer.model
// follows the slow one, whose ids the reference fixtures hold for
// checkpoints without tokenizer.json, and one read from a tokenizer.json
// follows that file (the fast one). A tokenizer.model with a non-identity
// normalizer is refused rather than run without it.
type SentencePiece struct {
	*vocab
	model        *bpeModel
	byteFallback bool
	byteSym      [256]int32 // symbol of the <0xXX> token of each byte, -1 when missing
	unkSym       int32      // symbol of the unknown token, -1 when there is none
	fuseUnk      bool

	normalize func(string) string
	// Metaspace pre-tokenizer (nil meta means none).
	meta *metaspace
	// pretok is any other pre-tokenizer of a tokenizer.json.
	pretok pretokenizer

	prefixIDs, suffixIDs []int
	decoders             []spDecodeStep
	cleanup              bool
	legacy               bool
	padLeft              bool
	bos, eos, unk, pad   int
	byteID               [256]int // id of <0xXX>, -1 when missing (decoding)
	idBytes              [][]byte // id -> bytes for streaming
	isByte               []bool   // id is a <0xXX> token
}

var _ Tokenizer = (*SentencePiece)(nil)

// metaspace is the tokenizers library's Metaspace pre-tokenizer.
type metaspace struct {
	repl   string
	scheme prependScheme
	split  bool
	// always prepends even to text that starts with the replacement (a
	// space): the slow LlamaTokenizer's legacy=false rule, which encodes
	// " Hello" as "▁", "▁Hello", where a tokenizer.json's Metaspace gives
	// "▁Hello".
	always bool
}

// SentencePieceConfig holds the settings of tokenizer_config.json that
// shape a SentencePiece tokenizer built from a tokenizer.model, with
// transformers' defaults given by DefaultSentencePieceConfig.
type SentencePieceConfig struct {
	// Legacy is transformers' legacy flag. When true, every piece of text
	// between special tokens gets a "▁" in front (so "<s>hi" encodes "hi"
	// as "▁hi"); when false, only the text that starts the input does.
	Legacy bool
	// AddPrefixSpace puts "▁" before the text at all (add_prefix_space).
	// Without it no "▁" is added, and Decode keeps a leading space.
	AddPrefixSpace bool
	// AddBOS and AddEOS put the bos and eos tokens around every sequence.
	AddBOS, AddEOS bool
	// BOS, EOS, Unk and Pad are the special tokens' texts ("" for none).
	BOS, EOS, Unk, Pad string
	// Added are added tokens beyond the model's pieces (tokens such as
	// "<image>" with their ids; ID < 0 takes the next free id).
	Added []AddedToken
	// CleanUp applies transformers' clean_up_tokenization in Decode.
	CleanUp bool
	// PadLeft makes EncodeBatch pad on the left (padding_side "left").
	PadLeft bool
}

// AddedToken is a token matched whole in the text before the model sees
// it.
type AddedToken struct {
	Content string
	ID      int  // < 0: the next free id
	Special bool // left out by Decode(ids, true)
	// LStrip and RStrip make the token swallow the whitespace on its left
	// or right.
	LStrip, RStrip bool
}

// DefaultSentencePieceConfig returns transformers' LlamaTokenizer
// defaults: legacy true (what transformers assumes when
// tokenizer_config.json says nothing), add_prefix_space true, <s> added in
// front, no </s>, no clean-up.
func DefaultSentencePieceConfig() SentencePieceConfig {
	return SentencePieceConfig{Legacy: true, AddPrefixSpace: true, AddBOS: true, BOS: "<s>", EOS: "</s>", Unk: "<unk>"}
}

// NewSentencePiece builds the tokenizer transformers converts a
// SentencePiece BPE model into (LlamaConverter in transformers 4.40): the
// pieces are the vocabulary, every split of a piece into two pieces is a
// merge ranked by the piece's score (the first three pieces score 0, as
// the converter sets them), CONTROL and UNKNOWN pieces are special tokens,
// USER_DEFINED pieces are added tokens, and the normalizer and
// pre-tokenizer follow cfg.Legacy and cfg.AddPrefixSpace.
// The model's normalizer_spec flags are not used, as the converter does
// not use them. Models other than BPE, and models with a precompiled
// normalization charsmap (anything but the "identity" normalizer Llama
// has), give an error wrapping ErrUnsupported.
func NewSentencePiece(m *SentencePieceModel, cfg SentencePieceConfig, opts ...Option) (*SentencePiece, error) {
	if m == nil {
		return nil, fmt.Errorf("tokenizer: %w: nil SentencePiece model", ErrFormat)
	}
	v, err := spVocab(m, "SentencePiece model")
	if err != nil {
		return nil, err
	}
	for _, a := range cfg.Added {
		if a.Content == "" || a.ID >= maxTokenID {
			return nil, fmt.Errorf("tokenizer: %w: added token %q with id %d", ErrFormat, a.Content, a.ID)
		}
		id := a.ID
		if id < 0 {
			id = -1
		} else if id < len(m.Pieces) && m.Pieces[id].Piece != a.Content {
			return nil, fmt.Errorf("tokenizer: %w: added token %q would replace piece %d %q", ErrFormat, a.Content, id, m.Pieces[id].Piece)
		}
		v.addToken(addedToken{content: a.Content, id: id, special: a.Special, lstrip: a.LStrip, rstrip: a.RStrip}, false)
	}
	v.finish()
	o := buildOptions(opts)
	t, err := newSPFromModel(m, v, cfg.Legacy, cfg.AddPrefixSpace, o)
	if err != nil {
		return nil, err
	}
	roles := map[string]string{"bos_token": cfg.BOS, "eos_token": cfg.EOS, "unk_token": cfg.Unk, "pad_token": cfg.Pad}
	for role, tok := range roles {
		if tok == "" {
			continue
		}
		if _, ok := v.index[tok]; !ok {
			return nil, fmt.Errorf("tokenizer: %w: %s %q is not in the vocabulary", ErrFormat, role, tok)
		}
	}
	t.setRoles(func(role string) int {
		if id, ok := v.index[roles[role]]; ok && roles[role] != "" {
			return id
		}
		return -1
	})
	if err := t.setFraming(cfg.AddBOS, cfg.AddEOS); err != nil {
		return nil, err
	}
	t.cleanup = cleanupSetting(o, nil, cfg.CleanUp)
	t.padLeft = cfg.PadLeft
	t.finishBytes()
	return t, nil
}

// spVocab checks a model and makes its vocabulary: every piece at its id,
// CONTROL and UNKNOWN pieces registered as special tokens and USER_DEFINED
// ones as (non-special) added tokens, as transformers' converter does.
func spVocab(m *SentencePieceModel, source string) (*vocab, error) {
	if m.Trainer.ModelType != SPBPE {
		return nil, fmt.Errorf("tokenizer: %s: %w: SentencePiece %v models (only BPE, as Llama uses)", source, ErrUnsupported, m.Trainer.ModelType)
	}
	if len(m.Normalizer.PrecompiledCharsmap) > 0 {
		name := m.Normalizer.Name
		if name == "" {
			name = "custom"
		}
		return nil, fmt.Errorf("tokenizer: %s: %w: SentencePiece normalizer %q with a precompiled charsmap (only the identity normalizer)", source, ErrUnsupported, name)
	}
	if len(m.Pieces) == 0 {
		return nil, fmt.Errorf("tokenizer: %s: %w: no pieces", source, ErrFormat)
	}
	v := newVocab(source)
	for id, p := range m.Pieces {
		if p.Piece == "" {
			return nil, fmt.Errorf("tokenizer: %s: %w: piece %d is empty", source, ErrFormat, id)
		}
		if _, dup := v.index[p.Piece]; dup {
			return nil, fmt.Errorf("tokenizer: %s: %w: piece %q is defined twice", source, ErrFormat, p.Piece)
		}
		switch p.Type {
		case PieceNormal, PieceUnknown, PieceControl, PieceUserDefined, PieceUnused:
		case PieceByte:
			if _, ok := parseBytePiece(p.Piece); !ok {
				return nil, fmt.Errorf("tokenizer: %s: %w: byte piece %d is %q, not <0xXX>", source, ErrFormat, id, p.Piece)
			}
		default:
			return nil, fmt.Errorf("tokenizer: %s: %w: piece %d has unknown type %d", source, ErrFormat, id, int32(p.Type))
		}
		v.set(p.Piece, id)
	}
	for id, p := range m.Pieces {
		switch p.Type {
		case PieceUnknown, PieceControl:
			v.addToken(addedToken{content: p.Piece, id: id, special: true}, true)
		case PieceUserDefined:
			v.addToken(addedToken{content: p.Piece, id: id}, true)
		}
	}
	return v, nil
}

// parseBytePiece reads a "<0xXX>" token.
func parseBytePiece(s string) (byte, bool) {
	if len(s) != 6 || s[:3] != "<0x" || s[5] != '>' {
		return 0, false
	}
	var b byte
	for _, c := range []byte(s[3:5]) {
		b <<= 4
		switch {
		case '0' <= c && c <= '9':
			b |= c - '0'
		case 'A' <= c && c <= 'F':
			b |= c - 'A' + 10
		case 'a' <= c && c <= 'f':
			b |= c - 'a' + 10
		default:
			return 0, false
		}
	}
	return b, true
}

// bytePiece is the name of the byte-fallback token of b.
func bytePiece(b byte) string { return fmt.Sprintf("<0x%02X>", b) }

// newSPFromModel builds the merge model, normalizer, pre-tokenizer and
// decoder of a converted SentencePiece BPE model.
func newSPFromModel(m *SentencePieceModel, v *vocab, legacy, addPrefixSpace bool, o options) (*SentencePiece, error) {
	mv := make(map[string]int, len(m.Pieces))
	for id, p := range m.Pieces {
		mv[p.Piece] = id
	}
	// Every split of a piece into two pieces is a merge, ranked as
	// transformers' SentencePieceExtractor sorts them: by the piece's score
	// (highest first; the converter gives the first three pieces score 0),
	// then by piece id, then by the ids of the two halves.
	type merge struct {
		score     float32
		out, l, r int32
	}
	var merges []merge
	for id, p := range m.Pieces {
		score := p.Score
		if id < 3 {
			score = 0
		}
		s := p.Piece
		for k := 0; k < len(s); {
			_, w := utf8.DecodeRuneInString(s[k:])
			k += w
			if k >= len(s) {
				break
			}
			l, okl := mv[s[:k]]
			r, okr := mv[s[k:]]
			if okl && okr {
				merges = append(merges, merge{score, int32(id), int32(l), int32(r)})
			}
		}
	}
	sort.Slice(merges, func(i, j int) bool {
		a, b := merges[i], merges[j]
		if a.score != b.score {
			return a.score > b.score
		}
		if a.out != b.out {
			return a.out < b.out
		}
		if a.l != b.l {
			return a.l < b.l
		}
		return a.r < b.r
	})
	bm := newBPEModel()
	bm.single = true
	bm.setVocab(mv)
	for rank, mg := range merges {
		bm.addMerge(m.Pieces[mg.l].Piece, m.Pieces[mg.r].Piece, rank)
	}
	t := &SentencePiece{vocab: v, model: bm, byteFallback: m.Trainer.ByteFallback, fuseUnk: true, legacy: legacy}
	unk := m.Trainer.UnkPiece
	if _, ok := mv[unk]; !ok {
		unk = ""
	}
	t.initModel(unk, o)
	if legacy {
		t.normalize = func(s string) string {
			if s == "" {
				return s
			}
			s = strings.ReplaceAll(s, " ", spaceMark)
			if addPrefixSpace {
				s = spaceMark + s
			}
			return s
		}
	} else {
		scheme := prependFirst
		if !addPrefixSpace {
			scheme = prependNever
		}
		t.meta = &metaspace{repl: spaceMark, scheme: scheme, always: true}
	}
	t.decoders = []spDecodeStep{{kind: decReplace, old: spaceMark, new: " "}, {kind: decByteFallback}, {kind: decFuse}}
	if addPrefixSpace {
		t.decoders = append(t.decoders, spDecodeStep{kind: decStrip, content: ' ', start: 1})
	}
	return t, nil
}

// initModel finishes the merge model once the vocabulary is known: byte
// and unknown symbols, the word cache and the input limit.
func (t *SentencePiece) initModel(unk string, o options) {
	t.unkSym = -1
	if unk != "" {
		if s, ok := t.model.symIndex[unk]; ok && t.model.symID[s] >= 0 {
			t.unkSym = s
		}
	}
	for b := 0; b < 256; b++ {
		t.byteSym[b] = -1
		if s, ok := t.model.symIndex[bytePiece(byte(b))]; ok && t.model.symID[s] >= 0 {
			t.byteSym[b] = s
		}
	}
	t.model.cache = newIDCache(o.cacheSize)
	t.vocab.maxInput = o.maxInput
	t.bos, t.eos, t.unk, t.pad = -1, -1, -1, -1
}

// setRoles records the ids of the special tokens.
func (t *SentencePiece) setRoles(roleID func(role string) int) {
	t.bos, t.eos, t.unk, t.pad = roleID("bos_token"), roleID("eos_token"), roleID("unk_token"), roleID("pad_token")
}

// setFraming puts bos and eos around sequences as LlamaTokenizerFast's
// post-processor does.
func (t *SentencePiece) setFraming(addBOS, addEOS bool) error {
	t.prefixIDs, t.suffixIDs = nil, nil
	if addBOS {
		if t.bos < 0 {
			return fmt.Errorf("tokenizer: %s: %w: add_bos_token is set but there is no bos_token", t.source, ErrFormat)
		}
		t.prefixIDs = []int{t.bos}
	}
	if addEOS {
		if t.eos < 0 {
			return fmt.Errorf("tokenizer: %s: %w: add_eos_token is set but there is no eos_token", t.source, ErrFormat)
		}
		t.suffixIDs = []int{t.eos}
	}
	return nil
}

// finishBytes computes what streaming joins for each id and which ids are
// byte tokens.
func (t *SentencePiece) finishBytes() {
	t.idBytes = make([][]byte, len(t.tokens))
	t.isByte = make([]bool, len(t.tokens))
	for b := range t.byteID {
		t.byteID[b] = -1
	}
	fallback := false
	for _, d := range t.decoders {
		if d.kind == decByteFallback {
			fallback = true
		}
	}
	for id, tok := range t.tokens {
		if !t.valid[id] {
			continue
		}
		if b, ok := parseBytePiece(tok); ok && fallback && !t.isAdded[id] {
			t.isByte[id] = true
			t.idBytes[id] = []byte{b}
			if t.byteID[b] < 0 {
				t.byteID[b] = id
			}
			continue
		}
		if t.isAdded[id] {
			t.idBytes[id] = []byte(tok)
			continue
		}
		s := tok
		for _, d := range t.decoders {
			switch d.kind {
			case decReplace:
				s = strings.ReplaceAll(s, d.old, d.new)
			case decMetaspace:
				s = strings.ReplaceAll(s, d.old, " ")
			}
		}
		t.idBytes[id] = []byte(s)
	}
}

// Legacy reports transformers' legacy behaviour: text that follows a
// special token is encoded as if it started the input (getting a "▁" in
// front where one is put before text). It is false for tokenizers
// converted with legacy=false and for tokenizer.json files with a
// Metaspace pre-tokenizer whose prepend_scheme is "first".
func (t *SentencePiece) Legacy() bool { return t.legacy }

// BOS returns the id of the beginning-of-sequence token (<s>), or -1.
func (t *SentencePiece) BOS() int { return t.bos }

// EOS returns the id of the end-of-sequence token (</s>), or -1.
func (t *SentencePiece) EOS() int { return t.eos }

// Unk returns the id of the unknown token (<unk>), or -1.
func (t *SentencePiece) Unk() int { return t.unk }

// Pad returns the id of the padding token, or -1 when there is none (as
// for Llama itself; llava-hf adds <pad>).
func (t *SentencePiece) Pad() int { return t.pad }

// Encode returns the ids of text, with special tokens in the text treated
// as ordinary text, and the bos token in front (as configured). It is
// EncodeWith(text, EncodeOptions{}).
func (t *SentencePiece) Encode(text string) []int { return t.EncodeWith(text, EncodeOptions{}) }

// EncodeWith returns the ids of text as opt asks; transformers'
// tokenizer(text) is EncodeWith(text, EncodeOptions{AllSpecial: true}).
// Text longer than the input limit is cut at the limit.
func (t *SentencePiece) EncodeWith(text string, opt EncodeOptions) []int {
	return t.encodeWith(t.encode, text, opt)
}

// TryEncode is EncodeWith that returns ErrInputTooLong instead of cutting
// text longer than the input limit.
func (t *SentencePiece) TryEncode(text string, opt EncodeOptions) ([]int, error) {
	return t.tryEncode(t.encode, text, opt)
}

// Tokenize returns the tokens of text (pieces such as "▁Hello", "<0x0A>"),
// without the framing tokens.
func (t *SentencePiece) Tokenize(text string, opt EncodeOptions) []string {
	return t.tokenize(t.encode, text, opt)
}

func (t *SentencePiece) encode(text string, opt EncodeOptions) []int {
	allow := allowFunc(opt)
	ids := make([]int, 0, len(text)/3+2)
	atStart := true // no token emitted yet: the text starts at offset 0
	tok := func(id int) {
		ids = append(ids, id)
		atStart = false
	}
	words := func(s string, first bool) {
		t.pretokenize(s, first, func(w string) { ids = t.encodeWord(w, ids) })
	}
	t.splitAdded(text, allow, false, func(seg string) {
		first := atStart
		atStart = false
		if t.normalize != nil {
			seg = t.normalize(seg)
		}
		if !t.anyNorm {
			words(seg, first)
			return
		}
		t.splitAdded(seg, allow, true, func(s string) {
			words(s, first)
			first = false
		}, func(id int) {
			ids = append(ids, id)
			first = false
		})
	}, tok)
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

// pretokenize runs the pre-tokenizer on normalized text; first says the
// text starts the input (offset 0), which prependFirst needs.
func (t *SentencePiece) pretokenize(s string, first bool, emit func(string)) {
	if s == "" {
		return
	}
	if t.meta != nil {
		m := t.meta
		s = strings.ReplaceAll(s, " ", m.repl)
		if (m.always || !strings.HasPrefix(s, m.repl)) && (m.scheme == prependAlways || (m.scheme == prependFirst && first)) {
			s = m.repl + s
		}
		if !m.split {
			if s != "" {
				emit(s)
			}
			return
		}
		// Split before every replacement character (MergedWithNext).
		for len(s) > 0 {
			k := strings.Index(s[1:], m.repl)
			if k < 0 {
				emit(s)
				return
			}
			emit(s[:k+1])
			s = s[k+1:]
		}
		return
	}
	if t.pretok != nil {
		t.pretok(s, emit)
		return
	}
	if s != "" {
		emit(s)
	}
}

// encodeWord appends the ids of one pre-tokenized word: its characters
// (each a vocabulary token, else its <0xXX> byte tokens, else the unknown
// token, runs of unknown characters fused into one) merged by rank,
// lowest first and leftmost first among equals, as the tokenizers
// library's BPE does.
func (t *SentencePiece) encodeWord(w string, dst []int) []int {
	if w == "" {
		return dst
	}
	m := t.model
	cacheable := m.cache != nil && len(w) <= maxCachedPiece
	if cacheable {
		if ids, ok := m.cache.get(w); ok {
			return append(dst, ids...)
		}
	}
	var buf [64]int32
	syms := buf[:0]
	unkPending := false
	flush := func() {
		if unkPending {
			syms = append(syms, t.unkSym)
			unkPending = false
		}
	}
	for i := 0; i < len(w); {
		_, n := decodeRune(w, i)
		c := w[i : i+n]
		i += n
		if s, ok := m.symIndex[c]; ok && m.symID[s] >= 0 {
			flush()
			syms = append(syms, s)
			continue
		}
		if t.byteFallback && t.haveBytes(c) {
			flush()
			for k := 0; k < len(c); k++ {
				syms = append(syms, t.byteSym[c[k]])
			}
			continue
		}
		if t.unkSym >= 0 {
			if !t.fuseUnk {
				syms = append(syms, t.unkSym)
			} else {
				unkPending = true
			}
		}
	}
	flush()
	syms = m.merge(syms)
	start := len(dst)
	for _, s := range syms {
		if s >= 0 && m.symID[s] >= 0 {
			dst = append(dst, int(m.symID[s]))
		}
	}
	if cacheable {
		m.cache.put(w, dst[start:])
	}
	return dst
}

// haveBytes reports whether every byte of c has a byte token.
func (t *SentencePiece) haveBytes(c string) bool {
	for k := 0; k < len(c); k++ {
		if t.byteSym[c[k]] < 0 {
			return false
		}
	}
	return true
}

// Decoding steps of a tokenizers decoder.
const (
	decReplace = iota
	decByteFallback
	decFuse
	decStrip
	decMetaspace
)

// spDecodeStep is one decoder of the tokenizers library: Replace, ByteFallback,
// Fuse, Strip or Metaspace.
type spDecodeStep struct {
	kind        int
	old, new    string // Replace; Metaspace's replacement in old
	content     rune   // Strip
	start, stop int    // Strip
	first       bool   // Metaspace: the first token loses its replacement characters
}

// decodeTokens runs the decoder chain over tokens and joins the result.
func (t *SentencePiece) decodeTokens(toks []string) string {
	for _, d := range t.decoders {
		switch d.kind {
		case decReplace:
			for i, s := range toks {
				toks[i] = strings.ReplaceAll(s, d.old, d.new)
			}
		case decMetaspace:
			for i, s := range toks {
				if i == 0 && d.first {
					toks[i] = strings.ReplaceAll(s, d.old, "")
				} else {
					toks[i] = strings.ReplaceAll(s, d.old, " ")
				}
			}
		case decByteFallback:
			toks = byteFallbackDecode(toks)
		case decFuse:
			toks = []string{strings.Join(toks, "")}
		case decStrip:
			for i, s := range toks {
				toks[i] = stripRunes(s, d.content, d.start, d.stop)
			}
		}
	}
	return strings.Join(toks, "")
}

// byteFallbackDecode is the ByteFallback decoder: runs of <0xXX> tokens are
// joined into their bytes; a run that is not valid UTF-8 becomes one U+FFFD
// per byte, as the tokenizers library does.
func byteFallbackDecode(toks []string) []string {
	out := toks[:0:0]
	var run []byte
	end := func() {
		if len(run) == 0 {
			return
		}
		if utf8.Valid(run) {
			out = append(out, string(run))
		} else {
			out = append(out, strings.Repeat("\uFFFD", len(run)))
		}
		run = run[:0]
	}
	for _, s := range toks {
		if b, ok := parseBytePiece(s); ok {
			run = append(run, b)
			continue
		}
		end()
		out = append(out, s)
	}
	end()
	return out
}

// stripRunes removes up to start leading and stop trailing c from s.
func stripRunes(s string, c rune, start, stop int) string {
	for n := 0; n < start; n++ {
		r, w := utf8.DecodeRuneInString(s)
		if w == 0 || r != c {
			break
		}
		s = s[w:]
	}
	for n := 0; n < stop; n++ {
		r, w := utf8.DecodeLastRuneInString(s)
		if w == 0 || r != c {
			break
		}
		s = s[:len(s)-w]
	}
	return s
}

// Decode returns the text of ids as transformers' decode does: "▁" becomes
// a space, runs of byte tokens are joined into UTF-8 (one U+FFFD per byte
// where that fails), the space put before the text is removed, and
// clean_up_tokenization is applied where configured. skipSpecial leaves
// out special tokens; ids outside the vocabulary are ignored.
func (t *SentencePiece) Decode(ids []int, skipSpecial bool) string {
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		if !t.validID(id) || (skipSpecial && t.special[id]) {
			continue
		}
		toks = append(toks, t.tokens[id])
	}
	s := t.decodeTokens(toks)
	if t.cleanup {
		s = cleanUpTokenization(s)
	}
	return s
}

// DecodeStrict is Decode that returns an ErrInvalidID error for an id
// outside the vocabulary.
func (t *SentencePiece) DecodeStrict(ids []int, skipSpecial bool) (string, error) {
	if err := t.checkIDs(ids); err != nil {
		return "", err
	}
	return t.Decode(ids, skipSpecial), nil
}

// TokenBytes returns the bytes a token stands for ("▁" as a space, a byte
// token as its byte), or nil for an invalid id.
func (t *SentencePiece) TokenBytes(id int) []byte {
	if !t.validID(id) {
		return nil
	}
	return append([]byte(nil), t.idBytes[id]...)
}

// NewStreamDecoder returns a decoder that turns ids into text one at a
// time, as a model generates them. What it returns, joined, is Decode of
// the same ids (without clean-up; a run of byte tokens that is not valid
// UTF-8 gives U+FFFD as Python's errors="replace" does rather than one per
// byte).
func (t *SentencePiece) NewStreamDecoder(skipSpecial bool) *StreamDecoder {
	strip, stripN, metaFirst := rune(0), 0, ""
	for _, d := range t.decoders {
		switch d.kind {
		case decStrip:
			strip, stripN = d.content, d.start
		case decMetaspace:
			if d.first {
				metaFirst = d.old
			}
		}
	}
	first := true
	return &StreamDecoder{bytesOf: func(id int) []byte {
		if !t.validID(id) || (skipSpecial && t.special[id]) {
			return nil
		}
		b := t.idBytes[id]
		if first && len(b) > 0 {
			first = false
			if metaFirst != "" && !t.isAdded[id] && !t.isByte[id] {
				return []byte(strings.ReplaceAll(t.tokens[id], metaFirst, ""))
			}
			if stripN > 0 {
				s := stripRunes(string(b), strip, stripN, 0)
				return []byte(s)
			}
		}
		return b
	}}
}

// EncodeBatch encodes texts with framing and with the special tokens
// written in them recognised (as transformers' tokenizer(texts,
// padding=True) does: prompts hold <image>), truncates each to maxLen ids
// and pads them to maxLen (or, when maxLen <= 0, to the longest) with the
// pad token (id 0 when there is none; the mask tells padding apart), on
// the side tokenizer_config.json's padding_side names. mask holds 1 for
// real tokens and 0 for padding.
func (t *SentencePiece) EncodeBatch(texts []string, maxLen int) (ids, mask [][]int) {
	ids, mask = padBatch(texts, maxLen, 0, t.pad, func(s string, n int) []int {
		return t.EncodeWith(s, EncodeOptions{MaxLen: n, AllSpecial: true})
	})
	if t.padLeft {
		for i := range ids {
			n := 0
			for _, m := range mask[i] {
				n += m
			}
			w := len(ids[i])
			row := make([]int, w)
			m := make([]int, w)
			pad := t.pad
			if pad < 0 {
				pad = 0
			}
			for j := 0; j < w-n; j++ {
				row[j] = pad
			}
			copy(row[w-n:], ids[i][:n])
			for j := w - n; j < w; j++ {
				m[j] = 1
			}
			ids[i], mask[i] = row, m
		}
	}
	return ids, mask
}
