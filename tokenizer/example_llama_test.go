package tokenizer_test

import (
	"fmt"
	"log"
	"path/filepath"

	"github.com/goformer/goformer/tokenizer"
)

// A tiny SentencePiece BPE model built in memory: pieces merge by score,
// characters outside the vocabulary fall back to their bytes.
func ExampleNewSentencePiece() {
	m := &tokenizer.SentencePieceModel{Trainer: tokenizer.SPTrainerSpec{ModelType: tokenizer.SPBPE, ByteFallback: true, UnkPiece: "<unk>"}}
	m.Pieces = append(m.Pieces,
		tokenizer.SPPiece{Piece: "<unk>", Type: tokenizer.PieceUnknown},
		tokenizer.SPPiece{Piece: "<s>", Type: tokenizer.PieceControl},
		tokenizer.SPPiece{Piece: "</s>", Type: tokenizer.PieceControl})
	for b := 0; b < 256; b++ {
		m.Pieces = append(m.Pieces, tokenizer.SPPiece{Piece: fmt.Sprintf("<0x%02X>", b), Type: tokenizer.PieceByte})
	}
	for i, p := range []string{"▁h", "▁hi", "▁", "h", "i"} {
		m.Pieces = append(m.Pieces, tokenizer.SPPiece{Piece: p, Score: -float32(i), Type: tokenizer.PieceNormal})
	}
	cfg := tokenizer.DefaultSentencePieceConfig()
	cfg.Legacy = false
	cfg.Added = []tokenizer.AddedToken{{Content: "<image>", ID: -1, Special: true}}
	tok, err := tokenizer.NewSentencePiece(m, cfg)
	if err != nil {
		log.Fatal(err)
	}
	all := tokenizer.EncodeOptions{AllSpecial: true}
	fmt.Println(tok.Tokenize("hi <image>hi!", all))
	ids := tok.EncodeWith("hi <image>hi!", all)
	fmt.Println(ids)
	fmt.Printf("%q %q\n", tok.Decode(ids, true), tok.Decode(ids, false))
	// Output:
	// [▁hi ▁ <image> h i <0x21>]
	// [1 260 261 264 262 263 36]
	// "hi hi!" "<s> hi <image>hi!"
}

func ExampleLoadLlama() {
	tok, err := tokenizer.LoadLlama(filepath.Join("..", "..", "shared", "fixtures", "llava", "model"))
	if err != nil {
		log.Fatal(err)
	}
	ids := tok.EncodeWith("USER: <image>\nWhat is shown? ASSISTANT:", tokenizer.EncodeOptions{AllSpecial: true})
	image, _ := tok.ID("<image>")
	fmt.Println(ids, image, tok.Legacy())
	fmt.Println(tok.Decode(ids, true))
}

func ExampleLoadOPT() {
	opt, err := tokenizer.LoadOPT(filepath.Join("..", "..", "shared", "vocab", "opt"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(opt.EncodeWith("Question: what is in the picture? Answer:", tokenizer.EncodeOptions{AllSpecial: true}))
}
