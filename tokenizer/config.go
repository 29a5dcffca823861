package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// maxFileBytes bounds the size of a tokenizer file read into memory.
const maxFileBytes = 512 << 20

// readFile reads a tokenizer file, wrapping errors with its path.
func readFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("tokenizer: %s: %w: is a directory", path, ErrFormat)
	}
	if st.Size() > maxFileBytes {
		return nil, fmt.Errorf("tokenizer: %s: %w: %d bytes is too large", path, ErrFormat, st.Size())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return b, nil
}

// readJSON decodes a JSON file into v.
func readJSON(path string, v any) error {
	b, err := readFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("tokenizer: %s: %w: %v", path, ErrFormat, err)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// readOptionalJSON is readJSON for a file that may be absent.
func readOptionalJSON(path string, v any) (bool, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err := readJSON(path, v); err != nil {
		return false, err
	}
	return true, nil
}

// readVocabJSON reads a {"token": id} file (vocab.json, added_tokens.json).
func readVocabJSON(path string) (map[string]int, error) {
	var raw map[string]json.Number
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&raw); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w: %v", path, ErrFormat, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("tokenizer: %s: %w: expected an object of token ids", path, ErrFormat)
	}
	out := make(map[string]int, len(raw))
	for tok, n := range raw {
		id, err := strconv.Atoi(n.String())
		if err != nil || id < 0 || id >= maxTokenID {
			return nil, fmt.Errorf("tokenizer: %s: %w: token %q has id %s", path, ErrFormat, tok, n)
		}
		out[tok] = id
	}
	return out, nil
}

// specialDecl is one special token of a tokenizer's configuration.
type specialDecl struct {
	addedToken
	role string // "bos_token", ..., "additional_special_tokens"
}

// hfConfig is what the HuggingFace side files of a tokenizer say.
type hfConfig struct {
	class          string
	specials       []specialDecl     // in transformers' attribute order
	roles          map[string]string // role -> token text
	added          map[string]int    // added_tokens.json
	addedDecoder   []addedToken      // tokenizer_config.json added_tokens_decoder
	cleanup        *bool
	addPrefixSpace bool
	doLowerCase    *bool
	stripAccents   *bool
	chineseChars   *bool
	modelMaxLength int
}

var specialRoles = []string{"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}

// parseTokenValue reads a special token value: a string or an AddedToken
// object {"content": ..., "lstrip": ..., ...}.
func parseTokenValue(raw json.RawMessage) (addedToken, bool, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return addedToken{content: s, id: -1}, s != "", nil
	}
	var o struct {
		Content    *string `json:"content"`
		Lstrip     bool    `json:"lstrip"`
		Rstrip     bool    `json:"rstrip"`
		SingleWord bool    `json:"single_word"`
		Normalized *bool   `json:"normalized"`
		Special    *bool   `json:"special"`
	}
	if string(bytes.TrimSpace(raw)) == "null" {
		return addedToken{}, false, nil
	}
	if err := json.Unmarshal(raw, &o); err != nil || o.Content == nil {
		return addedToken{}, false, fmt.Errorf("expected a token string or {\"content\": ...}, got %.60s", raw)
	}
	return addedToken{content: *o.Content, id: -1, lstrip: o.Lstrip, rstrip: o.Rstrip, singleWord: o.SingleWord}, *o.Content != "", nil
}

