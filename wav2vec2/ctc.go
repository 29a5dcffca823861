package wav2vec2

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/goformer/goformer/nn"
)

// ErrTokenizer marks a missing or malformed vocab.json or tokenizer config.
var ErrTokenizer = errors.New("wav2vec2: invalid tokenizer files")

// CTCTokenizer turns CTC frame ids into text as transformers'
// Wav2Vec2CTCTokenizer.decode does with its defaults: consecutive repeats
// are collapsed, the blank (pad) token is dropped, the word delimiter ("|")
// becomes a space, the result is stripped, lowercased when do_lower_case is
// set, and tokenization spaces are cleaned up. Other special tokens ("<s>",
// "</s>", "<unk>") are kept, as the speech-recognition pipeline keeps them.
// A CTCTokenizer is immutable and safe for concurrent use.
type CTCTokenizer struct {
	byID         map[int]string
	pad, unk     string
	delim        string
	replaceDelim string
	lower        bool
	cleanUp      bool
}

// TokenizerConfig holds the Wav2Vec2CTCTokenizer settings read from
// tokenizer_config.json and special_tokens_map.json. DefaultTokenizerConfig
// gives transformers' defaults.
type TokenizerConfig struct {
	PadToken                  string
	UnkToken                  string
	WordDelimiterToken        string
	ReplaceWordDelimiterChar  string
	DoLowerCase               bool
	CleanUpTokenizationSpaces bool
}

// DefaultTokenizerConfig returns Wav2Vec2CTCTokenizer's defaults.
func DefaultTokenizerConfig() TokenizerConfig {
	return TokenizerConfig{
		PadToken: "<pad>", UnkToken: "<unk>", WordDelimiterToken: "|",
		ReplaceWordDelimiterChar: " ", CleanUpTokenizationSpaces: true,
	}
}

// NewCTCTokenizer builds a tokenizer from a vocabulary (token → id, as in
// vocab.json plus added_tokens.json).
func NewCTCTokenizer(vocab map[string]int, cfg TokenizerConfig) (*CTCTokenizer, error) {
	if len(vocab) == 0 {
		return nil, fmt.Errorf("%w: empty vocabulary", ErrTokenizer)
	}
	t := &CTCTokenizer{
		byID: make(map[int]string, len(vocab)),
		pad:  cfg.PadToken, unk: cfg.UnkToken, delim: cfg.WordDelimiterToken,
		replaceDelim: cfg.ReplaceWordDelimiterChar, lower: cfg.DoLowerCase, cleanUp: cfg.CleanUpTokenizationSpaces,
	}
	for tok, id := range vocab {
		// transformers builds its decoder by inverting the dict, so with
		// duplicate ids the later entry wins; JSON order is lost here, so
		// keep the lexically larger token for determinism.
		if old, ok := t.byID[id]; !ok || tok > old {
			t.byID[id] = tok
		}
	}
	return t, nil
}

// tokenField decodes a special-token entry: a string or an AddedToken
// object {"content": …}.
func tokenField(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var obj struct {
		Content string `json:"content"`
	}
	if json.Unmarshal(raw, &obj) == nil && obj.Content != "" {
		return obj.Content, true
	}
	return "", false
}

// LoadCTCTokenizer reads vocab.json and, when present, added_tokens.json,
// tokenizer_config.json and special_tokens_map.json from a model directory.
func LoadCTCTokenizer(dir string) (*CTCTokenizer, error) {
	vocabPath := filepath.Join(dir, "vocab.json")
	raw, err := os.ReadFile(vocabPath)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenizer, err)
	}
	var generic map[string]json.RawMessage
	if err := json.Unmarshal(raw, &generic); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrTokenizer, vocabPath, err)
	}
	vocab := make(map[string]int, len(generic))
	for tok, v := range generic {
		var id int
		if err := json.Unmarshal(v, &id); err != nil {
			return nil, fmt.Errorf("%w: %s: entry %q is not an integer id (multi-language vocabularies with target_lang are not supported)", ErrTokenizer, vocabPath, tok)
		}
		vocab[tok] = id
	}
	addedPath := filepath.Join(dir, "added_tokens.json")
	if raw, err := os.ReadFile(addedPath); err == nil {
		var added map[string]int
		if err := json.Unmarshal(raw, &added); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrTokenizer, addedPath, err)
		}
		for tok, id := range added {
			vocab[tok] = id
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %w", ErrTokenizer, err)
	}

	cfg := DefaultTokenizerConfig()
	for _, name := range []string{"tokenizer_config.json", "special_tokens_map.json"} {
		path := filepath.Join(dir, name)
		raw, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTokenizer, err)
		}
		var c struct {
			Pad        json.RawMessage `json:"pad_token"`
			Unk        json.RawMessage `json:"unk_token"`
			Delim      json.RawMessage `json:"word_delimiter_token"`
			Replace    *string         `json:"replace_word_delimiter_char"`
			DoLower    *bool           `json:"do_lower_case"`
			CleanUp    *bool           `json:"clean_up_tokenization_spaces"`
			TokClass   string          `json:"tokenizer_class"`
			TargetLang *string         `json:"target_lang"`
		}
		if err := nn.DecodeJSON(path, raw, &c); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTokenizer, err)
		}
		if s, ok := tokenField(c.Pad); ok {
			cfg.PadToken = s
		}
		if s, ok := tokenField(c.Unk); ok {
			cfg.UnkToken = s
		}
		if s, ok := tokenField(c.Delim); ok {
			cfg.WordDelimiterToken = s
		}
		nn.SetIf(&cfg.ReplaceWordDelimiterChar, c.Replace)
		nn.SetIf(&cfg.DoLowerCase, c.DoLower)
		nn.SetIf(&cfg.CleanUpTokenizationSpaces, c.CleanUp)
		if c.TokClass != "" && c.TokClass != "Wav2Vec2CTCTokenizer" {
			return nil, fmt.Errorf("%w: %s: tokenizer_class %q (want Wav2Vec2CTCTokenizer)", ErrTokenizer, path, c.TokClass)
		}
	}
	t, err := NewCTCTokenizer(vocab, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", vocabPath, err)
	}
	return t, nil
}

