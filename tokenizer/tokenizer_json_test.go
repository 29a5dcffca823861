package tokenizer

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
)

// writeTokenizerJSON writes a tokenizer.json, in the layout the tokenizers
// library saves, into a fresh directory.
func writeTokenizerJSON(t *testing.T, v map[string]any) string {
	t.Helper()
	dir := t.TempDir()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "tokenizer.json", string(b))
	return dir
}

func mergesList(t *testing.T, path string, limit int) []string {
	t.Helper()
	ms, err := readMerges(path, limit)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m[0] + " " + m[1]
	}
	return out
}

func vocabJSON(t *testing.T, path string) map[string]int {
	t.Helper()
	m, err := readVocabJSON(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func added(id int, content string, special, normalized bool) map[string]any {
	return map[string]any{"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
		"normalized": normalized, "special": special}
}

// sampleTexts are the golden texts and the fixture texts.
func sampleTexts(t *testing.T) []string {
	g := golden(t)
	var out []string
	for _, c := range g.Cases {
		out = append(out, c.Text)
	}
	return append(out, "a photo of a cat", "A PHOTO of a dog, sitting on the grass!!", "café crème at 9:30am",
		"[CLS] literal brackets [SEP]", "<|endoftext|> and <|startoftext|>", "  leading spaces  ")
}

// compareTokenizers checks that two tokenizers encode and decode alike.
func compareTokenizers(t *testing.T, a, b interface {
	EncodeWith(string, EncodeOptions) []int
	Decode([]int, bool) string
}, texts []string) {
	t.Helper()
	for _, s := range texts {
		for _, opt := range []EncodeOptions{{}, {AllSpecial: true}} {
			ia, ib := a.EncodeWith(s, opt), b.EncodeWith(s, opt)
			if !slices.Equal(ia, ib) {
				t.Fatalf("%q (%+v):\n tokenizer.json %v\n files          %v", s, opt, ia, ib)
			}
			for _, skip := range []bool{false, true} {
				if da, db := a.Decode(ia, skip), b.Decode(ia, skip); da != db {
					t.Fatalf("decode %v (skip %v): %q vs %q", ia, skip, da, db)
				}
			}
		}
	}
}

func TestTokenizerJSON_GPT2(t *testing.T) {
	vdir := testdata.Path(t, "vocab", "gpt2")
	dir := writeTokenizerJSON(t, map[string]any{
		"version":        "1.0",
		"truncation":     nil,
		"padding":        nil,
		"added_tokens":   []any{added(50256, "<|endoftext|>", true, true)},
		"normalizer":     nil,
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"post_processor": map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": "",
			"end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false,
			"vocab": vocabJSON(t, filepath.Join(vdir, "vocab.json")), "merges": mergesList(t, filepath.Join(vdir, "merges.txt"), 0)},
	})
	j := loadAs[*BPE](t, LoadFromDir, dir)
	files := mustLoad(t, LoadBPE, vdir)
	compareTokenizers(t, j, files, sampleTexts(t))
}

func TestTokenizerJSON_Bert(t *testing.T) {
	vdir := testdata.Path(t, "vocab", "bert-base-uncased")
	mv, lines, err := readVocabTxt(filepath.Join(vdir, "vocab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var addedTokens []any
	for _, s := range []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"} {
		addedTokens = append(addedTokens, added(mv[s], s, true, false))
	}
	_ = lines
	dir := writeTokenizerJSON(t, map[string]any{
		"added_tokens": addedTokens,
		"normalizer": map[string]any{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
			"strip_accents": nil, "lowercase": true},
		"pre_tokenizer": map[string]any{"type": "BertPreTokenizer"},
		"post_processor": map[string]any{
			"type": "TemplateProcessing",
			"single": []any{
				map[string]any{"SpecialToken": map[string]any{"id": "[CLS]", "type_id": 0}},
				map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
				map[string]any{"SpecialToken": map[string]any{"id": "[SEP]", "type_id": 0}},
			},
			"special_tokens": map[string]any{
				"[CLS]": map[string]any{"id": "[CLS]", "ids": []int{mv["[CLS]"]}, "tokens": []string{"[CLS]"}},
				"[SEP]": map[string]any{"id": "[SEP]", "ids": []int{mv["[SEP]"]}, "tokens": []string{"[SEP]"}},
			},
		},
		"decoder": map[string]any{"type": "WordPiece", "prefix": "##", "cleanup": true},
		"model": map[string]any{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
			"max_input_chars_per_word": 100, "vocab": mv},
	})
	j := loadAs[*WordPiece](t, LoadFromDir, dir)
	files := mustLoad(t, LoadWordPiece, vdir)
	compareTokenizers(t, j, files, sampleTexts(t))
	var cases struct {
		Bert []struct {
			Text string `json:"text"`
			IDs  []int  `json:"ids"`
		} `json:"bert"`
	}
	testdata.Cases(t, "tokenizers", &cases)
	for _, c := range cases.Bert {
		eqIDs(t, c.Text, j.EncodeWith(c.Text, EncodeOptions{AllSpecial: true}), c.IDs)
	}
}

func TestTokenizerJSON_CLIP(t *testing.T) {
	vdir := testdata.Path(t, "vocab", "clip")
	mv := vocabJSON(t, filepath.Join(vdir, "vocab.json"))
	dir := writeTokenizerJSON(t, map[string]any{
		"added_tokens": []any{added(49406, "<|startoftext|>", true, true), added(49407, "<|endoftext|>", true, false)},
		"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "NFC"},
			map[string]any{"type": "Replace", "pattern": map[string]any{"Regex": `\s+`}, "content": " "},
			map[string]any{"type": "Lowercase"},
		}},
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": clipPattern}, "behavior": "Removed", "invert": true},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
		}},
		"post_processor": map[string]any{"type": "RobertaProcessing", "sep": []any{"<|endoftext|>", 49407},
			"cls": []any{"<|startoftext|>", 49406}, "trim_offsets": false, "add_prefix_space": false},
		"decoder": map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": "<|endoftext|>", "continuing_subword_prefix": "",
			"end_of_word_suffix": "</w>", "fuse_unk": false, "vocab": mv,
			"merges": mergesList(t, filepath.Join(vdir, "merges.txt"), clipMergeLimit)},
	})
	j := loadAs[*CLIP](t, LoadFromDir, dir)
	files := mustLoad(t, LoadCLIP, vdir)
	var texts []string
	for _, s := range sampleTexts(t) {
		// The special tokens are recognised identically only when allowed:
		// the tokenizer.json regex is not told which ones are.
		if !strings.Contains(strings.ToLower(s), "<|") {
			texts = append(texts, s)
		}
	}
	compareTokenizers(t, j, files, texts)
	if j.MaxLen() != 77 || j.StartID() != 49406 || j.EndID() != 49407 {
		t.Errorf("MaxLen %d, StartID %d, EndID %d", j.MaxLen(), j.StartID(), j.EndID())
	}
}

