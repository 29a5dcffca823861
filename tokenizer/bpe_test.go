package tokenizer

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/goformer/goformer/internal/testdata"
)

var sharedGPT2 testdata.Lazy[*BPE]

// loadSharedGPT2 loads ../shared/vocab/gpt2 once, without clean-up so that
// decoding is an exact inverse.
func loadSharedGPT2(t testing.TB) *BPE {
	t.Helper()
	dir := testdata.Path(t, "vocab", "gpt2")
	return sharedGPT2.Get(t, func() (*BPE, error) { return LoadBPE(dir, WithCleanUp(false)) })
}

// pieces of text that random strings are made of.
var roundTripAlphabet = []string{
	"a", "b", "Z", "0", "7", " ", "  ", "\t", "\n", "\r\n", ".", ",", "'", "'s", "'ll", "-", "—", "“", "”",
	"é", "e\u0301", "n\u0303", "\u0301", "\u0308\u0301", "ß", "Ω", "Привет", "中", "文", "字", "，", "こんにちは",
	"한국어", "مرحبا", "नमस्ते", "😀", "👋🏽", "👨\u200d👩\u200d👧", "🇫🇷", "♪", "\u00a0", "\u3000", "\u2028",
	"\u200b", "\ufeff", "\x00", "\x7f", "\ufffd", "<|endoftext|>", "hello", " world", "don't",
}

func randomText(rng *rand.Rand, maxParts int) string {
	var sb strings.Builder
	n := rng.Intn(maxParts + 1)
	for range n {
		switch r := rng.Intn(10); {
		case r < 7:
			sb.WriteString(roundTripAlphabet[rng.Intn(len(roundTripAlphabet))])
		case r < 9:
			sb.WriteRune(rune(rng.Intn(0x2FFFF)))
		default:
			// Invalid UTF-8: lone continuation bytes, truncated sequences,
			// bytes that never occur.
			bad := [][]byte{{0x80}, {0xBF}, {0xE4, 0xBD}, {0xF0, 0x9F, 0x98}, {0xFF}, {0xC0, 0xAF}, {0xED, 0xA0, 0x80}}
			sb.Write(bad[rng.Intn(len(bad))])
		}
	}
	return sb.String()
}

// TestRoundTripByteLevel: decode(encode(s)) == s for byte-level BPE over
// random text (emoji, CJK, combining marks, exotic whitespace); for invalid
// UTF-8 the result is what Python's errors="replace" gives, and the token
// bytes reproduce the input exactly.
func TestRoundTripByteLevel(t *testing.T) {
	gpt2 := loadSharedGPT2(t)
	w := loadSharedWhisper(t)
	tk, err := LoadWhisperTiktoken(testdata.Path(t, "vocab", "whisper", "multilingual.tiktoken"), 99)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 600; i++ {
		s := randomText(rng, 30)
		for name, tok := range map[string]interface {
			Encode(string) []int
			Decode([]int, bool) string
			TokenBytes(int) []byte
		}{"gpt2": gpt2, "whisper": w, "tiktoken": tk} {
			ids := tok.Encode(s)
			want := s
			if !utf8.ValidString(s) {
				want = pyUTF8Replace(s)
			}
			if got := tok.Decode(ids, false); got != want {
				t.Fatalf("%s: decode(encode(%q)) = %q, want %q", name, s, got, want)
			}
			var raw []byte
			for _, id := range ids {
				raw = append(raw, tok.TokenBytes(id)...)
			}
			if !bytes.Equal(raw, []byte(s)) {
				t.Fatalf("%s: token bytes of %q = %q", name, s, raw)
			}
		}
	}
}

