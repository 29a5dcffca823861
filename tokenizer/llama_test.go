package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/goformer/goformer/internal/testdata"
)

// llamaGolden is testdata/llama_golden.json, made once by
// testdata/gen_llama_golden.py with Google's sentencepiece library.
type llamaGoldenFile struct {
	Cases []struct {
		Text             string `json:"text"`
		LlavaLegacyFalse []int  `json:"llava_legacy_false"`
		// LlavaFastFalse is what a tokenizer.json with a Metaspace
		// pre-tokenizer gives (LlamaTokenizerFast), which differs from the
		// slow tokenizer's legacy=false ids for text that starts with a
		// space.
		LlavaFastFalse   []int `json:"llava_legacy_false_fast"`
		LlavaLegacyTrue  []int `json:"llava_legacy_true"`
		LlamaLegacyFalse []int `json:"llama_legacy_false"`
		PlainLegacyFalse []int `json:"plain_legacy_false"`
	} `json:"cases"`
}

var llamaGoldenData testdata.Lazy[*llamaGoldenFile]

func llamaGolden(t testing.TB) *llamaGoldenFile {
	t.Helper()
	return llamaGoldenData.Get(t, func() (*llamaGoldenFile, error) {
		return readGolden("llama_golden.json", func(g *llamaGoldenFile) int { return len(g.Cases) })
	})
}