func TestTokenizerJSON_Whisper(t *testing.T) {
	vdir := testdata.Path(t, "vocab", "whisper")
	addedMap := vocabJSON(t, filepath.Join(vdir, "added_tokens.json"))
	var addedTokens []any
	for tok, id := range addedMap {
		addedTokens = append(addedTokens, added(id, tok, !strings.Contains(tok, "."), false))
	}
	addedTokens = append(addedTokens, added(50257, "<|endoftext|>", true, false))
	dir := writeTokenizerJSON(t, map[string]any{
		"added_tokens":  addedTokens,
		"pre_tokenizer": map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true},
		"decoder":       map[string]any{"type": "ByteLevel"},
		"model": map[string]any{"type": "BPE", "vocab": vocabJSON(t, filepath.Join(vdir, "vocab.json")),
			"merges": mergesList(t, filepath.Join(vdir, "merges.txt"), 0)},
	})
	j := loadAs[*Whisper](t, LoadFromDir, dir)
	files := loadSharedWhisper(t)
	compareTokenizers(t, j, files, sampleTexts(t))
	if j.SOT() != files.SOT() || j.TimestampBegin() != files.TimestampBegin() || j.VocabSize() != files.VocabSize() {
		t.Errorf("specials differ: %d %d %d", j.SOT(), j.TimestampBegin(), j.VocabSize())
	}
}

// TestTokenizerJSON_Components checks pre-tokenizer behaviours and
// normalizers on a small character-level model.
func TestTokenizerJSON_Components(t *testing.T) {
	vocab := map[string]int{"[UNK]": 0}
	for i, r := range "abcdefghijklmnopqrstuvwxyz0123456789-.,!' " {
		vocab[string(r)] = i + 1
	}
	vocab["ab"] = len(vocab)
	for _, c := range []struct {
		pre  any
		norm any
		text string
		want []string
	}{
		{map[string]any{"type": "Split", "pattern": map[string]any{"String": "-"}, "behavior": "Removed"}, nil, "a-b--c", []string{"a", "b", "c"}},
		{map[string]any{"type": "Split", "pattern": map[string]any{"String": "-"}, "behavior": "Isolated"}, nil, "a-b", []string{"a", "-", "b"}},
		{map[string]any{"type": "Split", "pattern": map[string]any{"String": "-"}, "behavior": "MergedWithPrevious"}, nil, "ab-c--d", []string{"ab", "-", "c", "-", "-", "d"}},
		{map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `\d+`}, "behavior": "MergedWithNext"}, nil, "a12b3", []string{"a", "1", "2", "b", "3"}},
		{map[string]any{"type": "Whitespace"}, nil, "ab, c!", []string{"ab", ",", "c", "!"}},
		{map[string]any{"type": "Digits", "individual_digits": true}, nil, "a12", []string{"a", "1", "2"}},
		{map[string]any{"type": "WhitespaceSplit"}, map[string]any{"type": "Lowercase"}, "AB  C", []string{"ab", "c"}},
		{map[string]any{"type": "Punctuation"}, map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "NFD"}, map[string]any{"type": "StripAccents"}}}, "ábc.", []string{"ab", "c", "."}},
	} {
		dir := writeTokenizerJSON(t, map[string]any{
			"normalizer": c.norm, "pre_tokenizer": c.pre,
			"model": map[string]any{"type": "BPE", "unk_token": "[UNK]", "vocab": vocab, "merges": []any{[]string{"a", "b"}}},
		})
		tk, err := LoadTokenizerJSON(filepath.Join(dir, "tokenizer.json"))
		if err != nil {
			t.Fatalf("%v: %v", c.pre, err)
		}
		var got []string
		for _, id := range tk.Encode(c.text) {
			got = append(got, tk.Token(id))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%v on %q: %q, want %q", c.pre, c.text, got, c.want)
		}
	}
}
