package gpt2_test

import (
	"context"
	"fmt"
	"log"

	"github.com/goformer/goformer"
	"github.com/goformer/goformer/gpt2"
)

// Caption an image with a ViT-GPT2 checkpoint downloaded from the Hub
// (nlpconnect/vit-gpt2-image-captioning), with the generation settings its
// model card suggests.
func ExampleCaptioner_Caption() {
	c, err := gpt2.LoadCaptioner("models/vit-gpt2-image-captioning")
	if err != nil {
		log.Fatal(err)
	}
	img, err := goformer.DecodeImageFile("cat.jpg")
	if err != nil {
		log.Fatal(err)
	}
	caption, err := c.Caption(context.Background(), img, gpt2.CaptionOptions{MaxNewTokens: 15, Beams: 4})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(caption.Text)
}