// copyDirWith copies the tokenizer files of src into a temporary directory,
// replacing tokenizer_config.json keys by those of edit (nil deletes).
func copyDirWith(t testing.TB, src string, edit map[string]any, skip ...string) string {
	t.Helper()
	dst := t.TempDir()
	for _, name := range []string{"tokenizer.model", "tokenizer.json", "added_tokens.json", "special_tokens_map.json", "tokenizer_config.json"} {
		if strings.Contains(strings.Join(skip, "\x00"), name) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			continue
		}
		if name == "tokenizer_config.json" && edit != nil {
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			for k, v := range edit {
				if v == nil {
					delete(m, k)
				} else {
					m[k] = v
				}
			}
			if b, err = json.Marshal(m); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func loadLlama(t testing.TB, dir string) *SentencePiece {
	t.Helper()
	return loadAs[*SentencePiece](t, LoadFromDir, dir)
}

// TestParity_llava checks the llava fixture's prompts (input_ids) and the
// decoded generations (text, full_text), from transformers 4.40.2.
func TestParity_llava(t *testing.T) {
	var cases struct {
		ImageTokenIndex int `json:"image_token_index"`
		Cases           []struct {
			Prompt   string `json:"prompt"`
			InputIDs []int  `json:"input_ids"`
			IDs      []int  `json:"ids"`
			NewIDs   []int  `json:"new_ids"`
			Text     string `json:"text"`
			FullText string `json:"full_text"`
		} `json:"cases"`
		Tokenizer []struct {
			Text    string   `json:"text"`
			IDs     []int    `json:"ids"`
			Tokens  []string `json:"tokens"`
			Decoded string   `json:"decoded"`
		} `json:"tokenizer"`
	}
	dir := testdata.Cases(t, "llava", &cases)
	if len(cases.Cases) == 0 {
		t.Fatal("fixtures/llava/cases.json has no cases")
	}
	tok := loadLlama(t, filepath.Join(dir, "model"))
	direct := mustLoad(t, LoadLlama, filepath.Join(dir, "model"))
	if id, ok := tok.ID("<image>"); !ok || id != cases.ImageTokenIndex {
		t.Errorf("<image> has id %d (%v), want image_token_index %d", id, ok, cases.ImageTokenIndex)
	}
	// The tokenizer cases: ids, tokens and decoded text of tricky strings
	// (what transformers' tokenizer(text) and decode(ids,
	// skip_special_tokens=True) give).
	for i, c := range cases.Tokenizer {
		got := tok.EncodeWith(c.Text, EncodeOptions{AllSpecial: true})
		eqIDs(t, fmt.Sprintf("tokenizer case %d %q", i, c.Text), got, c.IDs)
		if c.Tokens != nil {
			var toks []string
			for _, id := range got {
				toks = append(toks, tok.Token(id))
			}
			if !slices.Equal(toks, c.Tokens) {
				t.Errorf("tokenizer case %d %q: tokens %q, want %q", i, c.Text, toks, c.Tokens)
			}
		}
		eqText(t, fmt.Sprintf("tokenizer case %d: Decode", i), tok.Decode(c.IDs, true), c.Decoded)
	}
	for i, c := range cases.Cases {
		all := EncodeOptions{AllSpecial: true}
		eqIDs(t, fmt.Sprintf("case %d: EncodeWith(%q, AllSpecial)", i, c.Prompt), tok.EncodeWith(c.Prompt, all), c.InputIDs)
		eqIDs(t, fmt.Sprintf("case %d: LoadLlama EncodeWith", i), direct.EncodeWith(c.Prompt, all), c.InputIDs)
		eqText(t, fmt.Sprintf("case %d: Decode(new_ids, true)", i), tok.Decode(c.NewIDs, true), c.Text)
		eqText(t, fmt.Sprintf("case %d: Decode(ids, true)", i), tok.Decode(c.IDs, true), c.FullText)
		for _, ids := range [][]int{c.NewIDs, c.IDs} {
			want := tok.Decode(ids, true)
			streamed := streamDecode(tok.NewStreamDecoder(true), ids)
			eqText(t, fmt.Sprintf("case %d: stream", i), streamed, want)
		}
	}
}

// TestLlamaGolden checks ids on tricky and random strings against
// sentencepiece (testdata/llama_golden.json), for legacy=false (the llava
// fixture and vocab/llama) and legacy=true, with special tokens recognised
// as transformers does and as plain text.
func TestLlamaGolden(t *testing.T) {
	g := llamaGolden(t)
	llava := filepath.Join(testdata.Fixture(t, "llava"), "model")
	llama := testdata.Path(t, "vocab", "llama")
	tokFalse := loadLlama(t, llava)
	tokTrue := loadLlama(t, copyDirWith(t, llava, map[string]any{"legacy": true}))
	tokLlama := loadLlama(t, llama)
	if tokFalse.Legacy() || !tokTrue.Legacy() || tokLlama.Legacy() {
		t.Fatalf("legacy flags: %v %v %v", tokFalse.Legacy(), tokTrue.Legacy(), tokLlama.Legacy())
	}
	all := EncodeOptions{AllSpecial: true}
	bad := 0
	for i, c := range g.Cases {
		for _, k := range []struct {
			name string
			got  []int
			want []int
		}{
			{"llava legacy=false", tokFalse.EncodeWith(c.Text, all), c.LlavaLegacyFalse},
			{"llava legacy=true", tokTrue.EncodeWith(c.Text, all), c.LlavaLegacyTrue},
			{"llama legacy=false", tokLlama.EncodeWith(c.Text, all), c.LlamaLegacyFalse},
			{"plain text", tokFalse.Encode(c.Text), c.PlainLegacyFalse},
		} {
			if !slices.Equal(k.got, k.want) {
				bad++
				if bad < 20 {
					t.Errorf("case %d %s %q:\n got %v\nwant %v", i, k.name, c.Text, k.got, k.want)
				}
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d mismatches", bad)
	}
}

// spTokenizerJSON writes the tokenizer.json transformers 4.40 saves for a
// converted Llama tokenizer: the legacy form (normalizer Prepend +
// Replace) or the Metaspace form (prepend_scheme "first").
func spTokenizerJSON(t *testing.T, tok *SentencePiece, legacy bool) map[string]any {
	t.Helper()
	type rankedPair struct {
		rank int32
		a, b string
	}
	var pairs []rankedPair
	for k, pm := range tok.model.pairs {
		pairs = append(pairs, rankedPair{pm.rank, tok.model.symStr[int32(k>>32)], tok.model.symStr[int32(uint32(k))]})
	}
	slices.SortFunc(pairs, func(x, y rankedPair) int { return int(x.rank - y.rank) })
	merges := make([]any, len(pairs))
	for i, p := range pairs {
		merges[i] = []string{p.a, p.b}
	}
	vocab := map[string]int{}
	var addedTokens []any
	for id := 0; id < tok.VocabSize(); id++ {
		if tok.isAdded[id] {
			addedTokens = append(addedTokens, added(id, tok.Token(id), tok.IsSpecial(id), false))
			continue
		}
		vocab[tok.Token(id)] = id
		if tok.IsSpecial(id) {
			addedTokens = append(addedTokens, added(id, tok.Token(id), true, false))
		}
	}
	decoder := map[string]any{"type": "Sequence", "decoders": []any{
		map[string]any{"type": "Replace", "pattern": map[string]any{"String": "▁"}, "content": " "},
		map[string]any{"type": "ByteFallback"},
		map[string]any{"type": "Fuse"},
		map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0},
	}}
	j := map[string]any{
		"version":      "1.0",
		"added_tokens": addedTokens,
		"post_processor": map[string]any{"type": "TemplateProcessing",
			"single":         []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}},
			"special_tokens": map[string]any{"<s>": map[string]any{"id": "<s>", "ids": []int{1}, "tokens": []string{"<s>"}}}},
		"decoder": decoder,
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": "<unk>", "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
			"vocab": vocab, "merges": merges},
	}
	if legacy {
		j["normalizer"] = map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "Prepend", "prepend": "▁"},
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"},
		}}
		j["pre_tokenizer"] = nil
	} else {
		j["normalizer"] = nil
		j["pre_tokenizer"] = map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}
	}
	return j
}

