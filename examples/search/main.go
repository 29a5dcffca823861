// Command search finds the images of a folder that best match a text, with
// CLIP. The index is saved so that later searches need not embed the images
// again.
//
//	go run ./examples/search -dir ~/Pictures -index pictures.idx "a red bicycle"
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"strings"

	"github.com/goformer/goformer/clip"
	"github.com/goformer/goformer/hub"
)

func main() {
	modelID := flag.String("model", "openai/clip-vit-base-patch32", "Hub id or local model directory")
	dir := flag.String("dir", ".", "folder of images")
	indexPath := flag.String("index", "", "index file to load, or to save after indexing (optional)")
	k := flag.Int("k", 5, "number of results")
	flag.Parse()
	log.SetFlags(0)
	query := strings.Join(flag.Args(), " ")
	ctx := context.Background()

	modelDir, err := hub.Resolve(ctx, *modelID)
	if err != nil {
		log.Fatal(err)
	}
	model, err := clip.Load(modelDir)
	if err != nil {
		log.Fatal(err)
	}
	defer model.Close()

	ix, err := model.LoadIndex(*indexPath) // checks that this model made it
	if *indexPath == "" || errors.Is(err, fs.ErrNotExist) {
		skip := func(path string, err error) error { // keep going past unreadable files
			fmt.Fprintf(os.Stderr, "skipping %v\n", err)
			return nil
		}
		ix, err = model.IndexDir(ctx, *dir, clip.IndexOptions{OnError: skip})
		if err == nil && *indexPath != "" {
			err = ix.Save(*indexPath)
		}
	}
	if err != nil {
		log.Fatal(err)
	}
	if query == "" {
		fmt.Printf("%d images indexed\n", ix.Len())
		return
	}
	matches, err := model.SearchText(ctx, ix, query, *k)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range matches {
		fmt.Printf("%.4f  %s\n", m.Score, m.ID)
	}
}
