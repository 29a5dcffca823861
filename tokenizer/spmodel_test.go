package tokenizer

import (
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/goformer/goformer/internal/testdata"
)

// encodeSPModel serializes a model as a sentencepiece.ModelProto, writing
// every field this package reads (tests and fuzz seeds).
func encodeSPModel(m *SentencePieceModel) []byte {
	var b []byte
	for _, p := range m.Pieces {
		var pb []byte
		pb = protowire.AppendTag(pb, 1, protowire.BytesType)
		pb = protowire.AppendString(pb, p.Piece)
		pb = protowire.AppendTag(pb, 2, protowire.Fixed32Type)
		pb = protowire.AppendFixed32(pb, math.Float32bits(p.Score))
		pb = protowire.AppendTag(pb, 3, protowire.VarintType)
		pb = protowire.AppendVarint(pb, uint64(int64(p.Type)))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, pb)
	}
	varint := func(dst []byte, num protowire.Number, v uint64) []byte {
		dst = protowire.AppendTag(dst, num, protowire.VarintType)
		return protowire.AppendVarint(dst, v)
	}
	str := func(dst []byte, num protowire.Number, s string) []byte {
		dst = protowire.AppendTag(dst, num, protowire.BytesType)
		return protowire.AppendString(dst, s)
	}
	bit := func(v bool) uint64 {
		if v {
			return 1
		}
		return 0
	}
	tr := m.Trainer
	var tb []byte
	tb = varint(tb, 3, uint64(int64(tr.ModelType)))
	tb = varint(tb, 4, uint64(int64(tr.VocabSize)))
	tb = varint(tb, 24, bit(tr.TreatWhitespaceAsSuffix))
	tb = varint(tb, 25, bit(tr.SplitDigits))
	tb = varint(tb, 35, bit(tr.ByteFallback))
	tb = varint(tb, 40, uint64(int64(tr.UnkID)))
	tb = varint(tb, 41, uint64(int64(tr.BosID)))
	tb = varint(tb, 42, uint64(int64(tr.EosID)))
	tb = varint(tb, 43, uint64(int64(tr.PadID)))
	tb = str(tb, 45, tr.UnkPiece)
	tb = str(tb, 46, tr.BosPiece)
	tb = str(tb, 47, tr.EosPiece)
	tb = str(tb, 48, tr.PadPiece)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, tb)
	n := m.Normalizer
	var nb []byte
	nb = str(nb, 1, n.Name)
	if len(n.PrecompiledCharsmap) > 0 {
		nb = protowire.AppendTag(nb, 2, protowire.BytesType)
		nb = protowire.AppendBytes(nb, n.PrecompiledCharsmap)
	}
	nb = varint(nb, 3, bit(n.AddDummyPrefix))
	nb = varint(nb, 4, bit(n.RemoveExtraWhitespaces))
	nb = varint(nb, 5, bit(n.EscapeWhitespaces))
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendBytes(b, nb)
	return b
}

// tinySPModel is a small Llama-like BPE model: <unk>, <s>, </s>, the 256
// byte pieces, then normal pieces by decreasing score, and one
// user-defined piece.
func tinySPModel() *SentencePieceModel {
	m := &SentencePieceModel{
		Trainer: SPTrainerSpec{ModelType: SPBPE, VocabSize: 0, ByteFallback: true, UnkID: 0, BosID: 1, EosID: 2, PadID: -1,
			UnkPiece: "<unk>", BosPiece: "<s>", EosPiece: "</s>", PadPiece: "<pad>"},
		Normalizer: SPNormalizerSpec{Name: "identity", AddDummyPrefix: true, EscapeWhitespaces: true},
	}
	m.Pieces = append(m.Pieces, SPPiece{"<unk>", 0, PieceUnknown}, SPPiece{"<s>", 0, PieceControl}, SPPiece{"</s>", 0, PieceControl})
	for b := 0; b < 256; b++ {
		m.Pieces = append(m.Pieces, SPPiece{bytePiece(byte(b)), 0, PieceByte})
	}
	for i, p := range []string{"▁a", "ab", "▁ab", "bc", "▁▁", "▁c", "ca", "▁", "a", "b", "c", "é"} {
		m.Pieces = append(m.Pieces, SPPiece{p, -float32(i), PieceNormal})
	}
	m.Pieces = append(m.Pieces, SPPiece{"<sep>", 0, PieceUserDefined})
	m.Trainer.VocabSize = len(m.Pieces)
	return m
}

