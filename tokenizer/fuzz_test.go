package tokenizer

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/goformer/goformer/internal/testdata"
)

// Fuzz targets work without the shared data: they use small in-memory
// vocabularies, and the real ones too when ../shared is there. Run one with
// e.g. go test ./tokenizer/ -run '^$' -fuzz FuzzByteLevelEncode -fuzztime 30s

var (
	tinyOnce    sync.Once
	tinyBPE     *BPE
	tinyWhisper *Whisper
	tinyWP      *WordPiece
)

// tinyTokenizers builds a byte-level BPE over the 256 bytes plus a few
// merges, a Whisper around it with 3 languages, and a small WordPiece.
func tinyTokenizers(t testing.TB) (*BPE, *Whisper, *WordPiece) {
	t.Helper()
	tinyOnce.Do(func() {
		vocab := map[string]int{}
		for b := 0; b < 256; b++ {
			vocab[byteToString[b]] = b
		}
		merges := [][2]string{{"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}, {"l", "l"}, {"e", "ll"}, {"Ġ", "Ġ"}, {"ä", "½"}}
		for _, m := range merges {
			if _, ok := vocab[m[0]+m[1]]; !ok {
				vocab[m[0]+m[1]] = len(vocab)
			}
		}
		specials := WhisperTiktokenSpecials(len(vocab), 3)
		names := make([]string, 0, len(specials))
		for n := range specials {
			names = append(names, n)
		}
		sort.Slice(names, func(i, j int) bool { return specials[names[i]] < specials[names[j]] })
		var err error
		if tinyBPE, err = NewByteLevelBPE(vocab, merges, names); err != nil {
			panic(err)
		}
		if tinyWhisper, err = NewWhisper(tinyBPE); err != nil {
			panic(err)
		}
		if tinyWP, err = NewWordPiece([]string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s", "!", "a", "##b", "中"}); err != nil {
			panic(err)
		}
	})
	return tinyBPE, tinyWhisper, tinyWP
}

// sharedOrNil returns a loaded shared tokenizer, or nil without the data.
func sharedOrNil[T any](load func() (T, error)) (T, bool) {
	var zero T
	if _, ok := testdata.Root(); !ok {
		return zero, false
	}
	v, err := load()
	if err != nil {
		return zero, false
	}
	return v, true
}

var fuzzSeeds = []string{
	"", "hello world", "  leading and trailing  ", "don't stop—won't stop", "café crème 9:30am", "数字 123",
	"emoji 😀 👋🏽", "\xe4\xbd", "\xff\xfe", "<|endoftext|>", "[CLS] x [SEP]", "a\u0301\u0308", "\t\n\r\v\f",
	strings.Repeat("ab", 100),
}

// FuzzByteLevelEncode: encoding never panics and decoding gives the text
// back (with Python's U+FFFD replacement for invalid UTF-8).
func FuzzByteLevelEncode(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	tiny, _, _ := tinyTokenizers(f)
	gpt2, haveGPT2 := sharedOrNil(func() (*BPE, error) {
		return LoadBPE(filepath.Join(testdata.Dir(f), "vocab", "gpt2"), WithCleanUp(false))
	})
	f.Fuzz(func(t *testing.T, s string) {
		toks := []*BPE{tiny}
		if haveGPT2 {
			toks = append(toks, gpt2)
		}
		for _, tok := range toks {
			for _, opt := range []EncodeOptions{{}, {AllSpecial: true}} {
				ids := tok.EncodeWith(s, opt)
				if got, want := tok.Decode(ids, false), pyUTF8Replace(s); got != want {
					t.Fatalf("decode(encode(%q)) = %q, want %q", s, got, want)
				}
			}
			var raw []byte
			for _, id := range tok.Encode(s) {
				raw = append(raw, tok.TokenBytes(id)...)
			}
			if !bytes.Equal(raw, []byte(s)) {
				t.Fatalf("token bytes %q != %q", raw, s)
			}
		}
	})
}

// FuzzSplitGPT2: the GPT-2 pieces cover the text exactly.
func FuzzSplitGPT2(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var sb strings.Builder
		splitGPT2(s, func(p string) {
			if p == "" {
				t.Fatal("empty piece")
			}
			sb.WriteString(p)
		})
		if sb.String() != s {
			t.Fatalf("pieces of %q join to %q", s, sb.String())
		}
		splitCLIP(s, true, true, func(p string) {
			if p == "" {
				t.Fatal("empty CLIP piece")
			}
		})
	})
}

// FuzzDecodeUTF8: replacement decoding gives valid UTF-8, keeps valid input
// and can be cut where completePrefix says.
func FuzzDecodeUTF8(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := decodeUTF8Replace(b)
		if !utf8.ValidString(s) {
			t.Fatalf("invalid output for %x", b)
		}
		if utf8.Valid(b) && s != string(b) {
			t.Fatalf("valid input changed: %x", b)
		}
		n := completePrefix(b)
		if len(b)-n > 3 {
			t.Fatalf("held back %d bytes of %x", len(b)-n, b)
		}
		var streamed strings.Builder
		d := &StreamDecoder{bytesOf: func(id int) []byte { return b[id : id+1] }}
		for i := range b {
			streamed.WriteString(d.Push(i))
		}
		streamed.WriteString(d.Flush())
		if streamed.String() != s {
			t.Fatalf("streamed %q, whole %q", streamed.String(), s)
		}
	})
}

// idsFromBytes reads little-endian uint16 ids, some of them invalid.
func idsFromBytes(b []byte) []int {
	ids := make([]int, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		ids = append(ids, int(b[i])|int(b[i+1])<<8)
	}
	return ids
}

