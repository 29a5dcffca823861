package tokenizer

import (
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
)

// golden is testdata/golden.json, made by testdata/gen_golden.py with
// Python's `regex` module and re-statements of transformers' algorithms.
type goldenFile struct {
	Cases []struct {
		Text       string   `json:"text"`
		GPT2Pieces []string `json:"gpt2_pieces"`
		CLIPPieces []string `json:"clip_pieces"`
		GPT2IDs    []int    `json:"gpt2_ids"`
		BertTokens []string `json:"bert_tokens"`
		BertIDs    []int    `json:"bert_ids"`
	} `json:"cases"`
	InvalidUTF8 []struct {
		Hex     string `json:"hex"`
		Decoded string `json:"decoded"`
	} `json:"invalid_utf8"`
}

var goldenData testdata.Lazy[*goldenFile]

func golden(t testing.TB) *goldenFile {
	t.Helper()
	return goldenData.Get(t, func() (*goldenFile, error) {
		return readGolden("golden.json", func(g *goldenFile) int { return len(g.Cases) })
	})
}

// readGolden decodes testdata/<name>, which must have cases.
func readGolden[T any](name string, cases func(*T) int) (*T, error) {
	var g T
	if err := testdata.DecodeJSON(filepath.Join("testdata", name), &g); err != nil {
		return nil, err
	}
	if cases(&g) == 0 {
		return nil, fmt.Errorf("testdata/%s has no cases", name)
	}
	return &g, nil
}

func collect(split func(string, func(string)), s string) []string {
	out := []string{}
	split(s, func(p string) { out = append(out, p) })
	return out
}

// TestGolden_pretokenize compares the hand-written GPT-2 and CLIP splits
// (Go's regexp has no lookahead) with Python's regex findall.
func TestGolden_pretokenize(t *testing.T) {
	g := golden(t)
	for i, c := range g.Cases {
		gpt2 := collect(splitGPT2, c.Text)
		if !slices.Equal(gpt2, append([]string{}, c.GPT2Pieces...)) {
			t.Errorf("case %d %q: GPT-2 split\n got %q\nwant %q", i, c.Text, gpt2, c.GPT2Pieces)
		}
		clip := collect(func(s string, emit func(string)) { splitCLIP(s, true, true, emit) }, c.Text)
		if !slices.Equal(clip, append([]string{}, c.CLIPPieces...)) {
			t.Errorf("case %d %q: CLIP split\n got %q\nwant %q", i, c.Text, clip, c.CLIPPieces)
		}
	}
}

// TestGolden_invalidUTF8 checks the U+FFFD replacement against Python's
// errors="replace".
func TestGolden_invalidUTF8(t *testing.T) {
	g := golden(t)
	for _, c := range g.InvalidUTF8 {
		b, err := hex.DecodeString(c.Hex)
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeUTF8Replace(b); got != c.Decoded {
			t.Errorf("%s: got %q, want %q", c.Hex, got, c.Decoded)
		}
	}
}

// TestGolden_gpt2 compares GPT-2 ids with transformers' bpe() run on the
// real vocabulary, long words included.
func TestGolden_gpt2(t *testing.T) {
	g := golden(t)
	tok := mustLoad(t, LoadBPE, testdata.Path(t, "vocab", "gpt2"))
	for i, c := range g.Cases {
		eqIDs(t, fmt.Sprintf("case %d %q", i, c.Text), tok.Encode(c.Text), c.GPT2IDs)
		if got := tok.Decode(c.GPT2IDs, false); got != cleanUpTokenization(c.Text) {
			t.Errorf("case %d: Decode = %q, want %q", i, got, cleanUpTokenization(c.Text))
		}
	}
}

// TestGolden_bert compares BERT tokens and ids with the slow BasicTokenizer
// and WordpieceTokenizer algorithms run on the real vocabulary.
func TestGolden_bert(t *testing.T) {
	g := golden(t)
	tok := mustLoad(t, LoadWordPiece, testdata.Path(t, "vocab", "bert-base-uncased"))
	for i, c := range g.Cases {
		got := tok.Tokenize(c.Text, EncodeOptions{})
		if !slices.Equal(got, append([]string{}, c.BertTokens...)) {
			t.Errorf("case %d %q: tokens\n got %q\nwant %q", i, c.Text, got, c.BertTokens)
		}
		eqIDs(t, fmt.Sprintf("case %d ids", i), tok.EncodePlain(c.Text), c.BertIDs)
	}
}

// TestGolden_whisperTiktokenAgrees checks that the HuggingFace files
// (transformers' merge-all-occurrences rule) and the .tiktoken file
// (tiktoken's one-merge-at-a-time rule by rank of the merged token) give the
// same ids and the same text.
func TestGolden_whisperTiktokenAgrees(t *testing.T) {
	g := golden(t)
	dir := testdata.Path(t, "vocab", "whisper")
	hf := mustLoad(t, LoadWhisper, dir)
	tk, err := LoadWhisperTiktoken(filepath.Join(dir, "multilingual.tiktoken"), 99)
	if err != nil {
		t.Fatal(err)
	}
	if hf.VocabSize() != tk.VocabSize() {
		t.Errorf("VocabSize %d vs %d", hf.VocabSize(), tk.VocabSize())
	}
	for id := 0; id < hf.VocabSize(); id++ {
		if a, b := hf.Token(id), tk.Token(id); a != b && !(a == "<|nocaptions|>" && b == "<|nospeech|>") {
			t.Fatalf("Token(%d): %q vs %q", id, a, b)
		}
	}
	for i, c := range g.Cases {
		a, b := hf.Encode(c.Text), tk.Encode(c.Text)
		eqIDs(t, fmt.Sprintf("case %d %q", i, c.Text), b, a)
		if hf.Decode(a, false) != pyUTF8Replace(c.Text) {
			t.Errorf("case %d: round trip %q", i, hf.Decode(a, false))
		}
	}
}
