package whisper

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/goformer/goformer/tokenizer"
)

// Tokenizer gives Whisper's special token ids and converts between text and
// ids through the tokenizer package. A model loaded without tokenizer files
// still has a Tokenizer with the special ids (laid out as OpenAI's
// tokenizer does for the vocabulary size) but no text conversion.
type Tokenizer struct {
	// EOT … TimestampBegin are the special token ids (NoSpeech is −1 when
	// the vocabulary has none).
	EOT, SOT, Translate, Transcribe, SOTLM, SOTPrev, NoSpeech, NoTimestamps, TimestampBegin int
	// Languages lists the language codes in token order; LanguageBase is
	// the id of the first (<|en|>).
	Languages    []string
	LanguageBase int
	// Multilingual is false for English-only checkpoints (*.en), whose
	// start sequence has no language or task token.
	Multilingual bool

	w *tokenizer.Whisper
}

// NewTokenizer wraps a tokenizer.Whisper.
func NewTokenizer(w *tokenizer.Whisper) *Tokenizer {
	t := &Tokenizer{
		EOT: w.EOT(), SOT: w.SOT(), Translate: w.Translate(), Transcribe: w.Transcribe(),
		SOTLM: w.StartOfLM(), SOTPrev: w.StartOfPrev(), NoSpeech: w.NoSpeech(),
		NoTimestamps: w.NoTimestamps(), TimestampBegin: w.TimestampBegin(),
		Languages: w.LanguageCodes(), Multilingual: w.IsMultilingual(), w: w,
	}
	if lt := w.LanguageTokens(); len(lt) > 0 {
		t.LanguageBase = lt[0]
	} else {
		t.LanguageBase = t.SOT + 1
	}
	return t
}

// LoadTokenizer loads the tokenizer files of a Hub model directory
// (vocab.json + merges.txt + added_tokens.json, or tokenizer.json), for
// attaching to an OpenAI checkpoint with WithTokenizer.
func LoadTokenizer(dir string) (*Tokenizer, error) {
	w, err := tokenizer.LoadWhisper(dir)
	if err != nil {
		return nil, fmt.Errorf("whisper: %w", err)
	}
	return NewTokenizer(w), nil
}

// loadTokenizer loads dir's tokenizer when it has tokenizer files, else
// returns special ids computed from the vocabulary size.
func loadTokenizer(dir string, vocabSize int) (*Tokenizer, error) {
	has := false
	for _, f := range []string{"vocab.json", "tokenizer.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			has = true
		}
	}
	if !has {
		return nil, nil
	}
	t, err := LoadTokenizer(dir)
	if err != nil {
		return nil, err
	}
	if t.TimestampBegin+1501 != vocabSize && t.TimestampBegin+1501 > vocabSize {
		return nil, fmt.Errorf("whisper: tokenizer in %s has timestamps up to %d beyond the model's vocabulary of %d", dir, t.TimestampBegin+1500, vocabSize)
	}
	return t, nil
}

// specialsFromVocabSize lays out Whisper's special tokens as OpenAI's
// tokenizer does for a vocabulary of n ids.
func specialsFromVocabSize(n int) *Tokenizer {
	t := &Tokenizer{Multilingual: n >= 51865}
	eot := 50256
	nLang := 99
	if t.Multilingual {
		eot = 50257
		nLang = n - 51765 - 1
	}
	all := tokenizer.WhisperLanguages()
	nLang = max(0, min(nLang, len(all)))
	t.EOT = eot
	t.SOT = eot + 1
	t.LanguageBase = t.SOT + 1
	t.Languages = all[:nLang]
	t.Translate = t.SOT + 1 + nLang
	t.Transcribe = t.Translate + 1
	t.SOTLM = t.Transcribe + 1
	t.SOTPrev = t.SOTLM + 1
	t.NoSpeech = t.SOTPrev + 1
	t.NoTimestamps = t.NoSpeech + 1
	t.TimestampBegin = t.NoTimestamps + 1
	return t
}

// LanguageToken returns the id of <|code|>; code may also be an English
// language name ("french").
func (t *Tokenizer) LanguageToken(code string) (int, error) {
	c, err := t.normalizeLanguage(code)
	if err != nil {
		return 0, err
	}
	for i, l := range t.Languages {
		if l == c {
			return t.LanguageBase + i, nil
		}
	}
	return 0, fmt.Errorf("whisper: unsupported language %q", code)
}

func (t *Tokenizer) normalizeLanguage(code string) (string, error) {
	c, ok := tokenizer.LanguageCode(strings.TrimSpace(code))
	if ok {
		for _, l := range t.Languages {
			if l == c {
				return c, nil
			}
		}
	}
	return "", fmt.Errorf("whisper: unsupported language %q", code)
}

// LanguageCode returns the code of a language token id, or "".
func (t *Tokenizer) LanguageCode(id int) string {
	i := id - t.LanguageBase
	if i < 0 || i >= len(t.Languages) {
		return ""
	}
	return t.Languages[i]
}

// IsTimestamp reports whether id is a timestamp token.
func (t *Tokenizer) IsTimestamp(id int) bool { return id >= t.TimestampBegin }

// HasText reports whether the tokenizer can convert text (it was loaded
// from tokenizer files).
func (t *Tokenizer) HasText() bool { return t != nil && t.w != nil }

// Encode tokenizes text without special tokens (OpenAI's
// tokenizer.encode).
func (t *Tokenizer) Encode(text string) ([]int, error) {
	if t.w == nil {
		return nil, ErrNoTokenizer
	}
	return t.w.Encode(text), nil
}

// Decode returns the text of ids, dropping timestamp tokens, without any
// clean-up (OpenAI's tokenizer.decode); other special tokens render as
// their text.
func (t *Tokenizer) Decode(ids []int) string {
	if t.w == nil {
		return ""
	}
	return t.w.Decode(ids, false)
}

// DecodeWithTimestamps is Decode with timestamp tokens rendered as
// "<|1.08|>".
func (t *Tokenizer) DecodeWithTimestamps(ids []int) string {
	if t.w == nil {
		return ""
	}
	return t.w.DecodeWithTimestamps(ids)
}

// SOTSequence returns <|startoftranscript|>, then (multilingual models)
// the language and task tokens, as OpenAI's tokenizer.sot_sequence.
func (t *Tokenizer) SOTSequence(language, task string) ([]int, error) {
	seq := []int{t.SOT}
	if !t.Multilingual {
		return seq, nil
	}
	if language != "" {
		l, err := t.LanguageToken(language)
		if err != nil {
			return nil, err
		}
		seq = append(seq, l)
	}
	switch task {
	case "", "transcribe":
		seq = append(seq, t.Transcribe)
	case "translate":
		seq = append(seq, t.Translate)
	default:
		return nil, fmt.Errorf("whisper: unknown task %q (want transcribe or translate)", task)
	}
	return seq, nil
}

// NonSpeechTokens returns the ids OpenAI suppresses with suppress_tokens
// "-1" (tokenizer.non_speech_tokens).
func (t *Tokenizer) NonSpeechTokens() ([]int, error) {
	if t.w == nil {
		return nil, ErrNoTokenizer
	}
	return t.w.NonSpeechTokens(), nil
}

// splitToWordTokens is OpenAI's split_to_word_tokens for a language.
func (t *Tokenizer) splitToWordTokens(tokens []int, language string) ([]string, [][]int) {
	if t.w == nil {
		return nil, nil
	}
	return t.w.SplitToWordTokensLang(tokens, language)
}
