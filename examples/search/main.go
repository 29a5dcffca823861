// Command search finds the images of a folder that best match a text, with
// CLIP. The index is saved so that later searches embed only the images
// added or changed since.
//
//	go run ./examples/search -dir ~/Pictures -index pictures.idx "a red bicycle"
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/goformer/goformer"
)

func main() {
	modelID := flag.String("model", goformer.DefaultModel(goformer.TaskSearch), "Hub id or local model directory")
	dir := flag.String("dir", ".", "folder of images")
	indexPath := flag.String("index", "", "index file of the folder: built and saved the first time, then kept up to date (optional)")
	k := flag.Int("k", 5, "number of results")
	flag.Parse()
	log.SetFlags(0)
	query := strings.Join(flag.Args(), " ")
	ctx := context.Background()

	s, model, err := goformer.LoadAs[goformer.Searcher](ctx, *modelID)
	if err != nil {
		log.Fatal(err)
	}
	defer model.Close()

	skip := func(path string, err error) error { // keep going past unreadable files
		fmt.Fprintf(os.Stderr, "skipping %v\n", err)
		return nil
	}
	opt := goformer.IndexOptions{OnError: skip}
	var ix goformer.Index
	if *indexPath == "" {
		ix, err = s.IndexDir(ctx, *dir, opt)
	} else {
		// Built the first time; afterwards only new and changed images are
		// embedded. An index of another folder or model is refused.
		var changes goformer.IndexChanges
		ix, changes, err = s.OpenIndex(ctx, *indexPath, *dir, opt)
		if errors.Is(err, goformer.ErrIndexRoot) || errors.Is(err, goformer.ErrIndexMismatch) {
			log.Fatalf("%v\n(delete %s, or give another -index, to build a new index)", err, *indexPath)
		}
		if err == nil && changes.Changed() {
			fmt.Fprintf(os.Stderr, "index: %d added, %d updated, %d removed\n", changes.Added, changes.Updated, changes.Removed)
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
