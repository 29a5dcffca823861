package tokenizer_test

import (
	"fmt"
	"log"
	"path/filepath"
	"strings"

	"github.com/goformer/goformer/tokenizer"
)

// A tiny GPT-2 style vocabulary: the tokens spelled in byte-level form ("Ġ"
// is a space) and the merges in rank order.
func ExampleNewByteLevelBPE() {
	vocab := map[string]int{"h": 0, "e": 1, "l": 2, "o": 3, "Ġ": 4, "he": 5, "ll": 6, "hell": 7, "hello": 8, "Ġhello": 9}
	merges := [][2]string{{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"Ġ", "hello"}}
	tok, err := tokenizer.NewByteLevelBPE(vocab, merges, []string{"<|endoftext|>"})
	if err != nil {
		log.Fatal(err)
	}
	ids := tok.Encode("hello hello")
	fmt.Println(ids, tok.Token(ids[1]))
	// Special tokens are text unless allowed.
	fmt.Println(tok.EncodeWith("hello<|endoftext|>", tokenizer.EncodeOptions{AllSpecial: true}))
	fmt.Printf("%q\n", tok.Decode([]int{8, 9, 10}, true))
	// Output:
	// [8 9] Ġhello
	// [8 10]
	// "hello hello"
}

func ExampleNewWordPiece() {
	tok, err := tokenizer.NewWordPiece([]string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s", "!"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Encode("Héllo WORLDS!"))
	fmt.Println(tok.Tokenize("Héllo WORLDS!", tokenizer.EncodeOptions{}))
	fmt.Println(tok.Decode(tok.Encode("Héllo WORLDS!"), true))
	// Output:
	// [2 5 6 7 8 3]
	// [hello world ##s !]
	// hello worlds!
}

// Streaming decode emits whole characters only: "é" is two bytes, here two
// tokens.
func ExampleStreamDecoder() {
	vocab := map[string]int{}
	for i, b := range []byte("caf\xc3\xa9") {
		vocab[tokenizer.ByteLevelToken([]byte{b})] = i
	}
	tok, err := tokenizer.NewByteLevelBPE(vocab, nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	sd := tok.NewStreamDecoder(true)
	var parts []string
	for _, id := range tok.Encode("café") {
		parts = append(parts, sd.Push(id))
	}
	parts = append(parts, sd.Flush())
	fmt.Printf("%q\n", parts)
	// Output:
	// ["c" "a" "f" "" "é" ""]
}

func ExampleLoadWhisper() {
	w, err := tokenizer.LoadWhisper(filepath.Join("..", "..", "shared", "vocab", "whisper"))
	if err != nil {
		log.Fatal(err)
	}
	prompt, _ := w.SOTSequence("english", tokenizer.TaskTranscribe, false)
	ids := w.Encode(" And so my fellow Americans")
	words, _ := w.SplitToWordTokens(ids)
	fmt.Println(prompt, ids, strings.Join(words, "|"))
	fmt.Println(w.Decode(append(append(prompt, ids...), w.EOT()), true))
}

func ExampleLoadWhisperTiktoken() {
	w, err := tokenizer.LoadWhisperTiktoken(filepath.Join("..", "..", "shared", "vocab", "whisper", "multilingual.tiktoken"), 99)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(w.Encode(" Hello world"), w.NonSpeechTokens()[:5])
}

func ExampleLoadCLIP() {
	c, err := tokenizer.LoadCLIP(filepath.Join("..", "..", "shared", "vocab", "clip"))
	if err != nil {
		log.Fatal(err)
	}
	ids, mask := c.EncodeBatch([]string{"a photo of a cat", "a photo of a dog"}, 0)
	fmt.Println(len(ids[0]), ids[0][:7], mask[0][:8])
}

func ExampleLoadWordPiece() {
	bert, err := tokenizer.LoadWordPiece(filepath.Join("..", "..", "shared", "fixtures", "blip-vqa", "model"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(bert.Encode("what is in the picture?"))
	dec, _ := bert.ID("[DEC]")
	fmt.Println(dec)
}

func ExampleLoadBPE() {
	gpt2, err := tokenizer.LoadBPE(filepath.Join("..", "..", "shared", "vocab", "gpt2"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(gpt2.Encode("a cat sitting on a couch"))
}

func ExampleLoadFromDir() {
	tok, err := tokenizer.LoadFromDir(filepath.Join("..", "..", "shared", "fixtures", "clip", "model"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%T %d\n", tok, tok.VocabSize())
}

func ExampleLoadTokenizerJSON() {
	tok, err := tokenizer.LoadTokenizerJSON(filepath.Join("model", "tokenizer.json"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Encode("Hello world"))
}