func TestParseSentencePieceModel_roundTrip(t *testing.T) {
	m := tinySPModel()
	got, err := ParseSentencePieceModel(encodeSPModel(m))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Pieces, m.Pieces) || got.Trainer != m.Trainer ||
		got.Normalizer.Name != m.Normalizer.Name || got.Normalizer.AddDummyPrefix != m.Normalizer.AddDummyPrefix ||
		got.Normalizer.RemoveExtraWhitespaces || !got.Normalizer.EscapeWhitespaces {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
	}
	// Defaults of an empty message.
	empty, err := ParseSentencePieceModel(nil)
	if err != nil {
		t.Fatal(err)
	}
	if empty.Trainer.ModelType != SPUnigram || empty.Trainer.PadID != -1 || empty.Trainer.EosID != 2 ||
		!empty.Normalizer.AddDummyPrefix || !empty.Normalizer.RemoveExtraWhitespaces || !empty.Normalizer.EscapeWhitespaces {
		t.Fatalf("defaults: %+v", empty)
	}
}

// TestParseSentencePieceModel_llama reads the real Llama tokenizer.model.
func TestParseSentencePieceModel_llama(t *testing.T) {
	m, err := ReadSentencePieceModel(testdata.Path(t, "vocab", "llama", "tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Trainer.ModelType != SPBPE || !m.Trainer.ByteFallback || m.Trainer.VocabSize != len(m.Pieces) {
		t.Errorf("trainer spec %+v with %d pieces", m.Trainer, len(m.Pieces))
	}
	if m.Trainer.UnkID != 0 || m.Trainer.BosID != 1 || m.Trainer.EosID != 2 || m.Trainer.PadID != -1 {
		t.Errorf("special ids %+v", m.Trainer)
	}
	if m.Normalizer.Name != "identity" || len(m.Normalizer.PrecompiledCharsmap) != 0 || !m.Normalizer.AddDummyPrefix ||
		m.Normalizer.RemoveExtraWhitespaces || !m.Normalizer.EscapeWhitespaces {
		t.Errorf("normalizer spec %+v", m.Normalizer)
	}
	count := map[PieceType]int{}
	for id, p := range m.Pieces {
		count[p.Type]++
		if p.Type == PieceByte {
			if b, ok := parseBytePiece(p.Piece); !ok || p.Piece != bytePiece(b) {
				t.Errorf("byte piece %d: %q", id, p.Piece)
			}
		}
	}
	if count[PieceByte] != 256 || count[PieceControl] != 2 || count[PieceUnknown] != 1 ||
		count[PieceNormal] != len(m.Pieces)-259 {
		t.Errorf("piece types %v", count)
	}
	if m.Pieces[m.Trainer.UnkID].Piece != m.Trainer.UnkPiece || m.Pieces[m.Trainer.BosID].Piece != m.Trainer.BosPiece {
		t.Errorf("special pieces %q %q", m.Pieces[0].Piece, m.Pieces[1].Piece)
	}
}

func TestParseSentencePieceModel_errors(t *testing.T) {
	good := encodeSPModel(tinySPModel())
	for name, b := range map[string][]byte{
		"truncated":        good[:len(good)-3],
		"huge length":      {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad tag":          {0x00},
		"end group":        {0x0c},
		"bad varint":       {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"truncated piece":  {0x0a, 0x03, 0x0a, 0x05, 'a'},
		"truncated score":  {0x0a, 0x03, 0x15, 0x00, 0x00},
		"truncated fixed":  {0x11, 0x00},
		"unclosed group":   {0x0b, 0x08, 0x01},
		"truncated nested": {0x12, 0x02, 0x18},
	} {
		if _, err := ParseSentencePieceModel(b); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: err = %v, want ErrFormat", name, err)
		}
	}
	// Unknown fields and groups are skipped.
	extra := append([]byte{0x58, 0x07, 0x63, 0x08, 0x01, 0x64, 0x7d, 0, 0, 0, 0}, good...)
	if m, err := ParseSentencePieceModel(extra); err != nil || len(m.Pieces) != len(tinySPModel().Pieces) {
		t.Errorf("unknown fields: %v", err)
	}
}

func TestNewSentencePiece_tiny(t *testing.T) {
	m := tinySPModel()
	cfg := DefaultSentencePieceConfig()
	cfg.Legacy = false
	cfg.Added = []AddedToken{{Content: "<image>", ID: -1, Special: true}}
	tok, err := NewSentencePiece(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	id := func(s string) int {
		i, ok := tok.ID(s)
		if !ok {
			t.Fatalf("no token %q", s)
		}
		return i
	}
	img := id("<image>")
	if img != len(m.Pieces) || tok.VocabSize() != len(m.Pieces)+1 || !tok.IsSpecial(img) || tok.IsSpecial(id("<sep>")) {
		t.Fatalf("<image> = %d, vocab %d", img, tok.VocabSize())
	}
	all := EncodeOptions{AllSpecial: true}
	for _, c := range []struct {
		text string
		opt  EncodeOptions
		want []string
	}{
		{"ab", all, []string{"<s>", "▁ab"}},
		{"abc", all, []string{"<s>", "▁ab", "c"}},
		{"bca", all, []string{"<s>", "▁", "bc", "a"}},
		// legacy=false as the slow tokenizer: one "▁" before the text,
		// which stays a piece of its own before a leading space.
		{" a  ab", all, []string{"<s>", "▁", "▁a", "▁", "▁ab"}},
		{"  c", all, []string{"<s>", "▁▁", "▁c"}},
		{"<image>ab", all, []string{"<s>", "<image>", "ab"}},
		{"<image> ab", all, []string{"<s>", "<image>", "▁ab"}},
		{"a<sep>b", all, []string{"<s>", "▁a", "<sep>", "b"}},
		{"a<sep>b", EncodeOptions{}, []string{"<s>", "▁a", "<0x3C>", "<0x73>", "<0x65>", "<0x70>", "<0x3E>", "b"}},
		{"xé\xff", all, []string{"<s>", "▁", "<0x78>", "é", "<0xFF>"}},
		{"", all, []string{"<s>"}},
		{"ab", EncodeOptions{NoFraming: true}, []string{"▁ab"}},
	} {
		ids := tok.EncodeWith(c.text, c.opt)
		var got []string
		for _, i := range ids {
			got = append(got, tok.Token(i))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("EncodeWith(%q, %+v) = %q, want %q", c.text, c.opt, got, c.want)
		}
	}
	if got := tok.Decode(tok.EncodeWith("<image> ab c", all), true); got != "ab c" {
		t.Errorf("decode after special: %q", got)
	}
	if got := tok.Decode(tok.EncodeWith("ab c", all), false); got != "<s> ab c" {
		t.Errorf("decode with <s>: %q", got)
	}
	// An invalid byte run decodes to one U+FFFD per byte, as the tokenizers
	// library does.
	if got := tok.Decode([]int{id("<0xE4>"), id("<0xBD>"), id("a")}, false); got != "\uFFFD\uFFFDa" {
		t.Errorf("invalid bytes: %q", got)
	}

	// Legacy: text after a special token gets "▁" too.
	cfg.Legacy = true
	legacy, err := NewSentencePiece(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := legacy.Tokenize("<image>ab", all)
	if !slices.Equal(got, []string{"<image>", "▁ab"}) {
		t.Errorf("legacy: %q", got)
	}
	// Without add_prefix_space no "▁" is added and Decode keeps spaces.
	cfg.AddPrefixSpace = false
	raw, err := NewSentencePiece(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := raw.Tokenize("ab", all); !slices.Equal(got, []string{"ab"}) {
		t.Errorf("no prefix space: %q", got)
	}
	if got := raw.Decode(raw.Encode(" ab"), true); got != " ab" {
		t.Errorf("no prefix space decode: %q", got)
	}
}

func TestNewSentencePiece_refuses(t *testing.T) {
	uni := tinySPModel()
	uni.Trainer.ModelType = SPUnigram
	charsmap := tinySPModel()
	charsmap.Normalizer.Name = "nmt_nfkc"
	charsmap.Normalizer.PrecompiledCharsmap = []byte{1, 2, 3, 4}
	dup := tinySPModel()
	dup.Pieces = append(dup.Pieces, dup.Pieces[len(dup.Pieces)-2])
	badByte := tinySPModel()
	badByte.Pieces[10].Piece = "<0xZZ>"
	badType := tinySPModel()
	badType.Pieces[262].Type = 9
	emptyPiece := tinySPModel()
	emptyPiece.Pieces[262].Piece = ""
	for _, c := range []struct {
		name string
		m    *SentencePieceModel
		want error
	}{
		{"unigram", uni, ErrUnsupported},
		{"charsmap", charsmap, ErrUnsupported},
		{"duplicate", dup, ErrFormat},
		{"bad byte piece", badByte, ErrFormat},
		{"bad type", badType, ErrFormat},
		{"empty piece", emptyPiece, ErrFormat},
		{"no pieces", &SentencePieceModel{Trainer: SPTrainerSpec{ModelType: SPBPE}}, ErrFormat},
	} {
		_, err := NewSentencePiece(c.m, DefaultSentencePieceConfig())
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		} else if c.name == "charsmap" && !strings.Contains(err.Error(), "nmt_nfkc") {
			t.Errorf("charsmap error does not name the normalizer: %v", err)
		}
	}
	cfg := DefaultSentencePieceConfig()
	cfg.Added = []AddedToken{{Content: "<image>", ID: 5}}
	if _, err := NewSentencePiece(tinySPModel(), cfg); !errors.Is(err, ErrFormat) {
		t.Errorf("added token over a piece: %v", err)
	}
	cfg = DefaultSentencePieceConfig()
	cfg.BOS = "<bos>"
	if _, err := NewSentencePiece(tinySPModel(), cfg); !errors.Is(err, ErrFormat) {
		t.Errorf("missing bos: %v", err)
	}
}

func TestLoadLlama_errors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadLlama(dir); !errors.Is(err, ErrFormat) {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := LoadLlama(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing dir: no error")
	}
}