// TestLlamaTokenizerJSON loads the tokenizer.json forms of the llava
// tokenizer (as transformers saves them) and checks they encode and decode
// like the tokenizer.model they come from, and like sentencepiece.
func TestLlamaTokenizerJSON(t *testing.T) {
	g := llamaGolden(t)
	llava := filepath.Join(testdata.Fixture(t, "llava"), "model")
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			ref := loadLlama(t, copyDirWith(t, llava, map[string]any{"legacy": legacy}))
			j := spTokenizerJSON(t, ref, legacy)
			// tokenizer_config.json without add_prefix_space: transformers uses
			// the tokenizer.json as it stands, whatever legacy says.
			dir := copyDirWith(t, llava, map[string]any{"legacy": !legacy, "add_prefix_space": nil}, "tokenizer.model")
			b, err := json.Marshal(j)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), b, 0o644); err != nil {
				t.Fatal(err)
			}
			fromJSON := loadLlama(t, dir)
			if fromJSON.Legacy() != legacy {
				t.Errorf("Legacy() = %v from the tokenizer.json", fromJSON.Legacy())
			}
			generic := mustLoad(t, LoadTokenizerJSON, filepath.Join(dir, "tokenizer.json"))
			if _, ok := generic.(*SentencePiece); !ok {
				t.Fatalf("LoadTokenizerJSON gave %T", generic)
			}
			var texts []string
			for _, c := range g.Cases {
				texts = append(texts, c.Text)
				want := c.LlavaFastFalse
				if legacy {
					want = c.LlavaLegacyTrue
				}
				eqIDs(t, fmt.Sprintf("tokenizer.json %q", c.Text), fromJSON.EncodeWith(c.Text, EncodeOptions{AllSpecial: true}), want)
			}
			if legacy {
				// With legacy=false, tokenizer.model gives the slow
				// tokenizer's ids and a tokenizer.json the fast one's;
				// they differ for text that starts with a space.
				compareTokenizers(t, fromJSON, ref, texts)
				compareTokenizers(t, generic.(*SentencePiece), ref, texts)
			}
		})
	}
}

// TestLlamaRoundTrip checks Decode against the text encoded: with
// legacy=false and no special tokens recognised, Decode(Encode(s), true)
// gives s back unless s starts with a space or holds "▁"; with them
// recognised, Decode keeps them and shows <s> followed by the space put
// before the text.
func TestLlamaRoundTrip(t *testing.T) {
	g := llamaGolden(t)
	tok := loadLlama(t, filepath.Join(testdata.Fixture(t, "llava"), "model"))
	specials := []string{"<unk>", "<s>", "</s>", "<image>", "<pad>"}
	for _, c := range g.Cases {
		s := c.Text
		if strings.HasPrefix(s, " ") || strings.Contains(s, spaceMark) || !utf8.ValidString(s) {
			continue
		}
		eqText(t, "Decode(Encode)", tok.Decode(tok.Encode(s), true), s)
		startsSpecial := false
		for _, sp := range specials {
			startsSpecial = startsSpecial || strings.HasPrefix(s, sp)
		}
		want := "<s>" + s
		if s != "" && !startsSpecial {
			want = "<s> " + s
		}
		eqText(t, "Decode(EncodeWith AllSpecial, false)", tok.Decode(tok.EncodeWith(s, EncodeOptions{AllSpecial: true}), false), want)
		var raw []byte
		for _, id := range tok.EncodeWith(s, EncodeOptions{NoFraming: true}) {
			raw = append(raw, tok.TokenBytes(id)...)
		}
		if s != "" && string(raw) != " "+s {
			t.Errorf("token bytes of %q: %q", s, raw)
		}
	}
}

