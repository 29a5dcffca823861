// Command classify labels images with an image classifier (ViT).
//
//	go run ./examples/classify -model google/vit-base-patch16-224 cat.jpg
package main

import (
	"context"
	"flag"
	"fmt"
	"log"

	"github.com/goformer/goformer"
)

func main() {
	modelID := flag.String("model", goformer.DefaultModel(goformer.TaskClassify), "Hub id or local model directory")
	k := flag.Int("k", 3, "classes to print per image")
	flag.Parse()
	log.SetFlags(0)
	ctx := context.Background()

	// LoadAs downloads the model into the Hugging Face cache (or reads a
	// local folder as it is), picks the family from its config.json and
	// returns the model as a Classifier (an error for a model that does not
	// classify); model is what to close.
	c, model, err := goformer.LoadAs[goformer.Classifier](ctx, *modelID)
	if err != nil {
		log.Fatal(err)
	}
	defer model.Close()
	for _, path := range flag.Args() {
		img, err := goformer.DecodeImageFile(path)
		if err != nil {
			log.Fatal(err)
		}
		preds, err := c.Classify(ctx, img, goformer.ClassifyOptions{TopK: *k})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(path)
		for _, p := range preds {
			fmt.Printf("  %.4f  %s\n", p.Score, p.Label)
		}
	}
}
