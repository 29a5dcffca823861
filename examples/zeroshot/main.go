// Command zeroshot ranks free-text labels for an image with CLIP.
//
//	go run ./examples/zeroshot -labels "a diagram,a dog,a cat" CLIP.png
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"strings"

	"github.com/goformer/goformer"
)

func main() {
	modelID := flag.String("model", goformer.DefaultModel(goformer.TaskZeroShot), "Hub id or local model directory")
	labels := flag.String("labels", "a photo of a cat,a photo of a dog", "comma-separated labels")
	template := flag.String("template", "", `optional prompt template, e.g. "a photo of {label}"`)
	flag.Parse()
	log.SetFlags(0)
	if flag.NArg() != 1 {
		log.Fatal("usage: zeroshot [-model ID] [-labels a,b,c] IMAGE")
	}
	ctx := context.Background()

	z, model, err := goformer.LoadAs[goformer.ZeroShotClassifier](ctx, *modelID)
	if err != nil {
		log.Fatal(err)
	}
	defer model.Close()
	img, err := goformer.DecodeImageFile(flag.Arg(0))
	if err != nil {
		log.Fatal(err)
	}
	scores, err := z.ZeroShot(ctx, img, strings.Split(*labels, ","), goformer.ZeroShotOptions{Template: *template})
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range scores { // most probable first
		fmt.Printf("%.4f  %s\n", s.Probability, s.Label)
	}
}
