package blip2_test

import (
	"context"
	"fmt"
	"image"
	"log"
	"path/filepath"

	"github.com/goformer/goformer"
	"github.com/goformer/goformer/blip2"
	"github.com/goformer/goformer/tokenizer"
)

// Captioning an image and answering a question about it, on the test
// fixture (a random-weight BLIP-2 with OPT's real tokenizer: the texts are
// gibberish). A Hub download of Salesforce/blip2-opt-2.7b loads the same
// way.
func ExampleModel_Caption() {
	shared := filepath.Join("..", "..", "shared")
	m, err := blip2.Load(filepath.Join(shared, "fixtures", "blip2", "model"))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	img, err := goformer.DecodeImageFile(filepath.Join(shared, "media", "images", "chelsea.png"))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	r, err := m.Caption(ctx, img, "", blip2.Options{MaxNewTokens: 12})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q %v\n", r.Text, r.IDs) // ids: the placeholder </s>, then the new tokens

	r, err = m.Caption(ctx, img, "a photo of", blip2.Options{NumBeams: 3})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("a photo of%s\n", r.Text)

	// Streaming an answer as it is generated.
	dec := m.Tokenizer().NewStreamDecoder(true)
	opt := blip2.Options{MaxNewTokens: 10, OnToken: func(id int) { fmt.Print(dec.Push(id)) }}
	if _, err := m.Answer(ctx, img, "what is in the picture?", opt); err != nil {
		log.Fatal(err)
	}
	fmt.Println(dec.Flush())
}

// Several questions about one image: the image side (vision tower,
// Q-Former, projection) runs once, the language model once per question.
func ExampleModel_GenerateFromInputs() {
	shared := filepath.Join("..", "..", "shared")
	m, err := blip2.Load(filepath.Join(shared, "fixtures", "blip2", "model"))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	img, err := goformer.DecodeImageFile(filepath.Join(shared, "media", "images", "coffee.png"))
	if err != nil {
		log.Fatal(err)
	}
	px, err := m.PixelValues([]image.Image{img})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	f, err := m.Encode(ctx, px)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Release()
	opt := m.DefaultOptions()
	opt.MaxNewTokens, opt.MaxLength = 10, 0
	for _, q := range []string{"what is in the cup?", "is it hot?"} {
		prompt := m.Tokenizer().EncodeWith(blip2.QuestionPrompt(q), tokenizer.EncodeOptions{AllSpecial: true})
		out, err := m.GenerateFromInputs(ctx, f.LanguageInputs, [][]int{prompt}, opt)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(q, m.Tokenizer().Decode(out[0], true))
	}
}
