package tokenizer

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// Whisper tasks, for SOTSequence.
const (
	TaskTranscribe = "transcribe"
	TaskTranslate  = "translate"
)

// whisperLanguages is OpenAI whisper's LANGUAGES table, in token order: the
// first 99 are the languages of the original models, "yue" was added with
// large-v3.
var whisperLanguages = [...][2]string{
	{"en", "english"}, {"zh", "chinese"}, {"de", "german"}, {"es", "spanish"}, {"ru", "russian"},
	{"ko", "korean"}, {"fr", "french"}, {"ja", "japanese"}, {"pt", "portuguese"}, {"tr", "turkish"},
	{"pl", "polish"}, {"ca", "catalan"}, {"nl", "dutch"}, {"ar", "arabic"}, {"sv", "swedish"},
	{"it", "italian"}, {"id", "indonesian"}, {"hi", "hindi"}, {"fi", "finnish"}, {"vi", "vietnamese"},
	{"he", "hebrew"}, {"uk", "ukrainian"}, {"el", "greek"}, {"ms", "malay"}, {"cs", "czech"},
	{"ro", "romanian"}, {"da", "danish"}, {"hu", "hungarian"}, {"ta", "tamil"}, {"no", "norwegian"},
	{"th", "thai"}, {"ur", "urdu"}, {"hr", "croatian"}, {"bg", "bulgarian"}, {"lt", "lithuanian"},
	{"la", "latin"}, {"mi", "maori"}, {"ml", "malayalam"}, {"cy", "welsh"}, {"sk", "slovak"},
	{"te", "telugu"}, {"fa", "persian"}, {"lv", "latvian"}, {"bn", "bengali"}, {"sr", "serbian"},
	{"az", "azerbaijani"}, {"sl", "slovenian"}, {"kn", "kannada"}, {"et", "estonian"}, {"mk", "macedonian"},
	{"br", "breton"}, {"eu", "basque"}, {"is", "icelandic"}, {"hy", "armenian"}, {"ne", "nepali"},
	{"mn", "mongolian"}, {"bs", "bosnian"}, {"kk", "kazakh"}, {"sq", "albanian"}, {"sw", "swahili"},
	{"gl", "galician"}, {"mr", "marathi"}, {"pa", "punjabi"}, {"si", "sinhala"}, {"km", "khmer"},
	{"sn", "shona"}, {"yo", "yoruba"}, {"so", "somali"}, {"af", "afrikaans"}, {"oc", "occitan"},
	{"ka", "georgian"}, {"be", "belarusian"}, {"tg", "tajik"}, {"sd", "sindhi"}, {"gu", "gujarati"},
	{"am", "amharic"}, {"yi", "yiddish"}, {"lo", "lao"}, {"uz", "uzbek"}, {"fo", "faroese"},
	{"ht", "haitian creole"}, {"ps", "pashto"}, {"tk", "turkmen"}, {"nn", "nynorsk"}, {"mt", "maltese"},
	{"sa", "sanskrit"}, {"lb", "luxembourgish"}, {"my", "myanmar"}, {"bo", "tibetan"}, {"tl", "tagalog"},
	{"mg", "malagasy"}, {"as", "assamese"}, {"tt", "tatar"}, {"haw", "hawaiian"}, {"ln", "lingala"},
	{"ha", "hausa"}, {"ba", "bashkir"}, {"jw", "javanese"}, {"su", "sundanese"}, {"yue", "cantonese"},
}

// whisperAliases are OpenAI's extra language names.
var whisperAliases = map[string]string{
	"burmese": "my", "valencian": "ca", "flemish": "nl", "haitian": "ht", "letzeburgesch": "lb",
	"pushto": "ps", "panjabi": "pa", "moldavian": "ro", "moldovan": "ro", "sinhalese": "si",
	"castilian": "es", "mandarin": "zh",
}

var (
	langName = map[string]string{}
	langCode = map[string]string{}
)

