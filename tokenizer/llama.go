package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
)

// llamaDefaults are LlamaTokenizer's default special tokens.
var llamaDefaults = map[string]string{"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}

// tokenizerFlags are the tokenizer_config.json keys that hfConfig does not
// keep; nil means absent.
type tokenizerFlags struct {
	legacy         *bool
	addPrefixSpace *bool
	addBOS         *bool
	addEOS         *bool
	paddingSide    string
}

// readTokenizerFlags reads legacy, add_prefix_space, add_bos_token,
// add_eos_token and padding_side from dir/tokenizer_config.json, when
// present.
// readDirSettings reads what a tokenizer directory says besides its model:
// the special and added tokens (readHFConfig), then tokenizer_config.json's
// flags.
func readDirSettings(dir string) (*hfConfig, tokenizerFlags, error) {
	cfg, err := readHFConfig(dir)
	if err != nil {
		return nil, tokenizerFlags{}, err
	}
	flags, err := readTokenizerFlags(dir)
	return cfg, flags, err
}

func readTokenizerFlags(dir string) (tokenizerFlags, error) {
	var f tokenizerFlags
	var tc map[string]json.RawMessage
	path := filepath.Join(dir, "tokenizer_config.json")
	ok, err := readOptionalJSON(path, &tc)
	if err != nil || !ok {
		return f, err
	}
	optBool := func(key string, dst **bool) error {
		raw, ok := tc[key]
		if !ok || string(bytes.TrimSpace(raw)) == "null" {
			return nil
		}
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return fmt.Errorf("tokenizer: %s: %w: %s: %v", path, ErrFormat, key, err)
		}
		*dst = &b
		return nil
	}
	for key, dst := range map[string]**bool{
		"legacy": &f.legacy, "add_prefix_space": &f.addPrefixSpace,
		"add_bos_token": &f.addBOS, "add_eos_token": &f.addEOS,
	} {
		if err := optBool(key, dst); err != nil {
			return f, err
		}
	}
	if raw, ok := tc["padding_side"]; ok {
		_ = json.Unmarshal(raw, &f.paddingSide)
	}
	return f, nil
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// LoadLlama loads a SentencePiece BPE tokenizer (Llama, Llama 2, Vicuna,
// LLaVA, Mistral, …) from a HuggingFace model directory, as transformers
// 4.40's AutoTokenizer does (LlamaTokenizerFast):
//
//   - with a tokenizer.json, and no add_prefix_space in
//     tokenizer_config.json, the tokenizer.json is used as it stands (its
//     normalizer, pre-tokenizer, merges and decoder; tokenizer_config.json's
//     legacy flag then has no effect, as in transformers);
//   - otherwise tokenizer.model is converted as transformers converts it:
//     legacy (default true) puts "▁" before every piece of text between
//     special tokens, legacy=false only before the text that starts the
//     input; add_prefix_space (default true) puts it there at all.
//
// Added and special tokens come from added_tokens.json,
// special_tokens_map.json and tokenizer_config.json (added_tokens_decoder);
// add_bos_token (default true) and add_eos_token (default false) frame
// every sequence; clean_up_tokenization_spaces defaults to false;
// padding_side "left" makes EncodeBatch pad on the left.
func LoadLlama(dir string, opts ...Option) (*SentencePiece, error) {
	o := buildOptions(opts)
	cfg, flags, err := readDirSettings(dir)
	if err != nil {
		return nil, err
	}
	jsonPath := filepath.Join(dir, "tokenizer.json")
	modelPath := filepath.Join(dir, "tokenizer.model")
	var t *SentencePiece
	switch {
	case exists(jsonPath) && (flags.addPrefixSpace == nil || !exists(modelPath)):
		t, err = loadSPJSON(jsonPath, cfg, o)
		if err != nil {
			return nil, err
		}
	case exists(modelPath):
		m, err := ReadSentencePieceModel(modelPath)
		if err != nil {
			return nil, err
		}
		v, err := spVocab(m, modelPath)
		if err != nil {
			return nil, err
		}
		cfg.applyTo(v, llamaDefaults)
		t, err = newSPFromModel(m, v, boolOr(flags.legacy, true), boolOr(flags.addPrefixSpace, true), o)
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("tokenizer: %s: %w: no tokenizer.model or tokenizer.json", dir, ErrFormat)
	}
	t.vocab.source = dir
	t.setRoles(func(role string) int { return cfg.roleID(t.vocab, role) })
	if err := t.setFraming(boolOr(flags.addBOS, true), boolOr(flags.addEOS, false)); err != nil {
		return nil, err
	}
	t.cleanup = cleanupSetting(o, cfg, false)
	t.padLeft = flags.paddingSide == "left"
	t.finishBytes()
	return t, nil
}

// tjSPModel is the part of a tokenizer.json BPE model that the
// SentencePiece path reads beyond tjModel.
type tjSPModel struct {
	FuseUnk bool `json:"fuse_unk"`
}

// tjMetaspace is a Metaspace pre-tokenizer or decoder.
type tjMetaspace struct {
	Type           string `json:"type"`
	Replacement    string `json:"replacement"`
	AddPrefixSpace *bool  `json:"add_prefix_space"`
	PrependScheme  string `json:"prepend_scheme"`
	Split          *bool  `json:"split"`
	// Strip decoder.
	Content *string `json:"content"`
	Start   int     `json:"start"`
	Stop    int     `json:"stop"`
	// Replace decoder.
	Pattern *tjPattern `json:"pattern"`
	// Sequence.
	Decoders []json.RawMessage `json:"decoders"`
}

func (b *tjBuild) metaspace(raw json.RawMessage) (*metaspace, error) {
	var c tjMetaspace
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, b.malformed("pre_tokenizer: %v", err)
	}
	m := &metaspace{repl: c.Replacement, scheme: prependAlways, split: c.Split == nil || *c.Split}
	if m.repl == "" {
		m.repl = spaceMark
	}
	if c.AddPrefixSpace != nil && !*c.AddPrefixSpace {
		m.scheme = prependNever
	}
	switch c.PrependScheme {
	case "":
	case "always":
		m.scheme = prependAlways
	case "first":
		m.scheme = prependFirst
	case "never":
		m.scheme = prependNever
	default:
		return nil, b.unsupported("Metaspace prepend_scheme %q", c.PrependScheme)
	}
	return m, nil
}

