package vit_test

import (
	"context"
	"fmt"
	"log"

	"github.com/goformer/goformer"
	"github.com/goformer/goformer/tensor"
	"github.com/goformer/goformer/vit"
)

func ExampleTopK() {
	logits := tensor.MustFromData([]float32{0.5, 2.0, -1.0, 1.0}, 1, 4)
	for _, p := range vit.TopK(logits, []string{"tabby cat", "astronaut", "coffee mug", "rocket"}, 2)[0] {
		fmt.Printf("%s %d %.3f\n", p.Label, p.Index, p.Score)
	}
	// Output:
	// astronaut 1 0.609
	// rocket 3 0.224
}

// Classifying a photo with a checkpoint directory (for example a snapshot of
// google/vit-base-patch16-224).
func ExampleLoad() {
	m, err := vit.Load("path/to/vit-base-patch16-224")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	img, err := goformer.DecodeImageFile("cat.jpg")
	if err != nil {
		log.Fatal(err)
	}
	preds, err := m.Classify(context.Background(), img, 3)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range preds {
		fmt.Printf("%-20s %.3f\n", p.Label, p.Score)
	}
}