// Token returns the token of an id (the unknown token for an id outside
// the vocabulary, as transformers does).
func (t *CTCTokenizer) Token(id int) string {
	if s, ok := t.byID[id]; ok {
		return s
	}
	return t.unk
}

// charSpan is a decoded character (token) with its frame span [start, end).
type charSpan struct {
	text       string
	start, end int
}

// spans groups frame ids into non-blank tokens with their frame spans,
// the delimiter already replaced.
func (t *CTCTokenizer) spans(ids []int) []charSpan {
	var out []charSpan
	for i := 0; i < len(ids); {
		tok := t.Token(ids[i])
		j := i + 1
		for j < len(ids) && t.Token(ids[j]) == tok {
			j++
		}
		if tok != t.pad {
			if tok == t.delim {
				tok = t.replaceDelim
			}
			out = append(out, charSpan{tok, i, j})
		}
		i = j
	}
	return out
}

// Decode returns the text of per-frame CTC ids (the argmax of each frame's
// logits).
func (t *CTCTokenizer) Decode(ids []int) string {
	var b strings.Builder
	for _, s := range t.spans(ids) {
		b.WriteString(s.text)
	}
	text := strings.TrimSpace(b.String())
	if t.lower {
		text = strings.ToLower(text)
	}
	if t.cleanUp {
		text = cleanUpTokenization(text)
	}
	return text
}

// WordSpan is a word with its frame span [Start, End) in the logits.
type WordSpan struct {
	Text       string
	Start, End int
}

// Words returns the words of per-frame CTC ids with their frame spans, as
// transformers' decode(..., output_word_offsets=True) computes them.
func (t *CTCTokenizer) Words(ids []int) []WordSpan {
	var words []WordSpan
	inWord := false
	var cur WordSpan
	for _, c := range t.spans(ids) {
		space := c.text == t.replaceDelim
		switch {
		case space && inWord:
			words = append(words, cur)
		case !space && inWord:
			cur.Text += c.text
			cur.End = c.end
		case !space && !inWord:
			cur = WordSpan{Text: c.text, Start: c.start, End: c.end}
		}
		inWord = !space
	}
	if inWord {
		words = append(words, cur)
	}
	return words
}

// cleanUpTokenization is transformers' clean_up_tokenization.
func cleanUpTokenization(s string) string {
	return chainReplace(s,
		" .", ".", " ?", "?", " !", "!", " ,", ",", " ' ", "'",
		" n't", "n't", " 'm", "'m", " 's", "'s", " 've", "'ve", " 're", "'re")
}

// chainReplace applies replacements one after another, as Python's chained
// str.replace calls do.
func chainReplace(s string, pairs ...string) string {
	for i := 0; i+1 < len(pairs); i += 2 {
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	return s
}

// english reports whether the vocabulary is the English alphabet (letters,
// apostrophe and the word delimiter, besides the special tokens), as in the
// LibriSpeech checkpoints: a language option of "en" then states what the
// model does anyway.
func (t *CTCTokenizer) english() bool {
	for _, tok := range t.byID {
		if tok == t.pad || tok == t.unk || tok == t.delim || strings.HasPrefix(tok, "<") {
			continue
		}
		for _, r := range tok {
			if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == '\'') {
				return false
			}
		}
	}
	return true
}