func init() {
	for _, l := range whisperLanguages {
		langName[l[0]] = l[1]
		langCode[l[1]] = l[0]
	}
	for name, code := range whisperAliases {
		langCode[name] = code
	}
}

// WhisperLanguages returns the codes of all languages Whisper knows, in
// token order (100 with large-v3's "yue"; a vocabulary may have fewer, see
// Whisper.LanguageCodes).
func WhisperLanguages() []string {
	out := make([]string, len(whisperLanguages))
	for i, l := range whisperLanguages {
		out[i] = l[0]
	}
	return out
}

// LanguageCode returns the Whisper language code for a code, an English
// language name or one of OpenAI's aliases ("mandarin", "castilian"),
// case-insensitively.
func LanguageCode(nameOrCode string) (string, bool) {
	s := strings.ToLower(strings.TrimSpace(nameOrCode))
	if _, ok := langName[s]; ok {
		return s, true
	}
	c, ok := langCode[s]
	return c, ok
}

// LanguageName returns the English name of a Whisper language code, or "".
func LanguageName(code string) string { return langName[strings.ToLower(code)] }

// Whisper is Whisper's tokenizer: byte-level BPE with Whisper's special
// tokens, language tokens and timestamp tokens. Decode follows OpenAI's
// whisper: timestamp tokens are left out, other special tokens too when
// skipSpecial is set, and there is no clean-up of spaces (WithCleanUp(true)
// turns it on). It is safe for concurrent use.
type Whisper struct {
	*BPE
	eot, sot, translate, transcribe int
	sotLM, sotPrev, noSpeech, noTS  int
	tsBegin                         int
	langTokens                      []int
	langCodes                       []string
	language                        string
	nonSpeechOnce                   *sync.Once
	nonSpeech                       *[]int
}

// NewWhisper wraps a byte-level BPE tokenizer whose vocabulary has Whisper's
// special tokens. The timestamp tokens start at <|0.00|> when the vocabulary
// has it, else right after <|notimestamps|>. The Whisper takes b over: the
// language and task tokens become special tokens of b.
func NewWhisper(b *BPE) (*Whisper, error) {
	w := &Whisper{BPE: b, nonSpeechOnce: new(sync.Once), nonSpeech: new([]int)}
	need := func(names ...string) (int, error) {
		for _, n := range names {
			if id, ok := b.index[n]; ok {
				return id, nil
			}
		}
		return -1, fmt.Errorf("tokenizer: %s: %w: not a Whisper vocabulary, %s is missing", b.source, ErrFormat, names[0])
	}
	var err error
	for _, f := range []struct {
		dst   *int
		names []string
	}{
		{&w.eot, []string{"<|endoftext|>"}},
		{&w.sot, []string{"<|startoftranscript|>"}},
		{&w.translate, []string{"<|translate|>"}},
		{&w.transcribe, []string{"<|transcribe|>"}},
		{&w.sotLM, []string{"<|startoflm|>"}},
		{&w.sotPrev, []string{"<|startofprev|>"}},
		{&w.noSpeech, []string{"<|nocaptions|>", "<|nospeech|>"}},
		{&w.noTS, []string{"<|notimestamps|>"}},
	} {
		if *f.dst, err = need(f.names...); err != nil {
			return nil, err
		}
	}
	if id, ok := b.index["<|0.00|>"]; ok {
		w.tsBegin = id
	} else {
		w.tsBegin = w.noTS + 1
	}
	type lt struct {
		id   int
		code string
	}
	var langs []lt
	for _, l := range whisperLanguages {
		if id, ok := b.index["<|"+l[0]+"|>"]; ok {
			langs = append(langs, lt{id, l[0]})
		}
	}
	sort.Slice(langs, func(i, j int) bool { return langs[i].id < langs[j].id })
	for _, l := range langs {
		w.langTokens = append(w.langTokens, l.id)
		w.langCodes = append(w.langCodes, l.code)
	}
	for _, id := range []int{w.eot, w.sot, w.translate, w.transcribe, w.sotLM, w.sotPrev, w.noSpeech, w.noTS} {
		b.special[id] = true
	}
	for _, id := range w.langTokens {
		b.special[id] = true
	}
	return w, nil
}

