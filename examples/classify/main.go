// Command classify labels images with a ViT image classifier.
//
//	go run ./examples/classify -model google/vit-base-patch16-224 cat.jpg
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"

	"github.com/goformer/goformer/hub"
	"github.com/goformer/goformer/vit"
)

func main() {
	modelID := flag.String("model", "google/vit-base-patch16-224", "Hub id or local model directory")
	k := flag.Int("k", 3, "classes to print per image")
	flag.Parse()
	log.SetFlags(0)
	ctx := context.Background()

	// Resolve downloads the model into the Hugging Face cache (or returns a
	// local directory as it is).
	dir, err := hub.Resolve(ctx, *modelID)
	if err != nil {
		log.Fatal(err)
	}
	model, err := vit.Load(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer model.Close()

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
		preds, err := model.Classify(ctx, img, *k)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(path)
		for _, p := range preds {
			fmt.Printf("  %.4f  %s\n", p.Score, p.Label)
		}
	}
}
