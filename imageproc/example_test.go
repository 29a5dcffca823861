package imageproc_test

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"log"

	"github.com/goformer/goformer/imageproc"
)

func ExampleDecode() {
	// An in-memory PNG stands in for a file or an HTTP body.
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 640, 480)))

	img, err := imageproc.Decode(&buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(img.Bounds().Dx(), img.Bounds().Dy())

	// A header that declares a huge image is refused before decoding.
	_, err = imageproc.DecodeOptions{MaxPixels: 1000}.Decode(bytes.NewReader(pngBytes(100, 100)))
	fmt.Println(err)
	// Output:
	// 640 480
	// imageproc: image too large: PNG image of 100x100 = 10000 pixels exceeds the limit of 1000
}

func pngBytes(w, h int) []byte {
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h)))
	return buf.Bytes()
}

func ExampleProcessor_Preprocess() {
	// CLIP's processor: bicubic resize of the shortest edge to 224, center
	// crop to 224×224, rescale by 1/255, normalize with CLIP's mean and std.
	p, err := imageproc.NewProcessor(imageproc.DefaultProcessorConfig(imageproc.CLIPImageProcessorType))
	if err != nil {
		log.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for i := range img.Pix {
		img.Pix[i] = 255 // white
	}
	px, err := p.Preprocess(img)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(px.Shape())
	fmt.Printf("%.4f %.4f %.4f\n", px.At(0, 0, 0), px.At(1, 0, 0), px.At(2, 0, 0))
	// Output:
	// [3 224 224]
	// 1.9303 2.0749 2.1459
}

func ExampleParseProcessorConfig() {
	cfg, err := imageproc.ParseProcessorConfig([]byte(`{
		"image_processor_type": "ViTImageProcessor",
		"size": {"height": 384, "width": 384},
		"resample": 2
	}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.Size.Height, cfg.Size.Width, cfg.Resample, cfg.DoRescale, cfg.ImageMean)
	// Output: 384 384 BILINEAR true [0.5 0.5 0.5]
}