// LoadWhisper loads Whisper's tokenizer from a HuggingFace model directory
// (vocab.json, merges.txt, added_tokens.json with the special and timestamp
// tokens, which large-v3's 51866-token vocabulary shifts by one) or from its
// tokenizer.json.
func LoadWhisper(dir string, opts ...Option) (*Whisper, error) {
	o := buildOptions(opts)
	// Whisper decodes without clean-up whatever tokenizer_config.json says,
	// as both OpenAI's code and transformers' WhisperTokenizer do.
	opts = append(append([]Option(nil), opts...), WithCleanUp(o.cleanup != nil && *o.cleanup))
	var b *BPE
	var err error
	if !exists(filepath.Join(dir, "vocab.json")) && exists(filepath.Join(dir, "tokenizer.json")) {
		b, err = LoadBPE(dir, opts...)
	} else {
		b, err = loadBPEDir(dir, gpt2Defaults, opts)
	}
	if err != nil {
		return nil, err
	}
	return NewWhisper(b)
}

// WhisperTiktokenSpecials returns the special tokens OpenAI's whisper adds
// after the nVocab tokens of a .tiktoken file, in its order:
// <|endoftext|>, <|startoftranscript|>, the numLanguages language tokens,
// <|translate|>, <|transcribe|>, <|startoflm|>, <|startofprev|>,
// <|nospeech|>, <|notimestamps|> and the 1501 timestamps <|0.00|> to
// <|30.00|>.
func WhisperTiktokenSpecials(nVocab, numLanguages int) map[string]int {
	if numLanguages < 0 || numLanguages > len(whisperLanguages) {
		numLanguages = len(whisperLanguages)
	}
	names := []string{"<|endoftext|>", "<|startoftranscript|>"}
	for _, l := range whisperLanguages[:numLanguages] {
		names = append(names, "<|"+l[0]+"|>")
	}
	names = append(names, "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>",
		"<|nospeech|>", "<|notimestamps|>")
	for i := 0; i <= 1500; i++ {
		names = append(names, fmt.Sprintf("<|%.2f|>", float64(i)*0.02))
	}
	m := make(map[string]int, len(names))
	for i, n := range names {
		m[n] = nVocab + i
	}
	return m
}

// LoadWhisperTiktoken loads Whisper's tokenizer from OpenAI's
// multilingual.tiktoken (numLanguages 99, or 100 for large-v3) or
// gpt2.tiktoken (English-only models), with the special tokens OpenAI adds.
func LoadWhisperTiktoken(path string, numLanguages int, opts ...Option) (*Whisper, error) {
	b, err := LoadTiktoken(path, nil, opts...)
	if err != nil {
		return nil, err
	}
	n := 0
	for id, ok := range b.valid {
		if ok {
			n = id + 1
		}
	}
	for tok, id := range WhisperTiktokenSpecials(n, numLanguages) {
		b.addToken(addedToken{content: tok, id: id, special: !strings.Contains(tok, ".")}, false)
	}
	b.finish()
	b.finishBytes(true)
	b.padID = b.index["<|endoftext|>"]
	return NewWhisper(b)
}

// WithLanguage returns a Whisper that shares w's vocabulary and splits words
// (SplitToWordTokens) for the given language.
func (w *Whisper) WithLanguage(lang string) (*Whisper, error) {
	c := *w
	if lang == "" {
		c.language = ""
		return &c, nil
	}
	code, ok := LanguageCode(lang)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownLanguage, lang)
	}
	c.language = code
	return &c, nil
}

// Language returns the language set by WithLanguage, or "".
func (w *Whisper) Language() string { return w.language }

// EOT returns the id of <|endoftext|>.
func (w *Whisper) EOT() int { return w.eot }

