// Command caption describes images with any captioning model (BLIP,
// BLIP-2, ViT-GPT2, LLaVA).
//
//	go run ./examples/caption -model Salesforce/blip-image-captioning-large cat.jpg
package main

import (
	"context"
	"flag"
	"fmt"
	"log"

	"github.com/goformer/goformer"
)

func main() {
	modelID := flag.String("model", goformer.DefaultModel(goformer.TaskCaption), "Hub id or local model directory")
	prefix := flag.String("prefix", "", `text the caption continues, e.g. "a photography of" (BLIP)`)
	beams := flag.Int("beams", 0, "beam-search width (0: the checkpoint's setting)")
	maxTokens := flag.Int("max-tokens", 0, "most tokens to generate (0: the checkpoint's setting)")
	flag.Parse()
	log.SetFlags(0)
	ctx := context.Background()

	c, model, err := goformer.LoadAs[goformer.Captioner](ctx, *modelID)
	if err != nil {
		log.Fatal(err)
	}
	defer model.Close()
	opt := goformer.CaptionOptions{Prompt: *prefix, Beams: *beams, MaxNewTokens: *maxTokens}
	for _, path := range flag.Args() {
		img, err := goformer.DecodeImageFile(path)
		if err != nil {
			log.Fatal(err)
		}
		res, err := c.Caption(ctx, img, opt)
		if err != nil {
			log.Fatalf("%s: %v", path, err)
		}
		fmt.Printf("%s: %s\n", path, res.Text)
	}
}
