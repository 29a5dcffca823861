package vit

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/image/bmp"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
)

// fuzzSeedFiles adds the named files under the shared test data as seeds,
// skipping those that are absent or larger than max bytes (fuzz targets
// must run without the shared data: they then start from fewer seeds).
func fuzzSeedFiles(f *testing.F, max int, elems ...[]string) {
	root, ok := testdata.Root()
	if !ok {
		return
	}
	for _, e := range elems {
		b, err := os.ReadFile(filepath.Join(append([]string{root}, e...)...))
		if err == nil && len(b) <= max {
			f.Add(b)
		}
	}
}

// fuzzFixtures are the fixtures whose model directories hold configs and
// preprocessor configs of the vision families.
var fuzzFixtures = []string{"vit", "clip", "blip-caption", "blip-vqa", "vit-gpt2"}

// vitParams estimates the number of floats a model of config c allocates,
// in float64 so that absurd dimensions cannot overflow.
func vitParams(c Config) float64 {
	h, i, l := float64(c.HiddenSize), float64(c.IntermediateSize), float64(c.NumHiddenLayers)
	p, s, ch := float64(c.PatchSize), float64(c.ImageSize), float64(c.NumChannels)
	patches := 1.0
	if p > 0 {
		patches = (s/p)*(s/p) + 1
	}
	return l*(4*h*h+2*h*i+10*h) + patches*h + ch*p*p*h + float64(len(c.ID2Label)+1)*h + 4*h
}

// FuzzParseConfig checks that config.json parsing never panics, that an
// accepted config validates and yields its encoder config and labels, and
// that building a (small) model from it with no weights fails cleanly with
// checkpoint.ErrMissingWeights (or nn.ErrConfig for a classifier without labels).
func FuzzParseConfig(f *testing.F) {
	fuzzSeedFiles(f, 1<<20, []string{"configs", "vit-base-patch16-224", "config.json"})
	for _, fx := range fuzzFixtures {
		fuzzSeedFiles(f, 1<<20, []string{"fixtures", fx, "model", "config.json"})
	}
	f.Add([]byte(`{"model_type":"vit","architectures":["ViTForImageClassification"],"hidden_size":8,` +
		`"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":16,"image_size":16,"patch_size":8,` +
		`"id2label":{"0":"a","1":"b"}}`))
	f.Add([]byte(`{"model_type":"vit","architectures":["ViTModel"],"hidden_size":4,"num_hidden_layers":0,` +
		`"num_attention_heads":1,"intermediate_size":4,"image_size":4,"patch_size":4,"num_channels":1,"qkv_bias":false}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			if !errors.Is(err, nn.ErrConfig) && !errors.Is(err, nn.ErrUnsupportedArchitecture) {
				t.Fatalf("error wraps neither nn.ErrConfig nor nn.ErrUnsupportedArchitecture: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted config does not validate: %v", err)
		}
		_ = cfg.EncoderConfig().NumPatches()
		labels, err := cfg.Labels()
		if err != nil {
			return
		}
		if vitParams(cfg) > 1<<18 {
			return
		}
		m, err := New(cfg, checkpoint.NewStore("fuzz", nil), nil)
		if err == nil {
			m.Close()
			t.Fatalf("model built without weights (%d labels)", len(labels))
		}
		// A classifier config without id2label needs the classifier weight
		// to know its classes: nn.ErrConfig.
		if !errors.Is(err, checkpoint.ErrMissingWeights) && !errors.Is(err, nn.ErrConfig) {
			t.Fatalf("building without weights: want checkpoint.ErrMissingWeights or nn.ErrConfig, got %v", err)
		}
	})
}

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
		fuzzSeedFiles(f, 1<<20, []string{"fixtures", fx, "model", "preprocessor_config.json"})
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
		fuzzSeedFiles(f, 64<<10, []string{"media", "images", name})
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