// TestMergeAlgorithmsAgree compares the rescanning merge loop with the
// priority-queue one on random words, with the real merges and with random
// merge tables (inconsistent ranks included), in both merge modes.
func TestMergeAlgorithmsAgree(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	check := func(name string, m *bpeModel, word []int32) {
		a := m.mergeScan(slices.Clone(word))
		b := m.mergeQueue(slices.Clone(word))
		if !slices.Equal(a, b) {
			t.Fatalf("%s: word %v: scan %v, queue %v", name, word, a, b)
		}
	}
	// Random merge tables over a 3-letter alphabet.
	for trial := 0; trial < 300; trial++ {
		for _, single := range []bool{false, true} {
			m := newBPEModel()
			m.single = single
			letters := []string{"a", "b", "c"}
			syms := append([]string(nil), letters...)
			// transformers: one rank per merges.txt line, in any order;
			// tiktoken: the rank of the merged token, shared by all the
			// ways of making it.
			perm := rng.Perm(12)
			tokRank := map[string]int{}
			for k := 0; k < 12; k++ {
				l, r := syms[rng.Intn(len(syms))], syms[rng.Intn(len(syms))]
				rank := perm[k]
				if single {
					if _, ok := tokRank[l+r]; !ok {
						tokRank[l+r] = perm[k]
					}
					rank = tokRank[l+r]
				}
				m.addMerge(l, r, rank)
				syms = append(syms, l+r)
			}
			word := make([]int32, 2+rng.Intn(40))
			for i := range word {
				word[i] = m.intern(letters[rng.Intn(3)])
			}
			check(fmt.Sprintf("random single=%v", single), m, word)
		}
	}
	t.Run("gpt2", func(t *testing.T) {
		gpt2 := loadSharedGPT2(t)
		for i := 0; i < 300; i++ {
			var buf [64]int32
			piece := randomText(rng, 12)
			if piece == "" {
				continue
			}
			check("gpt2", gpt2.model, gpt2.model.initialSymbols(piece, buf[:0]))
		}
	})
}

// TestCleanUp compares the clean-up with transformers' chain of replaces.
func TestCleanUp(t *testing.T) {
	for _, s := range []string{"a , b . c ! d ? e", "don 't", "I 'm here , you 're there", "a ' b", " ' .", "it 's n't", "x  ,y"} {
		want := s
		for _, p := range cleanUpPairs {
			want = strings.ReplaceAll(want, p[0], p[1])
		}
		if got := cleanUpTokenization(s); got != want {
			t.Errorf("%q: %q, want %q", s, got, want)
		}
	}
	if got := cleanUpTokenization("hello , world ."); got != "hello, world." {
		t.Errorf("got %q", got)
	}
}