// spDecoders reads a decoder made of Replace, ByteFallback, Fuse, Strip
// and Metaspace steps.
func (b *tjBuild) spDecoders(raw json.RawMessage, out []spDecodeStep) ([]spDecodeStep, error) {
	if isNull(raw) {
		return out, nil
	}
	var c tjMetaspace
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, b.malformed("decoder: %v", err)
	}
	switch c.Type {
	case "Sequence":
		var err error
		for _, r := range c.Decoders {
			if out, err = b.spDecoders(r, out); err != nil {
				return nil, err
			}
		}
		return out, nil
	case "Replace":
		if c.Pattern == nil || c.Pattern.String == nil || *c.Pattern.String == "" || c.Content == nil {
			return nil, b.unsupported("Replace decoder other than a plain string")
		}
		return append(out, spDecodeStep{kind: decReplace, old: *c.Pattern.String, new: *c.Content}), nil
	case "ByteFallback":
		return append(out, spDecodeStep{kind: decByteFallback}), nil
	case "Fuse":
		return append(out, spDecodeStep{kind: decFuse}), nil
	case "Strip":
		content := " "
		if c.Content != nil {
			content = *c.Content
		}
		r := []rune(content)
		if len(r) != 1 || c.Start < 0 || c.Stop < 0 {
			return nil, b.malformed("Strip decoder: content must be one character")
		}
		return append(out, spDecodeStep{kind: decStrip, content: r[0], start: c.Start, stop: c.Stop}), nil
	case "Metaspace":
		m, err := b.metaspace(raw)
		if err != nil {
			return nil, err
		}
		return append(out, spDecodeStep{kind: decMetaspace, old: m.repl, first: m.scheme != prependNever}), nil
	}
	return nil, b.unsupported("decoder %q with a byte-fallback BPE model", c.Type)
}

