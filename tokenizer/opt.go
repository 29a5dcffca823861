package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
)

// LoadOPT loads the tokenizer of an OPT checkpoint (facebook/opt-*, the
// language model of BLIP-2): GPT-2's byte-level BPE with RoBERTa-style ids
// (<s> 0, <pad> 1, </s> 2, <unk> 3) from vocab.json and merges.txt, as
// transformers 4.30's GPT2Tokenizer runs it for OPT:
//
//   - add_bos_token in tokenizer_config.json puts the bos token (</s>,
//     id 2, for OPT) in front of every sequence;
//   - special tokens that special_tokens_map.json gives as plain strings,
//     and the tokens of added_tokens.json, swallow the whitespace on both
//     sides when matched in the text (EncodeOptions.AllSpecial), so
//     "</s> literal <pad>" encodes "literal" without its leading space.
//
// Decode skips </s> and <pad> with skipSpecial and does transformers'
// clean-up of tokenization spaces unless tokenizer_config.json or
// WithCleanUp turns it off.
func LoadOPT(dir string, opts ...Option) (*BPE, error) {
	t, err := loadBPEDir(dir, gpt2Defaults, opts)
	if err != nil {
		return nil, err
	}
	// loadBPEDir has read the config already, so only the flags can fail here.
	cfg, flags, err := readDirSettings(dir)
	if err != nil {
		return nil, err
	}
	if boolOr(flags.addBOS, false) {
		bos := cfg.roleID(t.vocab, "bos_token")
		if bos < 0 {
			return nil, fmt.Errorf("tokenizer: %s: %w: add_bos_token is set but there is no bos_token", dir, ErrFormat)
		}
		t.prefixIDs = []int{bos}
	}
	strip, err := slowStripTokens(dir, cfg)
	if err != nil {
		return nil, err
	}
	for _, a := range t.added {
		if strip[a.content] {
			a.lstrip, a.rstrip = true, true
		}
	}
	t.vocab.finish()
	return t, nil
}

// slowStripTokens returns the tokens that transformers 4.30's slow
// tokenizers strip whitespace around by default: those that
// special_tokens_map.json declares as plain strings (not AddedToken
// objects), and those of added_tokens.json that are not special.
func slowStripTokens(dir string, cfg *hfConfig) (map[string]bool, error) {
	strip := map[string]bool{}
	var stm map[string]json.RawMessage
	path := filepath.Join(dir, "special_tokens_map.json")
	if _, err := readOptionalJSON(path, &stm); err != nil {
		return nil, err
	}
	for _, role := range specialRoles {
		var s string
		if raw, ok := stm[role]; ok && bytes.HasPrefix(bytes.TrimSpace(raw), []byte(`"`)) && json.Unmarshal(raw, &s) == nil && s != "" {
			strip[s] = true
		}
	}
	if raw, ok := stm["additional_special_tokens"]; ok {
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) == nil {
			for _, r := range list {
				var s string
				if json.Unmarshal(r, &s) == nil && s != "" {
					strip[s] = true
				}
			}
		}
	}
	special := map[string]bool{}
	for _, s := range cfg.specials {
		special[s.content] = true
	}
	for tok := range cfg.added {
		if !special[tok] {
			strip[tok] = true
		}
	}
	return strip, nil
}