// FuzzWhisperDecode: decoding arbitrary ids never panics, streaming adds up
// to Decode, and word splitting covers every id.
func FuzzWhisperDecode(f *testing.F) {
	f.Add([]byte{0x41, 0, 0xe4, 0, 0xbd, 0, 0xa0, 0})
	f.Add([]byte{0xff, 0xff, 0, 1, 0x33, 0xc4})
	_, tiny, _ := tinyTokenizers(f)
	w, haveW := sharedOrNil(func() (*Whisper, error) { return LoadWhisper(filepath.Join(testdata.Dir(f), "vocab", "whisper")) })
	f.Fuzz(func(t *testing.T, b []byte) {
		ids := idsFromBytes(b)
		toks := []*Whisper{tiny}
		if haveW {
			toks = append(toks, w)
		}
		for _, tok := range toks {
			for _, skip := range []bool{false, true} {
				text := tok.Decode(ids, skip)
				if !utf8.ValidString(text) {
					t.Fatal("invalid UTF-8")
				}
				if skip {
					continue
				}
				streamed := streamDecode(tok.NewStreamDecoder(skip), ids)
				if streamed != text {
					t.Fatalf("stream %q, Decode %q", streamed, text)
				}
			}
			_ = tok.DecodeWithTimestamps(ids)
			_, _ = tok.DecodeStrict(ids, true)
			var valid []int
			for _, id := range ids {
				if tok.validID(id) || tok.IsTimestamp(id) && id < tok.TimestampBegin()+1501 {
					valid = append(valid, id)
				}
			}
			for _, lang := range []string{"en", "ja"} {
				_, wt := tok.SplitToWordTokensLang(valid, lang)
				var all []int
				for _, x := range wt {
					all = append(all, x...)
				}
				if len(all) > len(valid) {
					t.Fatalf("%s: %d ids in words, %d given", lang, len(all), len(valid))
				}
			}
		}
	})
}

// FuzzCLIPEncode: CLIP encoding never panics, is framed and batches pad to
// the requested length.
func FuzzCLIPEncode(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	c, ok := sharedOrNil(func() (*CLIP, error) { return LoadCLIP(filepath.Join(testdata.Dir(f), "vocab", "clip")) })
	if !ok {
		testdata.Missing(f, "the CLIP vocabulary (vocab/clip) in %s", testdata.Dir(f))
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := c.Encode(s)
		if len(ids) < 2 || ids[0] != c.StartID() || ids[len(ids)-1] != c.EndID() {
			t.Fatalf("unframed %v", ids)
		}
		_ = c.Decode(ids, true)
		batch, mask := c.EncodeBatch([]string{s, "x"}, 0)
		if len(batch[0]) != c.MaxLen() || len(mask[1]) != c.MaxLen() || batch[0][min(len(ids), c.MaxLen())-1] != c.EndID() {
			t.Fatalf("bad batch %v", batch[0])
		}
	})
}

// FuzzWordPiece: BERT encoding and decoding never panic.
func FuzzWordPiece(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	_, _, tiny := tinyTokenizers(f)
	bert, haveBert := sharedOrNil(func() (*WordPiece, error) {
		return LoadWordPiece(filepath.Join(testdata.Dir(f), "vocab", "bert-base-uncased"))
	})
	f.Fuzz(func(t *testing.T, s string) {
		toks := []*WordPiece{tiny}
		if haveBert {
			toks = append(toks, bert)
		}
		for _, tok := range toks {
			ids := tok.EncodeWith(s, EncodeOptions{AllSpecial: true})
			if len(ids) < 2 || ids[0] != tok.CLS() || ids[len(ids)-1] != tok.SEP() {
				t.Fatalf("unframed %v", ids)
			}
			if !utf8.ValidString(tok.Decode(ids, false)) {
				t.Fatal("invalid UTF-8")
			}
			_ = tok.Tokenize(s, EncodeOptions{})
			_ = tok.Decode(idsFromBytes([]byte(s)), true)
		}
	})
}

// FuzzLoaders: arbitrary file contents give an error or a working
// tokenizer, never a panic.
func FuzzLoaders(f *testing.F) {
	f.Add([]byte(`{"a": 0, "b": 1, "ab": 2}`), []byte("#version: 0.2\na b\n"))
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a a"]}, "pre_tokenizer": {"type": "ByteLevel"}}`), []byte("YQ== 0\n"))
	f.Add([]byte(`{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "a": 1}, "unk_token": "[UNK]"}, "normalizer": {"type": "BertNormalizer"}}`), []byte("[UNK]\na\n"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		dir := t.TempDir()
		write := func(name string, data []byte) string {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}
		use := func(tk Tokenizer) {
			ids := tk.Encode("hello world, ça va? 中文")
			_ = tk.Decode(ids, false)
			_ = tk.Decode([]int{-1, 0, 1, 1 << 30}, true)
			_ = tk.Token(0)
		}
		if tk, err := LoadByteLevelBPE(write("vocab.json", a), write("merges.txt", b)); err == nil {
			use(tk)
		}
		if tk, err := LoadTokenizerJSON(write("tokenizer.json", a)); err == nil {
			use(tk)
		}
		if tk, err := LoadTiktoken(write("x.tiktoken", b), map[string]int{"<|endoftext|>": 1 << 10}); err == nil {
			use(tk)
		}
		write("vocab.txt", b)
		write("added_tokens.json", a)
		if tk, err := LoadWordPiece(dir); err == nil {
			use(tk)
		}
		if tk, err := LoadFromDir(dir); err == nil {
			use(tk)
		}
	})
}
