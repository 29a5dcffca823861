package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/goformer/goformer/internal/testdata"
)

// FuzzSentencePieceModel: parsing arbitrary bytes as a tokenizer.model
// never panics, a parsed model survives serialization unchanged, and a
// model that builds a tokenizer encodes and decodes without panicking.
func FuzzSentencePieceModel(f *testing.F) {
	tiny := encodeSPModel(tinySPModel())
	f.Add(tiny)
	f.Add(tiny[:len(tiny)/2])
	uni := tinySPModel()
	uni.Trainer.ModelType = SPUnigram
	f.Add(encodeSPModel(uni))
	f.Add([]byte{0x0a, 0x05, 0x0a, 0x03, 0xe2, 0x96, 0x81, 0x12, 0x04, 0x18, 0x02, 0xa8, 0x02, 0x01})
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	if root, ok := testdata.Root(); ok {
		if b, err := os.ReadFile(filepath.Join(root, "vocab", "llama", "tokenizer.model")); err == nil && len(b) > 4096 {
			f.Add(b[:4096])
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseSentencePieceModel(data)
		if err != nil {
			return
		}
		again, err := ParseSentencePieceModel(encodeSPModel(m))
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !slices.Equal(again.Pieces, m.Pieces) && !hasNaNScore(m) || again.Trainer != m.Trainer {
			t.Fatalf("re-parse differs:\n%+v\n%+v", again, m)
		}
		for _, legacy := range []bool{false, true} {
			cfg := DefaultSentencePieceConfig()
			cfg.Legacy = legacy
			cfg.BOS, cfg.EOS, cfg.Unk, cfg.AddBOS = "", "", "", false
			tok, err := NewSentencePiece(m, cfg)
			if err != nil {
				continue
			}
			for _, s := range []string{"", "hello world", " a  b\n", "<s>x</s>", "中文 😀", "\xff\xfe"} {
				ids := tok.EncodeWith(s, EncodeOptions{AllSpecial: true})
				_ = tok.Decode(ids, true)
				_ = tok.Decode(ids, false)
				sd := tok.NewStreamDecoder(false)
				for _, id := range ids {
					sd.Push(id)
				}
				sd.Flush()
			}
			_ = tok.Decode([]int{-1, 0, 1, 2, 1 << 30}, false)
		}
	})
}

func hasNaNScore(m *SentencePieceModel) bool {
	for _, p := range m.Pieces {
		if p.Score != p.Score {
			return true
		}
	}
	return false
}

var (
	fuzzLlamaOnce sync.Once
	fuzzLlamaToks []*SentencePiece
)

// fuzzLlamaTokenizers returns the tiny model with legacy false and true and,
// with the shared data, the llava fixture's Llama tokenizer.
func fuzzLlamaTokenizers(tb testing.TB) []*SentencePiece {
	fuzzLlamaOnce.Do(func() {
		for _, legacy := range []bool{false, true} {
			cfg := DefaultSentencePieceConfig()
			cfg.Legacy = legacy
			cfg.Added = []AddedToken{{Content: "<image>", ID: -1, Special: true}}
			tok, err := NewSentencePiece(tinySPModel(), cfg)
			if err != nil {
				panic(err)
			}
			fuzzLlamaToks = append(fuzzLlamaToks, tok)
		}
		if llava, ok := sharedOrNil(func() (*SentencePiece, error) {
			return LoadLlama(filepath.Join(testdata.Dir(tb), "fixtures", "llava", "model"))
		}); ok {
			fuzzLlamaToks = append(fuzzLlamaToks, llava)
		}
	})
	return fuzzLlamaToks
}

// FuzzLlamaEncode: SentencePiece encoding never panics; the token bytes
// spell the text ("▁" as a space, a "▁" put in front); decoding gives the
// text back where the normalization is lossless (valid UTF-8, no "▁" in
// it, and for legacy=false no leading space); streaming agrees with Decode.
func FuzzLlamaEncode(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	for _, s := range []string{"<image>", "USER: <image>\nWhat is shown? ASSISTANT:", "<s> x </s>", " lead", "▁mark", "a<image> b", "  \t\n"} {
		f.Add(s)
	}
	toks := fuzzLlamaTokenizers(f)
	f.Fuzz(func(t *testing.T, s string) {
		for _, tok := range toks {
			ids := tok.Encode(s)
			if len(ids) == 0 || ids[0] != tok.BOS() {
				t.Fatalf("Encode(%q) = %v: no bos", s, ids)
			}
			var raw []byte
			for _, id := range ids[1:] {
				raw = append(raw, tok.TokenBytes(id)...)
			}
			want := strings.ReplaceAll(s, spaceMark, " ")
			// Both legacy=true and legacy=false (the slow tokenizer's
			// rule) put "▁" before the text (Encode takes special tokens
			// written in the text as text).
			if s != "" {
				want = " " + want
			}
			if string(raw) != want {
				t.Fatalf("legacy=%v token bytes of %q: %q, want %q", tok.Legacy(), s, raw, want)
			}
			if !utf8.ValidString(s) || strings.Contains(s, spaceMark) {
				continue
			}
			if tok.Legacy() || !strings.HasPrefix(s, " ") {
				if got := tok.Decode(ids, true); got != s {
					t.Fatalf("legacy=%v Decode(Encode(%q)) = %q", tok.Legacy(), s, got)
				}
			}
			all := tok.EncodeWith(s, EncodeOptions{AllSpecial: true})
			dec := tok.Decode(all, true)
			streamed := streamDecode(tok.NewStreamDecoder(true), all)
			if streamed != dec {
				t.Fatalf("stream %q != Decode %q", streamed, dec)
			}
			if !tok.Legacy() && !strings.HasPrefix(s, " ") {
				prefix := " "
				if s == "" {
					prefix = ""
				}
				for _, a := range tok.added {
					if strings.HasPrefix(s, a.content) {
						prefix = ""
					}
				}
				if got := tok.Decode(all, false); got != "<s>"+prefix+s {
					t.Fatalf("Decode(EncodeWith(%q, AllSpecial), false) = %q", s, got)
				}
			}
		}
	})
}
