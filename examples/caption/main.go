// Command caption describes images with BLIP.
//
//	go run ./examples/caption -model Salesforce/blip-image-captioning-large cat.jpg
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
	modelID := flag.String("model", "Salesforce/blip-image-captioning-large", "Hub id or local model directory")
	prefix := flag.String("prefix", "", `text the caption continues, e.g. "a photography of"`)
	beams := flag.Int("beams", 0, "beam-search width (0: the checkpoint's setting)")
	maxTokens := flag.Int("max-tokens", 0, "most tokens to generate (0: the checkpoint's setting)")
	flag.Parse()
	log.SetFlags(0)
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

	var imgs []image.Image
	for _, path := range flag.Args() {
		f, err := os.Open(path)
		if err != nil {
			log.Fatal(err)
		}
		img, err := vit.DecodeImage(f)
		f.Close()
		if err != nil {
			log.Fatalf("%s: %v", path, err)
		}
		imgs = append(imgs, img)
	}
	opts := blip.Options{NumBeams: *beams, MaxNewTokens: *maxTokens}
	var caps []blip.Caption
	if *prefix != "" {
		caps, err = model.CaptionWithPrefix(ctx, imgs, *prefix, opts)
	} else {
		caps, err = model.Caption(ctx, imgs, opts)
	}
	if err != nil {
		log.Fatal(err)
	}
	for i, c := range caps {
		fmt.Printf("%s: %s\n", flag.Arg(i), c.Text)
	}
}
