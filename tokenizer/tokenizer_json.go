package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// tjAddedToken is an entry of tokenizer.json's added_tokens.
type tjAddedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	Lstrip     bool   `json:"lstrip"`
	Rstrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type tjFile struct {
	Truncation *struct {
		MaxLength int `json:"max_length"`
	} `json:"truncation"`
	Padding *struct {
		PadID int `json:"pad_id"`
	} `json:"padding"`
	AddedTokens   []tjAddedToken  `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         json.RawMessage `json:"model"`
}

type tjModel struct {
	Type                    string          `json:"type"`
	Vocab                   json.RawMessage `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
	UnkToken                *string         `json:"unk_token"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	MaxInputCharsPerWord    int             `json:"max_input_chars_per_word"`
	ByteFallback            bool            `json:"byte_fallback"`
	IgnoreMerges            bool            `json:"ignore_merges"`
	Dropout                 *float64        `json:"dropout"`
}

// tjComponent is a normalizer, pre-tokenizer, post-processor or decoder.
type tjComponent struct {
	Type string `json:"type"`
	// Sequence members.
	Normalizers   []json.RawMessage `json:"normalizers"`
	Pretokenizers []json.RawMessage `json:"pretokenizers"`
	Processors    []json.RawMessage `json:"processors"`
	Decoders      []json.RawMessage `json:"decoders"`
	// BertNormalizer.
	CleanText          *bool `json:"clean_text"`
	HandleChineseChars *bool `json:"handle_chinese_chars"`
	StripAccents       *bool `json:"strip_accents"`
	Lowercase          *bool `json:"lowercase"`
	// Replace, Split.
	Pattern  *tjPattern `json:"pattern"`
	Content  string     `json:"content"`
	Behavior string     `json:"behavior"`
	Invert   bool       `json:"invert"`
	// Strip, Prepend.
	StripLeft  bool   `json:"strip_left"`
	StripRight bool   `json:"strip_right"`
	Prepend    string `json:"prepend"`
	// ByteLevel.
	AddPrefixSpace bool  `json:"add_prefix_space"`
	UseRegex       *bool `json:"use_regex"`
	// Digits.
	IndividualDigits bool `json:"individual_digits"`
	// Decoders.
	Prefix  *string `json:"prefix"`
	Cleanup *bool   `json:"cleanup"`
	Suffix  *string `json:"suffix"`
	// Post-processors.
	Single        []json.RawMessage          `json:"single"`
	SpecialTokens map[string]json.RawMessage `json:"special_tokens"`
	Sep           []json.RawMessage          `json:"sep"`
	Cls           []json.RawMessage          `json:"cls"`
}

type tjPattern struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

// isNull reports whether a JSON value is absent or null.
func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// readTokenizerJSONFile reads a tokenizer.json and its model section, which
// every tokenizer.json must have.
func readTokenizerJSONFile(path string) (*tjFile, *tjBuild, *tjModel, error) {
	var f tjFile
	if err := readJSON(path, &f); err != nil {
		return nil, nil, nil, err
	}
	b := &tjBuild{path: path}
	if isNull(f.Model) {
		return nil, nil, nil, b.malformed("no model")
	}
	var m tjModel
	if err := json.Unmarshal(f.Model, &m); err != nil {
		return nil, nil, nil, b.malformed("model: %v", err)
	}
	return &f, b, &m, nil
}

// modelVocab reads model.vocab, refusing ids out of range.
func (b *tjBuild) modelVocab(raw json.RawMessage) (map[string]int, error) {
	var mv map[string]int
	if err := json.Unmarshal(raw, &mv); err != nil {
		return nil, b.malformed("model.vocab: %v", err)
	}
	for tok, id := range mv {
		if id < 0 || id >= maxTokenID {
			return nil, b.malformed("model.vocab: token %q has id %d", tok, id)
		}
	}
	return mv, nil
}

// vocabWith returns the vocabulary of the model tokens mv and the
// tokenizer.json's added tokens (not yet finished).
func (b *tjBuild) vocabWith(mv map[string]int, added []tjAddedToken) (*vocab, error) {
	v := newVocab(b.path)
	for tok, id := range mv {
		v.set(tok, id)
	}
	for _, a := range added {
		if a.ID < 0 || a.ID >= maxTokenID || a.Content == "" {
			return nil, b.malformed("added token %q has id %d", a.Content, a.ID)
		}
		id, inModel := mv[a.Content]
		v.addToken(addedToken{
			content: a.Content, id: a.ID, special: a.Special, lstrip: a.Lstrip, rstrip: a.Rstrip,
			singleWord: a.SingleWord, normalized: a.Normalized,
		}, inModel && id == a.ID)
	}
	return v, nil
}

// tjBuild collects what a tokenizer.json describes.
type tjBuild struct {
	path        string
	normalize   func(string) string
	pretok      pretokenizer
	byteLevel   bool
	prefixIDs   []int
	suffixIDs   []int
	wpPrefix    string
	wpCleanup   bool
	bpeSuffix   string
	hasWPDecode bool
}

func (b *tjBuild) unsupported(what string, args ...any) error {
	return fmt.Errorf("tokenizer: %s: %w: %s", b.path, ErrUnsupported, fmt.Sprintf(what, args...))
}

func (b *tjBuild) malformed(what string, args ...any) error {
	return fmt.Errorf("tokenizer: %s: %w: %s", b.path, ErrFormat, fmt.Sprintf(what, args...))
}

func (b *tjBuild) component(raw json.RawMessage, what string) (*tjComponent, error) {
	var c tjComponent
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, b.malformed("%s: %v", what, err)
	}
	return &c, nil
}

// normalizer builds a normalizer, nil meaning none.
func (b *tjBuild) normalizer(raw json.RawMessage) (func(string) string, error) {
	if isNull(raw) {
		return nil, nil
	}
	c, err := b.component(raw, "normalizer")
	if err != nil {
		return nil, err
	}
	flag := func(p *bool, def bool) bool {
		if p == nil {
			return def
		}
		return *p
	}
	switch c.Type {
	case "Sequence":
		var fs []func(string) string
		for _, r := range c.Normalizers {
			f, err := b.normalizer(r)
			if err != nil {
				return nil, err
			}
			if f != nil {
				fs = append(fs, f)
			}
		}
		return func(s string) string {
			for _, f := range fs {
				s = f(s)
			}
			return s
		}, nil
	case "BertNormalizer":
		lower := flag(c.Lowercase, true)
		n := bertNormalizer{
			clean:   flag(c.CleanText, true),
			chinese: flag(c.HandleChineseChars, true),
			lower:   lower,
			strip:   flag(c.StripAccents, lower),
		}
		return n.apply, nil
	case "Lowercase":
		return lowerFull, nil
	case "NFC":
		return norm.NFC.String, nil
	case "NFD":
		return norm.NFD.String, nil
	case "NFKC":
		return norm.NFKC.String, nil
	case "NFKD":
		return norm.NFKD.String, nil
	case "StripAccents":
		return func(s string) string {
			return strings.Map(func(r rune) rune {
				if unicode.Is(unicode.M, r) {
					return -1
				}
				return r
			}, s)
		}, nil
	case "Strip":
		left, right := c.StripLeft, c.StripRight
		return func(s string) string {
			if left {
				s = strings.TrimLeftFunc(s, unicode.IsSpace)
			}
			if right {
				s = strings.TrimRightFunc(s, unicode.IsSpace)
			}
			return s
		}, nil
	case "Prepend":
		p := c.Prepend
		return func(s string) string {
			if s == "" {
				return s
			}
			return p + s
		}, nil
	case "Replace":
		if c.Pattern == nil {
			return nil, b.malformed("Replace normalizer without a pattern")
		}
		content := c.Content
		if c.Pattern.String != nil {
			old := *c.Pattern.String
			if old == "" {
				return nil, b.malformed("Replace normalizer with an empty pattern")
			}
			return func(s string) string { return strings.ReplaceAll(s, old, content) }, nil
		}
		if c.Pattern.Regex == nil {
			return nil, b.malformed("Replace normalizer without a pattern")
		}
		if *c.Pattern.Regex == `\s+` {
			return func(s string) string { return collapseSpaces(s, content) }, nil
		}
		re, err := b.regex(*c.Pattern.Regex)
		if err != nil {
			return nil, err
		}
		return func(s string) string { return re.ReplaceAllLiteralString(s, content) }, nil
	}
	return nil, b.unsupported("normalizer %q", c.Type)
}

// collapseSpaces replaces each run of Unicode whitespace by repl.
func collapseSpaces(s, repl string) string {
	var sb strings.Builder
	inRun := false
	for i := 0; i < len(s); {
		r, w := decodeRune(s, i)
		if unicode.IsSpace(r) {
			if !inRun {
				sb.WriteString(repl)
			}
			inRun = true
		} else {
			sb.WriteString(s[i : i+w])
			inRun = false
		}
		i += w
	}
	return sb.String()
}

// whiteSpaceClass is \s of Oniguruma and Python's regex (White_Space) as the
// contents of a Go character class.
const whiteSpaceClass = `\t\n\v\f\r \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}`

// regex compiles a tokenizer.json regex with Go's RE2 engine, giving \s and
// \S their Unicode meaning. Patterns RE2 cannot express (lookaround,
// backreferences) are reported as unsupported.
func (b *tjBuild) regex(pat string) (*regexp.Regexp, error) {
	var sb strings.Builder
	inClass := false
	for i := 0; i < len(pat); i++ {
		c := pat[i]
		if c == '\\' && i+1 < len(pat) {
			n := pat[i+1]
			switch {
			case n == 's' && inClass:
				sb.WriteString(whiteSpaceClass)
			case n == 's':
				sb.WriteString("[" + whiteSpaceClass + "]")
			case n == 'S' && !inClass:
				sb.WriteString("[^" + whiteSpaceClass + "]")
			case n == 'S':
				return nil, b.unsupported("regex %q: \\S inside a character class", pat)
			default:
				sb.WriteByte(c)
				sb.WriteByte(n)
			}
			i++
			continue
		}
		switch c {
		case '[':
			inClass = true
		case ']':
			inClass = false
		}
		sb.WriteByte(c)
	}
	re, err := regexp.Compile(sb.String())
	if err != nil {
		return nil, b.unsupported("regex %q: %v", pat, err)
	}
	return re, nil
}

// spanFunc reports the byte spans of the pattern's matches in s.
type spanFunc func(s string, emit func(i, j int))

// splitter turns a Split pre-tokenizer into a pretokenizer.
func (b *tjBuild) splitter(c *tjComponent) (pretokenizer, error) {
	if c.Pattern == nil {
		return nil, b.malformed("Split pre-tokenizer without a pattern")
	}
	var find spanFunc
	switch {
	case c.Pattern.String != nil:
		lit := *c.Pattern.String
		if lit == "" {
			return nil, b.malformed("Split pre-tokenizer with an empty pattern")
		}
		find = func(s string, emit func(i, j int)) {
			for i := 0; ; {
				k := strings.Index(s[i:], lit)
				if k < 0 {
					return
				}
				emit(i+k, i+k+len(lit))
				i += k + len(lit)
			}
		}
	case c.Pattern.Regex != nil:
		switch pat := *c.Pattern.Regex; pat {
		case gpt2Pattern:
			find = gpt2Spans
		case clipPattern, "(?i)" + clipPattern:
			find = func(s string, emit func(i, j int)) { clipSpans(s, true, true, emit) }
		default:
			re, err := b.regex(pat)
			if err != nil {
				return nil, err
			}
			find = func(s string, emit func(i, j int)) {
				for _, m := range re.FindAllStringIndex(s, -1) {
					if m[1] > m[0] {
						emit(m[0], m[1])
					}
				}
			}
		}
	default:
		return nil, b.malformed("Split pre-tokenizer without a pattern")
	}
	return splitWithBehavior(find, c.Behavior, c.Invert, b)
}

type seg struct {
	i, j  int
	match bool
}

// splitWithBehavior applies a SplitDelimiterBehavior as the tokenizers
// library does.
func splitWithBehavior(find spanFunc, behavior string, invert bool, b *tjBuild) (pretokenizer, error) {
	switch behavior {
	case "Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous":
	case "":
		behavior = "Isolated"
	default:
		return nil, b.unsupported("split behavior %q", behavior)
	}
	return func(s string, emit func(string)) {
		var segs []seg
		last := 0
		find(s, func(i, j int) {
			if i > last {
				segs = append(segs, seg{last, i, invert})
			}
			segs = append(segs, seg{i, j, !invert})
			last = j
		})
		if last < len(s) {
			segs = append(segs, seg{last, len(s), invert})
		}
		var out []seg
		prevMatch := false
		switch behavior {
		case "Removed":
			for _, g := range segs {
				if !g.match {
					out = append(out, g)
				}
			}
		case "Isolated":
			out = segs
		case "MergedWithPrevious":
			for _, g := range segs {
				if g.match && !prevMatch && len(out) > 0 {
					out[len(out)-1].j = g.j
				} else {
					out = append(out, g)
				}
				prevMatch = g.match
			}
		case "MergedWithNext":
			for k := len(segs) - 1; k >= 0; k-- {
				g := segs[k]
				if g.match && !prevMatch && len(out) > 0 {
					out[len(out)-1].i = g.i
				} else {
					out = append(out, g)
				}
				prevMatch = g.match
			}
			for l, r := 0, len(out)-1; l < r; l, r = l+1, r-1 {
				out[l], out[r] = out[r], out[l]
			}
		case "Contiguous":
			for k, g := range segs {
				if k > 0 && g.match == prevMatch && len(out) > 0 {
					out[len(out)-1].j = g.j
				} else {
					out = append(out, g)
				}
				prevMatch = g.match
			}
		}
		for _, g := range out {
			if g.j > g.i {
				emit(s[g.i:g.j])
			}
		}
	}, nil
}

// preTokenizer builds a pre-tokenizer, nil meaning none.
func (b *tjBuild) preTokenizer(raw json.RawMessage) (pretokenizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	c, err := b.component(raw, "pre_tokenizer")
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var ps []pretokenizer
		for _, r := range c.Pretokenizers {
			p, err := b.preTokenizer(r)
			if err != nil {
				return nil, err
			}
			if p != nil {
				ps = append(ps, p)
			}
		}
		return chainPretok(ps), nil
	case "ByteLevel":
		b.byteLevel = true
		useRegex := c.UseRegex == nil || *c.UseRegex
		prefix := c.AddPrefixSpace
		return func(s string, emit func(string)) {
			if prefix && !strings.HasPrefix(s, " ") {
				s = " " + s
			}
			if useRegex {
				splitGPT2(s, emit)
			} else if s != "" {
				emit(s)
			}
		}, nil
	case "BertPreTokenizer":
		return splitBert, nil
	case "Whitespace":
		return splitWhitespaceWords, nil
	case "WhitespaceSplit":
		return splitWhitespace, nil
	case "Split":
		return b.splitter(c)
	case "Punctuation":
		return splitWithBehavior(func(s string, emit func(i, j int)) {
			for i := 0; i < len(s); {
				r, w := decodeRune(s, i)
				if isBertPunct(r) {
					emit(i, i+w)
				}
				i += w
			}
		}, c.Behavior, false, b)
	case "Digits":
		individual := c.IndividualDigits
		return splitWithBehavior(func(s string, emit func(i, j int)) {
			for i := 0; i < len(s); {
				r, w := decodeRune(s, i)
				if !unicode.IsDigit(r) {
					i += w
					continue
				}
				j := i + w
				for !individual && j < len(s) {
					r2, w2 := decodeRune(s, j)
					if !unicode.IsDigit(r2) {
						break
					}
					j += w2
				}
				emit(i, j)
				i = j
			}
		}, "Isolated", false, b)
	}
	return nil, b.unsupported("pre-tokenizer %q", c.Type)
}

// tokenRef reads a ["[SEP]", 102] pair.
func tokenRef(raw []json.RawMessage) (int, bool) {
	if len(raw) != 2 {
		return 0, false
	}
	var id int
	if err := json.Unmarshal(raw[1], &id); err != nil {
		return 0, false
	}
	return id, true
}

// postProcessor reads the framing of single sequences.
func (b *tjBuild) postProcessor(raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	c, err := b.component(raw, "post_processor")
	if err != nil {
		return err
	}
	switch c.Type {
	case "Sequence":
		for _, r := range c.Processors {
			if err := b.postProcessor(r); err != nil {
				return err
			}
		}
		return nil
	case "ByteLevel":
		return nil
	case "BertProcessing", "RobertaProcessing":
		cls, ok1 := tokenRef(c.Cls)
		sep, ok2 := tokenRef(c.Sep)
		if !ok1 || !ok2 {
			return b.malformed("%s without cls/sep", c.Type)
		}
		b.prefixIDs, b.suffixIDs = []int{cls}, []int{sep}
		return nil
	case "TemplateProcessing":
		b.prefixIDs, b.suffixIDs = nil, nil
		seenSeq := false
		for _, item := range c.Single {
			var it struct {
				SpecialToken *struct {
					ID string `json:"id"`
				} `json:"SpecialToken"`
				Sequence *struct {
					ID string `json:"id"`
				} `json:"Sequence"`
			}
			if err := json.Unmarshal(item, &it); err != nil {
				return b.malformed("post_processor template: %v", err)
			}
			switch {
			case it.Sequence != nil:
				seenSeq = true
			case it.SpecialToken != nil:
				rawTok, ok := c.SpecialTokens[it.SpecialToken.ID]
				if !ok {
					return b.malformed("post_processor template: unknown special token %q", it.SpecialToken.ID)
				}
				var st struct {
					IDs []int `json:"ids"`
				}
				if err := json.Unmarshal(rawTok, &st); err != nil {
					return b.malformed("post_processor special token %q: %v", it.SpecialToken.ID, err)
				}
				if seenSeq {
					b.suffixIDs = append(b.suffixIDs, st.IDs...)
				} else {
					b.prefixIDs = append(b.prefixIDs, st.IDs...)
				}
			}
		}
		return nil
	}
	return b.unsupported("post-processor %q", c.Type)
}

// decoder reads the decoding steps.
func (b *tjBuild) decoder(raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	c, err := b.component(raw, "decoder")
	if err != nil {
		return err
	}
	switch c.Type {
	case "Sequence":
		for _, r := range c.Decoders {
			if err := b.decoder(r); err != nil {
				return err
			}
		}
		return nil
	case "ByteLevel":
		b.byteLevel = true
		return nil
	case "WordPiece":
		b.hasWPDecode = true
		b.wpPrefix = "##"
		if c.Prefix != nil {
			b.wpPrefix = *c.Prefix
		}
		b.wpCleanup = c.Cleanup == nil || *c.Cleanup
		return nil
	case "BPEDecoder":
		b.bpeSuffix = "</w>"
		if c.Suffix != nil {
			b.bpeSuffix = *c.Suffix
		}
		return nil
	}
	return b.unsupported("decoder %q", c.Type)
}

// readMergesJSON reads the model's merges: ["a b", ...] or [["a", "b"], ...].
func (b *tjBuild) readMergesJSON(raw json.RawMessage) ([][2]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, b.malformed("model.merges: %v", err)
	}
	out := make([][2]string, 0, len(list))
	for k, r := range list {
		var s string
		if err := json.Unmarshal(r, &s); err == nil {
			f := strings.Split(s, " ")
			if len(f) != 2 || f[0] == "" || f[1] == "" {
				return nil, b.malformed("model.merges[%d]: %q is not two tokens separated by a space", k, s)
			}
			out = append(out, [2]string{f[0], f[1]})
			continue
		}
		var pair []string
		if err := json.Unmarshal(r, &pair); err != nil || len(pair) != 2 {
			return nil, b.malformed("model.merges[%d]: expected \"a b\" or [\"a\", \"b\"]", k)
		}
		out = append(out, [2]string{pair[0], pair[1]})
	}
	return out, nil
}

// LoadTokenizerJSON loads a HuggingFace tokenizer.json with a BPE or
// WordPiece model, returning a *BPE or a *WordPiece, or a *SentencePiece
// for a BPE model with byte_fallback or a Metaspace pre-tokenizer (Llama,
// Mistral; framed by the file's post-processor, see LoadLlama for
// transformers' Llama settings). It implements the
// components GPT-2, Whisper, CLIP and BERT files use: normalizers
// (BertNormalizer, NFC/NFD/NFKC/NFKD, Lowercase, StripAccents, Strip,
// Prepend, Replace, Sequence), pre-tokenizers (ByteLevel,
// BertPreTokenizer, Whitespace, WhitespaceSplit, Split, Punctuation, Digits,
// Sequence), post-processors (TemplateProcessing, BertProcessing,
// RobertaProcessing, ByteLevel, Sequence) and decoders (ByteLevel,
// WordPiece, BPEDecoder, Sequence), with the added tokens and their
// lstrip/rstrip/single_word/normalized flags. Others give an error wrapping
// ErrUnsupported. Split regexes other than the GPT-2 and CLIP patterns run on
// Go's regexp engine, which has no lookaround. clean_up_tokenization_spaces
// and the special-token roles come from a tokenizer_config.json and
// special_tokens_map.json next to the file, when present.
func LoadTokenizerJSON(path string, opts ...Option) (Tokenizer, error) {
	o := buildOptions(opts)
	f, b, m, err := readTokenizerJSONFile(path)
	if err != nil {
		return nil, err
	}
	if m.Type == "" {
		switch {
		case !isNull(m.Merges):
			m.Type = "BPE"
		case m.MaxInputCharsPerWord > 0 || m.ContinuingSubwordPrefix != nil:
			m.Type = "WordPiece"
		}
	}
	if m.Type != "BPE" && m.Type != "WordPiece" {
		return nil, b.unsupported("model type %q", m.Type)
	}
	if m.Type == "BPE" && (m.ByteFallback || isMetaspace(f.PreTokenizer)) {
		// The SentencePiece family (Llama, Mistral, Gemma).
		return loadSPTokenizerJSON(path, o)
	}
	mv, err := b.modelVocab(m.Vocab)
	if err != nil {
		return nil, err
	}
	if b.normalize, err = b.normalizer(f.Normalizer); err != nil {
		return nil, err
	}
	if b.pretok, err = b.preTokenizer(f.PreTokenizer); err != nil {
		return nil, err
	}
	if err := b.postProcessor(f.PostProcessor); err != nil {
		return nil, err
	}
	if err := b.decoder(f.Decoder); err != nil {
		return nil, err
	}
	cfg, err := readHFConfig(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	v, err := b.vocabWith(mv, f.AddedTokens)
	if err != nil {
		return nil, err
	}
	v.finish()
	v.maxInput = o.maxInput
	roleID := func(role string) int { return cfg.roleID(v, role) }
	unk := -1
	if m.UnkToken != nil {
		if id, ok := v.index[*m.UnkToken]; ok {
			unk = id
		}
	}
	maxLen := 0
	if f.Truncation != nil && f.Truncation.MaxLength > 0 {
		maxLen = f.Truncation.MaxLength
	}
	padID := roleID("pad_token")
	if f.Padding != nil {
		padID = f.Padding.PadID
	}
	switch m.Type {
	case "BPE":
		if m.ByteFallback {
			return nil, b.unsupported("BPE byte_fallback")
		}
		if m.IgnoreMerges {
			return nil, b.unsupported("BPE ignore_merges")
		}
		if m.Dropout != nil && *m.Dropout > 0 {
			return nil, b.unsupported("BPE dropout")
		}
		merges, err := b.readMergesJSON(m.Merges)
		if err != nil {
			return nil, err
		}
		bm := newBPEModel()
		bm.byteLevel = b.byteLevel
		if m.ContinuingSubwordPrefix != nil {
			bm.prefix = *m.ContinuingSubwordPrefix
		}
		if m.EndOfWordSuffix != nil {
			bm.suffix = *m.EndOfWordSuffix
		}
		bm.setVocab(mv)
		for i, p := range merges {
			bm.addMerge(p[0], p[1], i)
		}
		bm.finishInit()
		bm.cache = newIDCache(o.cacheSize)
		bm.unk = unk
		t := &BPE{vocab: v, model: bm, normalize: b.normalize, pretok: b.pretok, padID: padID}
		t.prefixIDs, t.suffixIDs = b.prefixIDs, b.suffixIDs
		t.batchLen = maxLen
		t.cleanup = cleanupSetting(o, cfg, true)
		t.decodeSuffix = bm.suffix
		if b.bpeSuffix != "" {
			t.decodeSuffix = b.bpeSuffix
		}
		t.finishBytes(b.byteLevel)
		return t, nil
	case "WordPiece":
		t := &WordPiece{
			vocab:      v,
			normalize:  b.normalize,
			pretok:     b.pretok,
			modelVocab: mv,
			unk:        unk,
			prefix:     "##",
			maxChars:   100,
			cls:        roleID("cls_token"),
			sep:        roleID("sep_token"),
			padID:      padID,
			batchLen:   maxLen,
		}
		if m.ContinuingSubwordPrefix != nil {
			t.prefix = *m.ContinuingSubwordPrefix
		}
		if m.MaxInputCharsPerWord > 0 {
			t.maxChars = m.MaxInputCharsPerWord
		}
		if t.pretok == nil {
			t.pretok = func(s string, emit func(string)) {
				if s != "" {
					emit(s)
				}
			}
		}
		t.prefixIDs, t.suffixIDs = b.prefixIDs, b.suffixIDs
		if len(t.prefixIDs) > 0 && t.cls < 0 {
			t.cls = t.prefixIDs[0]
		}
		if len(t.suffixIDs) > 0 && t.sep < 0 {
			t.sep = t.suffixIDs[len(t.suffixIDs)-1]
		}
		t.cleanup = cleanupSetting(o, cfg, true) || (b.hasWPDecode && b.wpCleanup && o.cleanup == nil)
		return t, nil
	}
	return nil, b.unsupported("model type %q", m.Type)
}
