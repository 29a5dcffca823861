//go:build ignore

// gen_go encodes a PNG with Go's image/jpeg (make_corpus.sh runs it with
// go run): gen_go in.png out.jpg quality [gray].
package main

import (
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
	"os"
	"strconv"
)

func main() {
	f, err := os.Open(os.Args[1])
	if err != nil {
		panic(err)
	}
	img, err := png.Decode(f)
	if err != nil {
		panic(err)
	}
	q, err := strconv.Atoi(os.Args[3])
	if err != nil {
		panic(err)
	}
	if len(os.Args) > 4 && os.Args[4] == "gray" {
		g := image.NewGray(img.Bounds())
		draw.Draw(g, g.Rect, img, img.Bounds().Min, draw.Src)
		img = g
	}
	out, err := os.Create(os.Args[2])
	if err != nil {
		panic(err)
	}
	if err := jpeg.Encode(out, img, &jpeg.Options{Quality: q}); err != nil {
		panic(err)
	}
	if err := out.Close(); err != nil {
		panic(err)
	}
}
