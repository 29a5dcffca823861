// Command search indexes a folder of images with CLIP (saving the index
// when -index is given, reusing it next time) and prints the images most
// similar to a text query.
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

	"github.com/goformer/goformer"
)

func main() {
	modelID := flag.String("model", goformer.DefaultModel(goformer.TaskSearch), "Hub id or local model directory")
	dir := flag.String("dir", ".", "folder of images")
	indexPath := flag.String("index", "", "index file to load, or to save after indexing (optional)")
	k := flag.Int("k", 5, "number of results")
	flag.Parse()
	log.SetFlags(0)
	query := strings.Join(flag.Args(), " ")
	ctx := context.Background()

	model, err := goformer.Load(ctx, *modelID)
	if err != nil {
		log.Fatal(err)
	}
	defer model.Close()
	s, ok := model.(goformer.Searcher)
	if !ok {
		log.Fatalf("%s cannot search images", *modelID)
	}

	ix, err := s.OpenIndex(*indexPath) // checks that this model made it
	if *indexPath == "" || errors.Is(err, fs.ErrNotExist) {
		skip := func(path string, err error) error { // keep going past unreadable files
			fmt.Fprintf(os.Stderr, "skipping %v\n", err)
			return nil
		}
		ix, err = s.IndexDir(ctx, *dir, goformer.IndexOptions{OnError: skip})
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
	matches, err := ix.SearchText(ctx, query, *k)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range matches {
		fmt.Printf("%.4f  %s\n", m.Score, m.ID)
	}
}