// SOT returns the id of <|startoftranscript|>.
func (w *Whisper) SOT() int { return w.sot }

// Translate returns the id of <|translate|>.
func (w *Whisper) Translate() int { return w.translate }

// Transcribe returns the id of <|transcribe|>.
func (w *Whisper) Transcribe() int { return w.transcribe }

// StartOfLM returns the id of <|startoflm|>.
func (w *Whisper) StartOfLM() int { return w.sotLM }

// StartOfPrev returns the id of <|startofprev|>, which starts a prompt.
func (w *Whisper) StartOfPrev() int { return w.sotPrev }

// NoSpeech returns the id of <|nocaptions|> (called <|nospeech|> in recent
// OpenAI code), whose probability is the no-speech probability.
func (w *Whisper) NoSpeech() int { return w.noSpeech }

// NoTimestamps returns the id of <|notimestamps|>.
func (w *Whisper) NoTimestamps() int { return w.noTS }

// TimestampBegin returns the id of <|0.00|>; timestamp i*0.02 s is
// TimestampBegin()+i.
func (w *Whisper) TimestampBegin() int { return w.tsBegin }

// IsTimestamp reports whether id is a timestamp token.
func (w *Whisper) IsTimestamp(id int) bool { return id >= w.tsBegin }

// TimestampSeconds returns the time of a timestamp token.
func (w *Whisper) TimestampSeconds(id int) (float64, bool) {
	if id < w.tsBegin {
		return 0, false
	}
	return float64(id-w.tsBegin) * 0.02, true
}

// IsMultilingual reports whether the vocabulary is a multilingual one:
// <|endoftext|> at 50257 or later (English-only models use GPT-2's
// vocabulary, where it is 50256) and language tokens present.
func (w *Whisper) IsMultilingual() bool { return w.eot > 50256 && len(w.langTokens) > 0 }

// NumLanguages returns how many language tokens the vocabulary has (99, or
// 100 for large-v3).
func (w *Whisper) NumLanguages() int { return len(w.langTokens) }

// LanguageToken returns the id of a language's token. lang is a code ("en"),
// a name ("english") or an alias ("mandarin").
func (w *Whisper) LanguageToken(lang string) (int, error) {
	code, ok := LanguageCode(lang)
	if !ok {
		return -1, fmt.Errorf("%w: %q", ErrUnknownLanguage, lang)
	}
	if id, ok := w.index["<|"+code+"|>"]; ok {
		return id, nil
	}
	return -1, fmt.Errorf("%w: %q has no token in this vocabulary", ErrUnknownLanguage, lang)
}

// LanguageTokens returns the ids of the language tokens, in increasing order.
func (w *Whisper) LanguageTokens() []int { return append([]int(nil), w.langTokens...) }

// LanguageCodes returns the language codes, in the order of LanguageTokens.
func (w *Whisper) LanguageCodes() []string { return append([]string(nil), w.langCodes...) }

// LanguageOf returns the code of a language token.
func (w *Whisper) LanguageOf(id int) (string, bool) {
	for i, t := range w.langTokens {
		if t == id {
			return w.langCodes[i], true
		}
	}
	return "", false
}

// SOTSequence returns the start of a decoder prompt: <|startoftranscript|>,
// the language token (when lang is not ""), the task token (when task is
// not ""; TaskTranscribe or TaskTranslate) and <|notimestamps|> unless
// timestamps is set. English-only vocabularies take no language or task
// token, as OpenAI's whisper does.
func (w *Whisper) SOTSequence(lang, task string, timestamps bool) ([]int, error) {
	seq := []int{w.sot}
	if w.IsMultilingual() {
		if lang != "" {
			id, err := w.LanguageToken(lang)
			if err != nil {
				return nil, err
			}
			seq = append(seq, id)
		}
		switch task {
		case "":
		case TaskTranscribe:
			seq = append(seq, w.transcribe)
		case TaskTranslate:
			seq = append(seq, w.translate)
		default:
			return nil, fmt.Errorf("tokenizer: unknown Whisper task %q (want %q or %q)", task, TaskTranscribe, TaskTranslate)
		}
	}
	if !timestamps {
		seq = append(seq, w.noTS)
	}
	return seq, nil
}

