// Command vqa answers a question about an image with BLIP.
//
//	go run ./examples/vqa -question "what animal is this?" cat.jpg
package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"log"
	"os"

	"github.com/goformer/goformer/blip"
	"github.com/goformer/goformer/hub"
	"github.com/goformer/goformer/vit"
)

func main() {
	modelID := flag.String("model", "Salesforce/blip-vqa-base", "Hub id or local model directory")
	question := flag.String("question", "what is in the picture?", "the question")
	maxTokens := flag.Int("max-tokens", 0, "most tokens to generate (0: the checkpoint's setting)")
	flag.Parse()
	log.SetFlags(0)
	if flag.NArg() != 1 {
		log.Fatal("usage: vqa [-model ID] -question TEXT IMAGE")
	}
	ctx := context.Background()

	dir, err := hub.Resolve(ctx, *modelID)
	if err != nil {
		log.Fatal(err)
	}
	model, err := blip.Load(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer model.Close()

	f, err := os.Open(flag.Arg(0))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	img, err := vit.DecodeImage(f)
	if err != nil {
		log.Fatalf("%s: %v", flag.Arg(0), err)
	}
	answers, err := model.Answer(ctx, []image.Image{img}, []string{*question}, blip.Options{MaxNewTokens: *maxTokens})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(answers[0].Text)
}
