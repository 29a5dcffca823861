package blip_test

import (
	"context"
	"fmt"
	"image"
	"log"

	"github.com/goformer/goformer"
	"github.com/goformer/goformer/blip"
)

// Captioning an image, unconditionally and continuing a prefix, with a
// model directory downloaded from the Hub (Salesforce/blip-image-captioning-large).
func ExampleModel_CaptionWithPrefix() {
	m, err := blip.Load("models/blip-image-captioning-large")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	img, err := goformer.DecodeImageFile("cat.jpg")
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	caps, err := m.Caption(ctx, []image.Image{img}, blip.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(caps[0].Text)
	caps, err = m.CaptionWithPrefix(ctx, []image.Image{img}, "a photography of", blip.Options{NumBeams: 3, MaxNewTokens: 30})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(caps[0].Text)
}

// Answering a question about an image with Salesforce/blip-vqa-base.
func ExampleModel_Answer() {
	m, err := blip.Load("models/blip-vqa-base")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	img, err := goformer.DecodeImageFile("cat.jpg")
	if err != nil {
		log.Fatal(err)
	}
	ans, err := m.Answer(context.Background(), []image.Image{img}, []string{"how many cats are there?"}, blip.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ans[0].Text)
}