// keep reports whether Decode keeps id.
func (w *Whisper) keep(id int, skipSpecial bool) bool {
	if !w.validID(id) || id >= w.tsBegin {
		return false
	}
	return !skipSpecial || (id < w.eot && !w.special[id])
}

// Decode returns the text of ids as OpenAI's whisper does: timestamp tokens
// are left out; with skipSpecial, so are the other special tokens and, as
// transformers does, a leading <|startofprev|> prompt up to
// <|startoftranscript|>.
func (w *Whisper) Decode(ids []int, skipSpecial bool) string {
	if skipSpecial && len(ids) > 0 && ids[0] == w.sotPrev {
		i := 0
		for i < len(ids) && ids[i] != w.sot {
			i++
		}
		ids = ids[i:]
	}
	buf := make([]byte, 0, len(ids)*4)
	for _, id := range ids {
		if w.keep(id, skipSpecial) {
			buf = append(buf, w.idBytes[id]...)
		}
	}
	return w.finishDecode(buf)
}

// DecodeStrict is Decode that returns an ErrInvalidID error for an id
// outside the vocabulary (timestamp ids count as valid).
func (w *Whisper) DecodeStrict(ids []int, skipSpecial bool) (string, error) {
	for i, id := range ids {
		if !w.validID(id) && !(id >= w.tsBegin && id < w.tsBegin+1501) {
			return "", fmt.Errorf("%w: %d at position %d", ErrInvalidID, id, i)
		}
	}
	return w.Decode(ids, skipSpecial), nil
}

// timestampText is how a timestamp token reads: "<|1.08|>".
func (w *Whisper) timestampText(id int) string {
	if w.validID(id) && w.isAdded[id] {
		return w.tokens[id]
	}
	return fmt.Sprintf("<|%.2f|>", float64(id-w.tsBegin)*0.02)
}

// decodeAllBytes joins the bytes of every token, specials and timestamps
// included, as OpenAI's decode_with_timestamps does.
func (w *Whisper) decodeAllBytes(ids []int) []byte {
	buf := make([]byte, 0, len(ids)*4)
	for _, id := range ids {
		switch {
		case id >= w.tsBegin && id < w.tsBegin+1501:
			buf = append(buf, w.timestampText(id)...)
		case w.validID(id):
			buf = append(buf, w.idBytes[id]...)
		}
	}
	return buf
}

// DecodeWithTimestamps returns the text of ids with every token, special and
// timestamp tokens included ("<|0.00|> Hello<|1.08|>"), as OpenAI's
// decode_with_timestamps does.
func (w *Whisper) DecodeWithTimestamps(ids []int) string {
	return decodeUTF8Replace(w.decodeAllBytes(ids))
}

// NewStreamDecoder returns a decoder that turns ids into text one at a time,
// leaving out what Decode leaves out (a leading prompt is not stripped).
func (w *Whisper) NewStreamDecoder(skipSpecial bool) *StreamDecoder {
	return &StreamDecoder{bytesOf: func(id int) []byte {
		if !w.keep(id, skipSpecial) {
			return nil
		}
		return w.idBytes[id]
	}}
}

