package imageproc

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"

	"golang.org/x/image/bmp"

	"github.com/goformer/goformer/internal/testdata"
)

// fuzzFixtures are the fixtures whose model directories hold the
// preprocessor configs of the vision families.
var fuzzFixtures = []string{"vit", "clip", "blip-caption", "blip-vqa", "vit-gpt2"}

// fuzzImage is a small image for checking accepted processor configs.
func fuzzImage() *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, 7, 5))
	for y := 0; y < 5; y++ {
		for x := 0; x < 7; x++ {
			img.SetNRGBA(x, y, color.NRGBA{uint8(40 * x), uint8(50 * y), uint8(x * y), uint8(255 - 9*x)})
		}
	}
	return img
}

// smallSize reports whether every field of s is at most max.
func smallSize(s Size, max int) bool {
	return s.Height <= max && s.Width <= max && s.ShortestEdge <= max && s.LongestEdge <= max
}

// FuzzParseProcessorConfig checks preprocessor_config.json parsing: no
// panics, errors wrap ErrProcessorConfig, and a processor built from an
// accepted config turns a small image into pixel values of the size it
// announces.
func FuzzParseProcessorConfig(f *testing.F) {
	for _, fx := range fuzzFixtures {
		testdata.FuzzSeedFiles(f, 1<<20, []string{"fixtures", fx, "model", "preprocessor_config.json"})
	}
	f.Add([]byte(`{"image_processor_type":"CLIPImageProcessor","size":{"shortest_edge":9},"crop_size":{"height":4,"width":6},"resample":3}`))
	f.Add([]byte(`{"feature_extractor_type":"ViTFeatureExtractor","size":6,"resample":2,"do_normalize":false}`))
	f.Add([]byte(`{"image_processor_type":"BlipImageProcessor","size":{"height":3,"width":8},"image_mean":[0.5,0.5,0.5],"image_std":[0.1,0.2,0.3]}`))
	img := fuzzImage()
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseProcessorConfig(data)
		if err != nil {
			if !errors.Is(err, ErrProcessorConfig) {
				t.Fatalf("error does not wrap ErrProcessorConfig: %v", err)
			}
			return
		}
		p, err := NewProcessor(cfg)
		if err != nil {
			if !errors.Is(err, ErrProcessorConfig) {
				t.Fatalf("NewProcessor error does not wrap ErrProcessorConfig: %v", err)
			}
			return
		}
		if !smallSize(cfg.Size, 64) || !smallSize(cfg.CropSize, 64) {
			return
		}
		px, err := p.Preprocess(img)
		if err != nil {
			t.Fatalf("accepted config cannot preprocess a 7x5 image: %v", err)
		}
		h, w := p.OutputSize(7, 5)
		if s := px.Shape(); len(s) != 3 || s[0] != 3 || s[1] != h || s[2] != w {
			t.Fatalf("pixel values %v, OutputSize says 3x%dx%d", s, h, w)
		}
	})
}

// smallProcessors returns one processor of each built-in type at a small
// size, keeping each type's resize rule (exact or shortest edge + crop).
func smallProcessors(tb testing.TB) []*Processor {
	var ps []*Processor
	for _, typ := range []string{ViTImageProcessorType, CLIPImageProcessorType, BlipImageProcessorType} {
		cfg := DefaultProcessorConfig(typ)
		if cfg.Size.ShortestEdge > 0 {
			cfg.Size = Size{ShortestEdge: 20}
		} else {
			cfg.Size = Size{Height: 20, Width: 20}
		}
		if cfg.DoCenterCrop {
			cfg.CropSize = Size{Height: 16, Width: 16}
		}
		p, err := NewProcessor(cfg)
		if err != nil {
			tb.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

// FuzzPreprocess decodes arbitrary bytes as an image and runs every
// processor type on what decodes: decoding may fail with a sentinel error,
// but an image it returns must be accepted by every processor (or refused
// with ErrImageTooLarge, for an aspect ratio whose resize would be huge) and
// give finite pixel values of the announced size.
func FuzzPreprocess(f *testing.F) {
	// Only the small media files: large seeds make every mutation and
	// minimization slow.
	for _, name := range []string{"palette_color.png", "truncated.jpg", "no_time_for_that_tiny.gif"} {
		testdata.FuzzSeedFiles(f, 64<<10, []string{"media", "images", name})
	}
	small := image.NewRGBA(image.Rect(0, 0, 9, 4))
	for i := range small.Pix {
		small.Pix[i] = uint8(i * 7)
	}
	var buf bytes.Buffer
	png.Encode(&buf, small)
	f.Add(bytes.Clone(buf.Bytes()))
	buf.Reset()
	jpeg.Encode(&buf, small, &jpeg.Options{Quality: 50})
	f.Add(bytes.Clone(buf.Bytes()))
	buf.Reset()
	gif.Encode(&buf, small, nil)
	f.Add(bytes.Clone(buf.Bytes()))
	buf.Reset()
	bmp.Encode(&buf, image.NewGray(image.Rect(0, 0, 3, 2)))
	f.Add(bytes.Clone(buf.Bytes()))
	buf.Reset()
	png.Encode(&buf, image.NewGray16(image.Rect(0, 0, 1, 1)))
	f.Add(bytes.Clone(buf.Bytes()))
	f.Add(losslessWebP(3, 2, color.NRGBA{10, 20, 30, 40}))
	procs := smallProcessors(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := DecodeOptions{MaxPixels: 1 << 18}.Decode(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrImageTooLarge) && !errors.Is(err, ErrUnsupportedImage) && !errors.Is(err, ErrInvalidImage) {
				t.Fatalf("decode error is not a sentinel: %v", err)
			}
			return
		}
		b := img.Bounds()
		for _, p := range procs {
			px, err := p.Preprocess(img)
			if errors.Is(err, ErrImageTooLarge) {
				continue // an extreme aspect ratio: the resize would be huge
			}
			if err != nil {
				t.Fatalf("%s: decoded %v image rejected: %v", p.Config().Type, b, err)
			}
			h, w := p.OutputSize(b.Dx(), b.Dy())
			if s := px.Shape(); len(s) != 3 || s[0] != 3 || s[1] != h || s[2] != w {
				t.Fatalf("%s: pixel values %v for a %v image, OutputSize says 3x%dx%d", p.Config().Type, s, b, h, w)
			}
			for _, v := range px.Data() {
				if v != v || v > 1e6 || v < -1e6 {
					t.Fatalf("%s: pixel value %v", p.Config().Type, v)
				}
			}
		}
	})
}