func TestLlamaBatchAndLimits(t *testing.T) {
	tok := loadLlama(t, filepath.Join(testdata.Fixture(t, "llava"), "model"))
	pad := tok.Pad()
	if pad < 0 {
		t.Fatal("the llava tokenizer has no pad token")
	}
	ids, mask := tok.EncodeBatch([]string{"Hello world", "Hi"}, 0)
	short := tok.Encode("Hi")
	long := tok.Encode("Hello world")
	if len(ids[1]) != len(long) || !slices.Equal(ids[0], long) {
		t.Fatalf("batch %v", ids)
	}
	// padding_side is "left" in the fixture.
	n := len(long) - len(short)
	if !slices.Equal(ids[1][n:], short) || ids[1][0] != pad || mask[1][0] != 0 || mask[1][n] != 1 {
		t.Fatalf("left padding: %v %v", ids[1], mask[1])
	}
	if got := tok.EncodeWith("Hello world, how are you?", EncodeOptions{MaxLen: 3}); len(got) != 3 || got[0] != tok.BOS() {
		t.Fatalf("MaxLen 3: %v", got)
	}
	small := mustLoad(t, LoadLlama, filepath.Join(testdata.Fixture(t, "llava"), "model"), WithMaxInputBytes(4))
	if _, err := small.TryEncode("Hello", EncodeOptions{}); !errors.Is(err, ErrInputTooLong) {
		t.Fatalf("TryEncode: %v", err)
	}
	if got := small.Encode("Hello"); !slices.Equal(got, small.Encode("Hell")) {
		t.Fatalf("cut: %v", got)
	}
	if _, err := tok.DecodeStrict([]int{1, 1 << 20}, false); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("DecodeStrict: %v", err)
	}
	if got := tok.Decode([]int{-1, 15043, 1 << 20}, false); got != "Hello" {
		t.Fatalf("Decode with bad ids: %q", got)
	}
}

func TestLlamaConcurrent(t *testing.T) {
	g := llamaGolden(t)
	tok := loadLlama(t, filepath.Join(testdata.Fixture(t, "llava"), "model"))
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range g.Cases {
				c := g.Cases[(i*7+w*13)%len(g.Cases)]
				if got := tok.EncodeWith(c.Text, EncodeOptions{AllSpecial: true}); !slices.Equal(got, c.LlavaLegacyFalse) {
					t.Errorf("concurrent %q: %v", c.Text, got)
					return
				}
				_ = tok.Decode(c.LlavaLegacyFalse, true)
			}
		}()
	}
	wg.Wait()
}

// TestSentencePieceJSON_metaspaceDecoder covers the older tokenizer.json
// form: Metaspace pre-tokenizer splitting at "▁" (add_prefix_space) and a
// Metaspace decoder, without byte fallback.
func TestSentencePieceJSON_metaspaceDecoder(t *testing.T) {
	dir := writeTokenizerJSON(t, map[string]any{
		"added_tokens":  []any{added(0, "<unk>", true, false), added(1, "<s>", true, false)},
		"normalizer":    nil,
		"pre_tokenizer": map[string]any{"type": "Metaspace", "replacement": "▁", "add_prefix_space": true},
		"decoder":       map[string]any{"type": "Metaspace", "replacement": "▁", "add_prefix_space": true},
		"post_processor": map[string]any{"type": "TemplateProcessing",
			"single":         []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}},
			"special_tokens": map[string]any{"<s>": map[string]any{"id": "<s>", "ids": []int{1}, "tokens": []string{"<s>"}}}},
		"model": map[string]any{"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": false,
			"vocab":  map[string]int{"<unk>": 0, "<s>": 1, "▁": 2, "a": 3, "b": 4, "▁a": 5, "ab": 6, "▁ab": 7},
			"merges": []string{"▁ a", "a b", "▁a b"}},
	})
	tok := loadAs[*SentencePiece](t, LoadTokenizerJSON, filepath.Join(dir, "tokenizer.json"))
	all := EncodeOptions{AllSpecial: true}
	ids := tok.EncodeWith("ab  b<s>ab xyz", all)
	// "▁ab", "▁", "▁b" after the split at "▁"; text after <s> gets "▁"
	// (prepend always); unknown letters fuse into one <unk>.
	want := []int{1, 7, 2, 2, 4, 1, 7, 2, 0}
	eqIDs(t, "Metaspace encode", ids, want)
	if !tok.Legacy() {
		t.Error("Legacy() false with prepend always")
	}
	eqText(t, "Metaspace decode", tok.Decode([]int{7, 2, 2, 4}, true), "ab  b")
	eqText(t, "Metaspace decode with <s>", tok.Decode([]int{1, 7, 2}, false), "<s> ab ")
	eqText(t, "Metaspace stream", streamDecode(tok.NewStreamDecoder(true), []int{7, 2, 2, 4}), "ab  b")
}