// TestConcurrentEncode runs tokenizers from many goroutines at once (the
// BPE cache is shared); run with -race to check for data races.
func TestConcurrentEncode(t *testing.T) {
	gpt2 := loadSharedGPT2(t)
	rng := rand.New(rand.NewSource(3))
	texts := make([]string, 200)
	want := make([][]int, len(texts))
	for i := range texts {
		texts[i] = randomText(rng, 20)
	}
	small := mustLoad(t, LoadBPE, testdata.Path(t, "vocab", "gpt2"), WithCacheSize(cacheShards))
	for i, s := range texts {
		want[i] = gpt2.Encode(s)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := range texts {
				i := (k + g*31) % len(texts)
				for _, tok := range []*BPE{gpt2, small} {
					if got := tok.Encode(texts[i]); !slices.Equal(got, want[i]) {
						t.Errorf("goroutine %d: %q: %v, want %v", g, texts[i], got, want[i])
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
}

// TestInputLimit checks the input guard.
func TestInputLimit(t *testing.T) {
	tok := mustLoad(t, LoadBPE, testdata.Path(t, "vocab", "gpt2"), WithMaxInputBytes(10))
	if _, err := tok.TryEncode("hello world, this is long", EncodeOptions{}); !errors.Is(err, ErrInputTooLong) {
		t.Errorf("TryEncode error %v", err)
	}
	// Cut on a character boundary: "héllo wor" is 10 bytes, "ö" would straddle.
	eqIDs(t, "Encode cut", tok.Encode("hello worö"), tok.Encode("hello wor"))
	ids, err := tok.TryEncode("short", EncodeOptions{})
	if err != nil || !slices.Equal(ids, tok.Encode("short")) {
		t.Errorf("TryEncode(short) = %v, %v", ids, err)
	}
	// Half a megabyte without spaces stays fast (no quadratic merging).
	long := strings.Repeat("abcdefghij", 50_000)
	gpt2 := loadSharedGPT2(t)
	if got := gpt2.Decode(gpt2.Encode(long), false); got != long {
		t.Error("long word round trip failed")
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoadErrors checks that bad files give errors naming them, never panics.
func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	vocab := writeFile(t, dir, "vocab.json", `{"a": 0, "b": 1, "ab": 2}`)
	merges := writeFile(t, dir, "merges.txt", "#version: 0.2\na b\n")
	if _, err := LoadByteLevelBPE(vocab, merges); err != nil {
		t.Fatalf("valid files: %v", err)
	}
	cases := []struct {
		name string
		load func() error
		is   error
		path string
	}{
		{"missing vocab", func() error { _, err := LoadByteLevelBPE(filepath.Join(dir, "nope.json"), merges); return err }, fs.ErrNotExist, "nope.json"},
		{"malformed vocab", func() error {
			_, err := LoadByteLevelBPE(writeFile(t, dir, "bad.json", `{"a": 0,`), merges)
			return err
		}, ErrFormat, "bad.json"},
		{"vocab not an object", func() error {
			_, err := LoadByteLevelBPE(writeFile(t, dir, "arr.json", `[1,2]`), merges)
			return err
		}, ErrFormat, "arr.json"},
		{"negative id", func() error {
			_, err := LoadByteLevelBPE(writeFile(t, dir, "neg.json", `{"a": -1}`), merges)
			return err
		}, ErrFormat, "neg.json"},
		{"huge id", func() error {
			_, err := LoadByteLevelBPE(writeFile(t, dir, "huge.json", `{"a": 1e12}`), merges)
			return err
		}, ErrFormat, "huge.json"},
		{"bad merge", func() error {
			_, err := LoadByteLevelBPE(vocab, writeFile(t, dir, "m3.txt", "#version: 0.2\na b c\n"))
			return err
		}, ErrFormat, "m3.txt:2"},
		{"bad tiktoken", func() error {
			_, err := LoadTiktoken(writeFile(t, dir, "x.tiktoken", "YQ== 0\n!!! 1\n"), nil)
			return err
		}, ErrFormat, "x.tiktoken:2"},
		{"duplicate rank", func() error {
			_, err := LoadTiktoken(writeFile(t, dir, "d.tiktoken", "YQ== 0\nYg== 0\n"), nil)
			return err
		}, ErrFormat, "d.tiktoken:2"},
		{"bad tokenizer.json", func() error {
			_, err := LoadTokenizerJSON(writeFile(t, dir, "tokenizer.json", `{"model": {"type": "Unigram", "vocab": {}}}`))
			return err
		}, ErrUnsupported, "tokenizer.json"},
		{"truncated tokenizer.json", func() error {
			_, err := LoadTokenizerJSON(writeFile(t, dir, "t2.json", `{"model": `))
			return err
		}, ErrFormat, "t2.json"},
		{"lookahead regex", func() error {
			_, err := LoadTokenizerJSON(writeFile(t, dir, "t3.json", `{"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "a(?=b)"}, "behavior": "Isolated"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`))
			return err
		}, ErrUnsupported, "t3.json"},
		{"bad special map", func() error {
			d := t.TempDir()
			writeFile(t, d, "vocab.txt", "[PAD]\n[UNK]\n")
			writeFile(t, d, "special_tokens_map.json", `{"unk_token": 5}`)
			_, err := LoadWordPiece(d)
			return err
		}, ErrFormat, "special_tokens_map.json"},
		{"no tokenizer files", func() error { _, err := LoadFromDir(t.TempDir()); return err }, ErrFormat, ""},
		{"not whisper", func() error { _, err := LoadWhisper(dir); return err }, ErrFormat, dir},
	}
	for _, c := range cases {
		err := c.load()
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: %v is not %v", c.name, err, c.is)
		}
		if !strings.Contains(err.Error(), c.path) {
			t.Errorf("%s: %q does not name %q", c.name, err, c.path)
		}
	}
}

// TestTinyBPE exercises a hand-made vocabulary: unknown bytes, specials and
// framing-free encoding.
func TestTinyBPE(t *testing.T) {
	vocab := map[string]int{"h": 0, "e": 1, "l": 2, "o": 3, "Ġ": 4, "he": 5, "ll": 6, "hell": 7, "hello": 8, "Ġhello": 9}
	merges := [][2]string{{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"Ġ", "hello"}}
	tok, err := NewByteLevelBPE(vocab, merges, []string{"<|endoftext|>"})
	if err != nil {
		t.Fatal(err)
	}
	eqIDs(t, "hello hello", tok.Encode("hello hello"), []int{8, 9})
	eqIDs(t, "special allowed", tok.EncodeWith("hello<|endoftext|>", EncodeOptions{AllSpecial: true}), []int{8, 10})
	// 'x' is not in the vocabulary: it becomes the unknown token.
	eqIDs(t, "unknown", tok.Encode("x"), []int{10})
	eqText(t, "decode", tok.Decode([]int{8, 9, 10}, false), "hello hello<|endoftext|>")
	eqText(t, "decode skip", tok.Decode([]int{8, 9, 10}, true), "hello hello")
	if tok.VocabSize() != 11 || !tok.IsSpecial(10) || tok.Token(9) != "Ġhello" {
		t.Errorf("VocabSize %d, Token(9) %q", tok.VocabSize(), tok.Token(9))
	}
}