// NonSpeechTokens returns the tokens OpenAI's whisper suppresses so that the
// model does not produce speaker tags or non-speech annotations ("♪♪♪",
// "( SPEAKING FOREIGN LANGUAGE )", "[DAVID] Hey there,"), computed from the
// vocabulary as OpenAI's non_speech_tokens does: the tokens of those
// symbols with and without a leading space when a single token, the first
// token of the musical symbols, and " -" and " '" whose tokens start words.
// Sorted increasingly.
func (w *Whisper) NonSpeechTokens() []int {
	w.nonSpeechOnce.Do(func() {
		symbols := strings.Split(`"#()*+/:;<=>@[\]^_`+"`"+`{|}~「」『』`, "")
		symbols = append(symbols, strings.Fields(`<< >> <<< >>> -- --- -( -[ (' (" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪`)...)
		misc := strings.Split("♩♪♫♬♭♮♯", "")
		set := map[int]bool{}
		for _, s := range []string{" -", " '"} {
			if ids := w.Encode(s); len(ids) > 0 {
				set[ids[0]] = true
			}
		}
		isMisc := map[string]bool{}
		for _, m := range misc {
			isMisc[m] = true
		}
		for _, sym := range append(symbols, misc...) {
			for _, text := range []string{sym, " " + sym} {
				ids := w.Encode(text)
				if len(ids) == 1 || (isMisc[sym] && len(ids) > 0) {
					set[ids[0]] = true
				}
			}
		}
		out := make([]int, 0, len(set))
		for id := range set {
			out = append(out, id)
		}
		sort.Ints(out)
		*w.nonSpeech = out
	})
	return append([]int(nil), (*w.nonSpeech)...)
}

// pythonPunctuation is Python's string.punctuation.
const pythonPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// SplitToWordTokens splits ids into words as OpenAI's split_to_word_tokens
// does for the language set by WithLanguage: at every valid character
// boundary for zh, ja, th, lo, my and yue (languages written without
// spaces), else at spaces and punctuation. Tokens are decoded as
// decode_with_timestamps does, so special tokens are words of their own.
func (w *Whisper) SplitToWordTokens(ids []int) (words []string, wordTokens [][]int) {
	return w.SplitToWordTokensLang(ids, w.language)
}

// SplitToWordTokensLang is SplitToWordTokens for an explicit language code.
func (w *Whisper) SplitToWordTokensLang(ids []int, lang string) (words []string, wordTokens [][]int) {
	if code, ok := LanguageCode(lang); ok {
		lang = code
	}
	switch lang {
	case "zh", "ja", "th", "lo", "my", "yue":
		return w.splitOnUnicode(ids)
	}
	return w.splitOnSpaces(ids)
}

// splitOnUnicode is OpenAI's split_tokens_on_unicode: a word ends after a
// token whose bytes complete the characters decoded so far; a U+FFFD is
// accepted when the full decoding has one at that place too.
func (w *Whisper) splitOnUnicode(ids []int) (words []string, wordTokens [][]int) {
	full := []rune(w.DecodeWithTimestamps(ids))
	var cur []int
	offset := 0
	for _, id := range ids {
		cur = append(cur, id)
		decoded := w.DecodeWithTimestamps(cur)
		idx := strings.IndexRune(decoded, utf8.RuneError)
		ok := idx < 0
		if !ok {
			pos := offset + utf8.RuneCountInString(decoded[:idx])
			ok = pos < len(full) && full[pos] == utf8.RuneError
		}
		if ok {
			words = append(words, decoded)
			wordTokens = append(wordTokens, cur)
			cur = nil
			offset += utf8.RuneCountInString(decoded)
		}
	}
	return words, wordTokens
}

// splitOnSpaces is OpenAI's split_tokens_on_spaces.
func (w *Whisper) splitOnSpaces(ids []int) (words []string, wordTokens [][]int) {
	subwords, subTokens := w.splitOnUnicode(ids)
	for i, sub := range subwords {
		special := subTokens[i][0] >= w.eot
		withSpace := strings.HasPrefix(sub, " ")
		punct := strings.Contains(pythonPunctuation, pyStrip(sub))
		if special || withSpace || punct || len(words) == 0 {
			words = append(words, sub)
			wordTokens = append(wordTokens, append([]int(nil), subTokens[i]...))
		} else {
			words[len(words)-1] += sub
			wordTokens[len(wordTokens)-1] = append(wordTokens[len(wordTokens)-1], subTokens[i]...)
		}
	}
	return words, wordTokens
}