// loadSPJSON loads a tokenizer.json whose model is a BPE with byte
// fallback (the SentencePiece family). The framing is left to the caller.
func loadSPJSON(path string, cfg *hfConfig, o options) (*SentencePiece, error) {
	f, b, m, err := readTokenizerJSONFile(path)
	if err != nil {
		return nil, err
	}
	var sm tjSPModel
	if err := json.Unmarshal(f.Model, &sm); err != nil {
		return nil, b.malformed("model: %v", err)
	}
	if m.Type != "BPE" && !(m.Type == "" && !isNull(m.Merges)) {
		return nil, b.unsupported("model type %q (a SentencePiece tokenizer.json must have a BPE model)", m.Type)
	}
	if m.IgnoreMerges {
		return nil, b.unsupported("BPE ignore_merges")
	}
	if m.Dropout != nil && *m.Dropout > 0 {
		return nil, b.unsupported("BPE dropout")
	}
	if (m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "") || (m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "") {
		return nil, b.unsupported("BPE subword prefix or suffix with byte fallback")
	}
	mv, err := b.modelVocab(m.Vocab)
	if err != nil {
		return nil, err
	}
	if len(mv) == 0 {
		return nil, b.malformed("model.vocab is empty")
	}
	merges, err := b.readMergesJSON(m.Merges)
	if err != nil {
		return nil, err
	}
	bm := newBPEModel()
	bm.single = true
	bm.setVocab(mv)
	for i, p := range merges {
		_, okl := mv[p[0]]
		_, okr := mv[p[1]]
		if _, ok := mv[p[0]+p[1]]; !okl || !okr || !ok {
			return nil, b.malformed("model.merges[%d]: %q %q or their merge is not in the vocabulary", i, p[0], p[1])
		}
		bm.addMerge(p[0], p[1], i)
	}
	v, err := b.vocabWith(mv, f.AddedTokens)
	if err != nil {
		return nil, err
	}
	cfg.applyTo(v, llamaDefaults)
	t := &SentencePiece{vocab: v, model: bm, byteFallback: m.ByteFallback, fuseUnk: sm.FuseUnk}
	unk := ""
	if m.UnkToken != nil {
		unk = *m.UnkToken
	}
	t.initModel(unk, o)
	if t.normalize, err = b.normalizer(f.Normalizer); err != nil {
		return nil, err
	}
	if !isNull(f.PreTokenizer) {
		var c tjComponent
		if err := json.Unmarshal(f.PreTokenizer, &c); err != nil {
			return nil, b.malformed("pre_tokenizer: %v", err)
		}
		if c.Type == "Metaspace" {
			if t.meta, err = b.metaspace(f.PreTokenizer); err != nil {
				return nil, err
			}
		} else if t.pretok, err = b.preTokenizer(f.PreTokenizer); err != nil {
			return nil, err
		}
		if b.byteLevel {
			return nil, b.unsupported("ByteLevel pre-tokenizer with a byte-fallback BPE model")
		}
	}
	if t.decoders, err = b.spDecoders(f.Decoder, nil); err != nil {
		return nil, err
	}
	if err := b.postProcessor(f.PostProcessor); err != nil {
		return nil, err
	}
	t.prefixIDs, t.suffixIDs = b.prefixIDs, b.suffixIDs
	t.legacy = t.meta == nil || t.meta.scheme != prependFirst
	return t, nil
}

// loadSPTokenizerJSON is LoadTokenizerJSON for a byte-fallback BPE model:
// the tokenizer.json's own post-processor frames sequences.
func loadSPTokenizerJSON(path string, o options) (*SentencePiece, error) {
	cfg, err := readHFConfig(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	t, err := loadSPJSON(path, cfg, o)
	if err != nil {
		return nil, err
	}
	t.setRoles(func(role string) int { return cfg.roleID(t.vocab, role) })
	t.cleanup = cleanupSetting(o, cfg, false)
	t.finishBytes()
	return t, nil
}

// isMetaspace reports whether a tokenizer.json pre-tokenizer is Metaspace.
func isMetaspace(raw json.RawMessage) bool {
	if isNull(raw) {
		return false
	}
	var c struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(raw, &c) == nil && c.Type == "Metaspace"
}