// readHFConfig reads added_tokens.json, special_tokens_map.json and
// tokenizer_config.json from dir; each is optional.
func readHFConfig(dir string) (*hfConfig, error) {
	c := &hfConfig{roles: map[string]string{}}
	addedPath := filepath.Join(dir, "added_tokens.json")
	if exists(addedPath) {
		m, err := readVocabJSON(addedPath)
		if err != nil {
			return nil, err
		}
		c.added = m
	}
	seen := map[string]bool{}
	addSpecials := func(path string, m map[string]json.RawMessage) error {
		for _, role := range specialRoles {
			raw, ok := m[role]
			if !ok {
				continue
			}
			t, ok, err := parseTokenValue(raw)
			if err != nil {
				return fmt.Errorf("tokenizer: %s: %w: %s: %v", path, ErrFormat, role, err)
			}
			if !ok {
				continue
			}
			t.special = true
			c.roles[role] = t.content
			if !seen[t.content] {
				seen[t.content] = true
				c.specials = append(c.specials, specialDecl{t, role})
			}
		}
		if raw, ok := m["additional_special_tokens"]; ok && string(bytes.TrimSpace(raw)) != "null" {
			var list []json.RawMessage
			if err := json.Unmarshal(raw, &list); err != nil {
				return fmt.Errorf("tokenizer: %s: %w: additional_special_tokens: %v", path, ErrFormat, err)
			}
			for _, r := range list {
				t, ok, err := parseTokenValue(r)
				if err != nil {
					return fmt.Errorf("tokenizer: %s: %w: additional_special_tokens: %v", path, ErrFormat, err)
				}
				if ok && !seen[t.content] {
					seen[t.content] = true
					t.special = true
					c.specials = append(c.specials, specialDecl{t, "additional_special_tokens"})
				}
			}
		}
		return nil
	}
	var stm map[string]json.RawMessage
	stmPath := filepath.Join(dir, "special_tokens_map.json")
	if ok, err := readOptionalJSON(stmPath, &stm); err != nil {
		return nil, err
	} else if ok {
		if err := addSpecials(stmPath, stm); err != nil {
			return nil, err
		}
	}
	var tc map[string]json.RawMessage
	tcPath := filepath.Join(dir, "tokenizer_config.json")
	if ok, err := readOptionalJSON(tcPath, &tc); err != nil {
		return nil, err
	} else if ok {
		if err := addSpecials(tcPath, tc); err != nil {
			return nil, err
		}
		if err := c.parseTokenizerConfig(tcPath, tc); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *hfConfig) parseTokenizerConfig(path string, tc map[string]json.RawMessage) error {
	bad := func(key string, err error) error {
		return fmt.Errorf("tokenizer: %s: %w: %s: %v", path, ErrFormat, key, err)
	}
	optBool := func(key string) (*bool, error) {
		raw, ok := tc[key]
		if !ok || string(bytes.TrimSpace(raw)) == "null" {
			return nil, nil
		}
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, bad(key, err)
		}
		return &b, nil
	}
	var err error
	if raw, ok := tc["tokenizer_class"]; ok {
		if err := json.Unmarshal(raw, &c.class); err != nil {
			return bad("tokenizer_class", err)
		}
	}
	if c.cleanup, err = optBool("clean_up_tokenization_spaces"); err != nil {
		return err
	}
	if c.doLowerCase, err = optBool("do_lower_case"); err != nil {
		return err
	}
	if c.stripAccents, err = optBool("strip_accents"); err != nil {
		return err
	}
	if c.chineseChars, err = optBool("tokenize_chinese_chars"); err != nil {
		return err
	}
	aps, err := optBool("add_prefix_space")
	if err != nil {
		return err
	}
	c.addPrefixSpace = aps != nil && *aps
	if raw, ok := tc["model_max_length"]; ok && string(bytes.TrimSpace(raw)) != "null" {
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil {
			return bad("model_max_length", err)
		}
		if f > 0 && f < math.MaxInt32 {
			c.modelMaxLength = int(f)
		}
	}
	if raw, ok := tc["added_tokens_decoder"]; ok && string(bytes.TrimSpace(raw)) != "null" {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return bad("added_tokens_decoder", err)
		}
		for key, r := range m {
			id, err := strconv.Atoi(key)
			if err != nil || id < 0 || id >= maxTokenID {
				return bad("added_tokens_decoder", fmt.Errorf("bad id %q", key))
			}
			var o struct {
				Special bool `json:"special"`
			}
			t, ok, err := parseTokenValue(r)
			if err != nil {
				return bad("added_tokens_decoder", err)
			}
			if !ok {
				continue
			}
			_ = json.Unmarshal(r, &o)
			t.id = id
			t.special = o.Special
			c.addedDecoder = append(c.addedDecoder, t)
		}
		sort.Slice(c.addedDecoder, func(i, j int) bool { return c.addedDecoder[i].id < c.addedDecoder[j].id })
	}
	return nil
}

// applyTo registers the configuration's added and special tokens in v, as
// transformers does when it loads a slow tokenizer: added_tokens.json and
// added_tokens_decoder give ids; special tokens already in the vocabulary
// are marked special; the others get the next free ids. defaults are the
// tokenizer class's default special tokens, used for roles the files leave
// unset, when they exist in the vocabulary.
func (c *hfConfig) applyTo(v *vocab, defaults map[string]string) {
	type kv struct {
		tok string
		id  int
	}
	var added []kv
	for tok, id := range c.added {
		added = append(added, kv{tok, id})
	}
	sort.Slice(added, func(i, j int) bool { return added[i].id < added[j].id })
	isSpecial := map[string]addedToken{}
	for _, s := range c.specials {
		isSpecial[s.content] = s.addedToken
	}
	for _, a := range added {
		t := addedToken{content: a.tok, id: a.id}
		if s, ok := isSpecial[a.tok]; ok {
			t.special, t.lstrip, t.rstrip, t.singleWord = true, s.lstrip, s.rstrip, s.singleWord
		}
		v.addToken(t, false)
	}
	for _, t := range c.addedDecoder {
		if s, ok := isSpecial[t.content]; ok {
			t.special = true
			t.lstrip, t.rstrip = t.lstrip || s.lstrip, t.rstrip || s.rstrip
		}
		_, inVocab := v.index[t.content]
		v.addToken(t, inVocab && v.index[t.content] == t.id && !v.isAdded[t.id])
	}
	for _, role := range specialRoles {
		if _, ok := c.roles[role]; ok {
			continue
		}
		if d, ok := defaults[role]; ok {
			if _, inVocab := v.index[d]; inVocab {
				c.roles[role] = d
				if _, dup := isSpecial[d]; !dup {
					isSpecial[d] = addedToken{content: d, special: true}
					c.specials = append(c.specials, specialDecl{addedToken{content: d, id: -1, special: true}, role})
				}
			}
		}
	}
	for _, s := range c.specials {
		t := s.addedToken
		id, inVocab := v.index[t.content]
		if inVocab {
			t.id = id
		} else {
			t.id = -1
		}
		v.addToken(t, inVocab && !v.isAdded[id])
	}
	v.finish()
}

// roleID returns the id of the token with the given role, or -1.
func (c *hfConfig) roleID(v *vocab, role string) int {
	if t, ok := c.roles[role]; ok {
		if id, ok := v.index[t]; ok {
			return id
		}
	}
	return -1
}

// cleanupSetting resolves clean_up_tokenization_spaces: an explicit option,
// else the tokenizer_config.json value, else def.
func cleanupSetting(o options, c *hfConfig, def bool) bool {
	if o.cleanup != nil {
		return *o.cleanup
	}
	if c != nil && c.cleanup != nil {
		return *c.cleanup
	}
	return def
}
