package tokenizer

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LoadFromDir loads the tokenizer of a HuggingFace model directory, choosing
// it from tokenizer_config.json's tokenizer_class (WhisperTokenizer,
// CLIPTokenizer, BertTokenizer, GPT2Tokenizer, LlamaTokenizer and their Fast
// variants) or, without one, from the files present: tokenizer.model
// (SentencePiece, see LoadLlama), vocab.txt (WordPiece), vocab.json and
// merges.txt (Whisper when added_tokens.json has <|startoftranscript|>, CLIP
// when the merges use "</w>", OPT when tokenizer_config.json sets
// add_bos_token, GPT-2 style BPE otherwise), tokenizer.json, or OpenAI's
// multilingual.tiktoken / gpt2.tiktoken (Whisper). The result is a
// *Whisper, *CLIP, *WordPiece, *SentencePiece or *BPE (LoadOPT's for OPT).
func LoadFromDir(dir string, opts ...Option) (Tokenizer, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("tokenizer: %s: not a directory", dir)
	}
	cfg, err := readHFConfig(dir)
	if err != nil {
		return nil, err
	}
	has := func(name string) bool { return exists(filepath.Join(dir, name)) }
	switch strings.TrimSuffix(cfg.class, "Fast") {
	case "WhisperTokenizer":
		return LoadWhisper(dir, opts...)
	case "CLIPTokenizer":
		return LoadCLIP(dir, opts...)
	case "BertTokenizer", "DistilBertTokenizer", "BlipTokenizer":
		return LoadWordPiece(dir, opts...)
	case "GPT2Tokenizer":
		if isOPT(dir) {
			return LoadOPT(dir, opts...)
		}
		return LoadBPE(dir, opts...)
	case "LlamaTokenizer", "CodeLlamaTokenizer":
		return LoadLlama(dir, opts...)
	}
	switch {
	case has("tokenizer.model"):
		return LoadLlama(dir, opts...)
	case has("vocab.txt"):
		return LoadWordPiece(dir, opts...)
	case has("vocab.json") && has("merges.txt"):
		if _, ok := cfg.added["<|startoftranscript|>"]; ok {
			return LoadWhisper(dir, opts...)
		}
		clip, err := mergesUseSuffix(filepath.Join(dir, "merges.txt"), "</w>")
		if err != nil {
			return nil, err
		}
		if clip {
			return LoadCLIP(dir, opts...)
		}
		if isOPT(dir) {
			return LoadOPT(dir, opts...)
		}
		return LoadBPE(dir, opts...)
	case has("tokenizer.json"):
		t, err := LoadTokenizerJSON(filepath.Join(dir, "tokenizer.json"), opts...)
		if err != nil {
			return nil, err
		}
		if b, ok := t.(*BPE); ok {
			if _, ok := b.index["<|startoftranscript|>"]; ok {
				return LoadWhisper(dir, opts...)
			}
			if b.model.suffix != "" {
				return LoadCLIP(dir, opts...)
			}
		}
		return t, nil
	case has("multilingual.tiktoken"):
		return LoadWhisperTiktoken(filepath.Join(dir, "multilingual.tiktoken"), 99, opts...)
	case has("gpt2.tiktoken"):
		return LoadWhisperTiktoken(filepath.Join(dir, "gpt2.tiktoken"), 99, opts...)
	}
	return nil, fmt.Errorf("tokenizer: %s: %w: no tokenizer files (vocab.txt, vocab.json+merges.txt, tokenizer.json or *.tiktoken)", dir, ErrFormat)
}

// mergesUseSuffix reports whether the first merges of a merges.txt use the
// end-of-word suffix.
func mergesUseSuffix(path, suffix string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("tokenizer: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 0; sc.Scan() && n < 2000; n++ {
		if strings.Contains(sc.Text(), suffix) {
			return true, nil
		}
	}
	return false, nil
}

// isOPT reports whether a GPT2Tokenizer directory is OPT's: its
// tokenizer_config.json sets add_bos_token, which GPT-2's does not.
func isOPT(dir string) bool {
	f, err := readTokenizerFlags(dir)
	return err == nil && boolOr(f.addBOS, false)
}

// onlyTokenizerJSON reports whether dir lacks the vocabulary file vocabName
// but has a tokenizer.json, which a directory loader then reads instead.
func onlyTokenizerJSON(dir, vocabName string) bool {
	return !exists(filepath.Join(dir, vocabName)) && exists(filepath.Join(dir, "tokenizer.json"))
}

// tokenizerJSONAs loads dir's tokenizer.json for the loader of a T: an
// ErrFormat error saying it is not a what model when it is not a T or ok
// (when not nil) refuses it.
func tokenizerJSONAs[T Tokenizer](dir, what string, opts []Option, ok func(T) bool) (T, error) {
	var zero T
	path := filepath.Join(dir, "tokenizer.json")
	tk, err := LoadTokenizerJSON(path, opts...)
	if err != nil {
		return zero, err
	}
	t, isT := tk.(T)
	if !isT || (ok != nil && !ok(t)) {
		return zero, fmt.Errorf("tokenizer: %s: %w: not a %s model", path, ErrFormat, what)
	}
	return t, nil
}
