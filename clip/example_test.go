package clip_test

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log"
	"os"

	"github.com/goformer/goformer"
	"github.com/goformer/goformer/clip"
)

// Zero-shot classification of one image with prompts.
func ExampleModel_ZeroShot() {
	m, err := clip.Load("clip-vit-base-patch32") // a Hub-layout directory, or ViT-B-32.pt
	if err != nil {
		log.Fatal(err)
	}
	img, err := goformer.DecodeImageFile("cat.jpg")
	if err != nil {
		log.Fatal(err)
	}
	labels := []string{"cat", "dog", "car", "astronaut", "cup of coffee"}
	top, err := m.ZeroShot(context.Background(), img, labels, clip.ZeroShotOptions{Template: "a photo of a {label}", TopK: 5})
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range top {
		fmt.Printf("%-14s %5.1f%%\n", l.Label, 100*l.Probability)
	}
}

// Text-to-image search: embed a folder once, save the index, query it.
func ExampleModel_SearchText() {
	ctx := context.Background()
	m, err := clip.Load("clip-vit-base-patch32")
	if err != nil {
		log.Fatal(err)
	}
	ix, err := m.IndexDir(ctx, "photos", clip.IndexOptions{
		Progress: func(done, total int) { fmt.Fprintf(os.Stderr, "\r%d/%d", done, total) },
		OnError:  func(path string, err error) error { log.Printf("skipping %s: %v", path, err); return nil },
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := ix.Save("photos.gfclip"); err != nil {
		log.Fatal(err)
	}

	// Later, possibly in another process:
	ix, err = m.LoadIndex("photos.gfclip") // refuses an index made by another model
	if err != nil {
		log.Fatal(err)
	}
	hits, err := m.SearchText(ctx, ix, "a dog playing in the snow", 5)
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range hits {
		fmt.Printf("%.3f %s\n", h.Score, h.ID)
	}
}

// An index file kept in step with its folder: built the first time,
// afterwards only new and changed images are embedded and deleted ones
// dropped. An index of another folder is refused (clip.ErrIndexRoot).
func ExampleModel_OpenIndex() {
	ctx := context.Background()
	m, err := clip.Load("clip-vit-base-patch32")
	if err != nil {
		log.Fatal(err)
	}
	ix, changes, err := m.OpenIndex(ctx, "photos.gfclip", "photos", clip.IndexOptions{
		OnError: func(path string, err error) error { log.Printf("skipping %s: %v", path, err); return nil },
	})
	if errors.Is(err, clip.ErrIndexRoot) {
		log.Fatalf("%v (delete the index file to rebuild it)", err)
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d images of %s: %d added, %d updated, %d removed\n", ix.Len(), ix.Root(), changes.Added, changes.Updated, changes.Removed)
}

// A similarity matrix between captions and images.
func ExampleModel_Similarity() {
	ctx := context.Background()
	m, err := clip.Load("clip-vit-base-patch32")
	if err != nil {
		log.Fatal(err)
	}
	var imgs []image.Image
	for _, name := range []string{"cat.jpg", "diagram.png"} {
		img, err := goformer.DecodeImageFile(name)
		if err != nil {
			log.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	s, err := m.Similarity(ctx, []string{"a photo of a cat", "a diagram", "a sunset"}, imgs)
	if err != nil {
		log.Fatal(err)
	}
	for i, row := range s.ProbsPerImage {
		fmt.Println(i, row)
	}
}
