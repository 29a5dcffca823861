package imageproc

import (
	"errors"
	"image"
	"math"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
)

func rgbRow(vals ...uint8) *rgbImage {
	m := newRGB(len(vals), 1)
	for i, v := range vals {
		m.pix[3*i], m.pix[3*i+1], m.pix[3*i+2] = v, v, v
	}
	return m
}

func redChannel(m *rgbImage) []uint8 {
	out := make([]uint8, m.w*m.h)
	for i := range out {
		out[i] = m.pix[3*i]
	}
	return out
}

// TestResampleHandComputed checks small resizes whose results follow by
// hand from Pillow's algorithm (support scaled on downscale, 22-bit fixed
// point with +0.5 rounding, clipping).
func TestResampleHandComputed(t *testing.T) {
	cases := []struct {
		name string
		in   []uint8
		outW int
		r    Resample
		want []uint8
	}{
		// Box 2× down: pairs averaged, halves rounded up.
		{"box down", []uint8{10, 20, 30, 41}, 2, Box, []uint8{15, 36}},
		// Nearest 2× down samples under each output center: inputs 1 and 3.
		{"nearest down", []uint8{10, 20, 30, 40}, 2, Nearest, []uint8{20, 40}},
		{"nearest up", []uint8{10, 20}, 4, Nearest, []uint8{10, 10, 20, 20}},
		// Bilinear 2→4: centers 0.25, 0.75, 1.25, 1.75; edge outputs see one
		// input, inner ones mix 3:1.
		{"bilinear up", []uint8{0, 255}, 4, Bilinear, []uint8{0, 64, 191, 255}},
		// Bilinear 4→2 stretches the triangle to support 2: output 0 has
		// center 1 and taps 0..2 with weights .75, .75, .25 normalized to
		// 3/7, 3/7, 1/7, so 255/7 = 36.4 → 36; output 1 mirrors it.
		{"bilinear down", []uint8{0, 0, 255, 255}, 2, Bilinear, []uint8{36, 219}},
		// Bicubic 4→8 (a = -0.5): output 3 has center 1.75 and weights
		// -.0703, .8672, .2266, -.0234, so 255·.203125 = 51.8 → 52; output 2
		// rings to 255·(-.0703/1.0234) = -17.5, clipped to 0.
		{"bicubic clip", []uint8{0, 0, 255, 255}, 8, Bicubic, []uint8{0, 0, 0, 52, 203, 255, 255, 255}},
	}
	for _, c := range cases {
		out, err := resizeRGB(rgbRow(c.in...), c.outW, 1, c.r)
		if err != nil {
			t.Fatal(err)
		}
		if got := redChannel(out); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

// TestResampleConstant checks that every filter keeps a constant image
// constant, in both directions, and that the result has the asked size.
func TestResampleConstant(t *testing.T) {
	src := newRGB(37, 23)
	for i := range src.pix {
		src.pix[i] = []uint8{17, 128, 250}[i%3]
	}
	for r := Nearest; r <= Hamming; r++ {
		for _, sz := range [][2]int{{5, 3}, {37, 50}, {80, 11}, {224, 224}, {1, 1}} {
			out, err := resizeRGB(src, sz[0], sz[1], r)
			if err != nil {
				t.Fatal(err)
			}
			if out.w != sz[0] || out.h != sz[1] {
				t.Fatalf("%v %v: got %dx%d", r, sz, out.w, out.h)
			}
			for i, v := range out.pix {
				if v != []uint8{17, 128, 250}[i%3] {
					t.Fatalf("%v to %v: pixel %d = %d", r, sz, i/3, v)
				}
			}
		}
	}
	if _, err := resizeRGB(src, 0, 3, Bilinear); err == nil {
		t.Error("resize to width 0: no error")
	}
	if _, err := resizeRGB(src, 3, 3, Resample(9)); err == nil {
		t.Error("unknown filter: no error")
	}
}

// TestPrecomputeCoeffs checks the filter taps of a downscale: bounds as
// Pillow rounds them and weights summing to one in fixed point.
func TestPrecomputeCoeffs(t *testing.T) {
	fl, _ := filterFor(Bicubic)
	ksize, bounds, kk := precomputeCoeffs(451, 0, 451, 224, fl)
	if want := int(math.Ceil(2*451.0/224))*2 + 1; ksize != want {
		t.Fatalf("ksize %d, want %d", ksize, want)
	}
	for xx := 0; xx < 224; xx++ {
		xmin, n := bounds[2*xx], bounds[2*xx+1]
		if xmin < 0 || n <= 0 || xmin+n > 451 || n > ksize {
			t.Fatalf("output %d: bounds %d+%d", xx, xmin, n)
		}
		sum := int64(0)
		for _, k := range kk[xx*ksize : xx*ksize+n] {
			sum += int64(k)
		}
		if d := sum - 1<<precisionBits; d < -int64(n) || d > int64(n) {
			t.Fatalf("output %d: weights sum to %d", xx, sum)
		}
	}
}

func TestParseProcessorConfig(t *testing.T) {
	cases := []struct {
		name, json string
		check      func(t *testing.T, c ProcessorConfig)
	}{
		{"CLIP int size is the shortest edge", `{"image_processor_type":"CLIPImageProcessor","size":336,"crop_size":336}`, func(t *testing.T, c ProcessorConfig) {
			if c.Size != (Size{ShortestEdge: 336}) || c.CropSize != (Size{Height: 336, Width: 336}) || !c.DoCenterCrop || c.Resample != Bicubic || !c.DoConvertRGB {
				t.Errorf("%+v", c)
			}
		}},
		{"legacy ViT feature extractor", `{"feature_extractor_type":"ViTFeatureExtractor","size":384,"do_normalize":true,"image_mean":[0.5,0.5,0.5],"image_std":[0.5,0.5,0.5],"resample":2}`, func(t *testing.T, c ProcessorConfig) {
			if c.Size != (Size{Height: 384, Width: 384}) || !c.DoRescale || c.RescaleFactor != 1.0/255 || c.DoCenterCrop {
				t.Errorf("%+v", c)
			}
		}},
		{"BLIP defaults", `{"image_processor_type":"BlipImageProcessor"}`, func(t *testing.T, c ProcessorConfig) {
			if c.Size != (Size{Height: 384, Width: 384}) || c.Resample != Bicubic || c.ImageMean[0] != 0.48145466 {
				t.Errorf("%+v", c)
			}
		}},
		{"list size and scalar mean", `{"size":[100,200],"image_mean":0.25,"image_std":[2],"unknown_field":{"x":1}}`, func(t *testing.T, c ProcessorConfig) {
			if c.Size != (Size{Height: 100, Width: 200}) || !reflect.DeepEqual(c.ImageMean, []float64{0.25, 0.25, 0.25}) || !reflect.DeepEqual(c.ImageStd, []float64{2, 2, 2}) {
				t.Errorf("%+v", c)
			}
		}},
		{"shortest and longest edge", `{"size":{"shortest_edge":800,"longest_edge":1333}}`, func(t *testing.T, c ProcessorConfig) {
			if c.Size != (Size{ShortestEdge: 800, LongestEdge: 1333}) {
				t.Errorf("%+v", c)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := ParseProcessorConfig([]byte(c.json))
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, cfg)
		})
	}
	for _, bad := range []string{
		`not json`,
		`{"resample": 7}`,
		`{"size": {"height": 224}}`,
		`{"size": -3}`,
		`{"size": "big"}`,
		`{"image_std": [0.5, 0, 0.5]}`,
		`{"image_mean": [0.5, 0.5]}`,
		`{"do_center_crop": true, "crop_size": {"shortest_edge": 3}}`,
		`{"size": [1, 2, 3]}`,
		`{"size": 1000000}`,
	} {
		if _, err := ParseProcessorConfig([]byte(bad)); !errors.Is(err, ErrProcessorConfig) {
			t.Errorf("%s: error %v, want ErrProcessorConfig", bad, err)
		}
	}
}

func TestResizeTarget(t *testing.T) {
	for _, c := range []struct {
		h, w   int
		s      Size
		wh, ww int
	}{
		{300, 451, Size{ShortestEdge: 224}, 224, 336}, // 224*451/300 = 336.7, truncated
		{451, 300, Size{ShortestEdge: 224}, 336, 224},
		{191, 384, Size{ShortestEdge: 224}, 224, 450},
		{512, 512, Size{ShortestEdge: 224}, 224, 224},
		{100, 1000, Size{ShortestEdge: 800, LongestEdge: 1333}, 133, 1333},
		{300, 451, Size{Height: 10, Width: 20}, 10, 20},
	} {
		if h, w := resizeTarget(c.h, c.w, c.s); h != c.wh || w != c.ww {
			t.Errorf("%dx%d %+v: got %dx%d, want %dx%d", c.h, c.w, c.s, h, w, c.wh, c.ww)
		}
	}
}

// TestCenterCrop checks transformers' offsets: floor((orig-crop)/2) when
// cropping, and zero padding (image placed at ceil((new-orig)/2)) when the
// image is smaller than the crop.
func TestCenterCrop(t *testing.T) {
	src := newRGB(5, 4)
	for i := 0; i < 20; i++ {
		src.pix[3*i] = uint8(i + 1)
	}
	out := centerCrop(src, 2, 2) // top = (4-2)//2 = 1, left = (5-2)//2 = 1
	if got := redChannel(out); !reflect.DeepEqual(got, []uint8{7, 8, 12, 13}) {
		t.Errorf("crop 2x2: %v", got)
	}
	out = centerCrop(src, 3, 4) // top = 0, left = 0
	if got := redChannel(out); !reflect.DeepEqual(got, []uint8{1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14}) {
		t.Errorf("crop 3x4: %v", got)
	}
	one := rgbRow(9)
	out = centerCrop(one, 4, 3) // padded: row ceil(3/2) = 2, column ceil(2/2) = 1
	want := make([]uint8, 12)
	want[2*3+1] = 9
	if got := redChannel(out); !reflect.DeepEqual(got, want) {
		t.Errorf("pad 1x1 to 3x4: %v", got)
	}
	out = centerCrop(src, 6, 3) // taller than the image, narrower
	if out.w != 3 || out.h != 6 {
		t.Fatalf("crop 6x3 of 5x4: %dx%d", out.w, out.h)
	}
	// rows 1..4 of the output hold image rows 0..3, columns 1..3
	if got := redChannel(out); got[0] != 0 || got[3] != 2 || got[3*4+2] != 19 || got[15] != 0 {
		t.Errorf("crop 6x3 of 5x4: %v", got)
	}
}

// TestPreprocessArithmetic checks rescale and normalize against
// transformers' float arithmetic for one pixel value.
func TestPreprocessArithmetic(t *testing.T) {
	p, err := NewProcessor(DefaultProcessorConfig(CLIPImageProcessorType))
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 10, 10))
	for i := 0; i < len(img.Pix); i += 4 {
		copy(img.Pix[i:], []uint8{200, 100, 0, 255})
	}
	px, err := p.Preprocess(img)
	if err != nil {
		t.Fatal(err)
	}
	if s := px.Shape(); !slices.Equal(s, []int{3, 224, 224}) {
		t.Fatalf("shape %v", s)
	}
	mean, std := openAIClipMean, openAIClipStd
	for c, v := range []float64{200, 100, 0} {
		x := float32(v * (1.0 / 255))
		want := (x - float32(mean[c])) / float32(std[c])
		if got := px.At(c, 100, 100); got != want {
			t.Errorf("channel %d: %v, want %v", c, got, want)
		}
	}
	// A configuration without rescale or normalize keeps 0..255.
	raw, _ := NewProcessor(ProcessorConfig{DoResize: false})
	px, err = raw.Preprocess(img)
	if err != nil {
		t.Fatal(err)
	}
	if px.At(0, 0, 0) != 200 || px.At(1, 9, 9) != 100 || px.Dim(1) != 10 {
		t.Errorf("raw pixels %v", px)
	}
}

func TestPreprocessBatch(t *testing.T) {
	p, _ := NewProcessor(DefaultProcessorConfig(ViTImageProcessorType))
	imgs := []image.Image{image.NewGray(image.Rect(0, 0, 30, 40)), testdata.Quadrants(), image.NewCMYK(image.Rect(0, 0, 3, 3))}
	batch, err := p.PreprocessBatch(imgs)
	if err != nil {
		t.Fatal(err)
	}
	if s := batch.Shape(); !slices.Equal(s, []int{3, 3, 224, 224}) {
		t.Fatalf("shape %v", s)
	}
	for i, img := range imgs {
		one, _ := p.Preprocess(img)
		if d, _ := testdata.MaxAbsDiff(one.Data(), batch.Index(i).Data()); d != 0 {
			t.Errorf("image %d differs from Preprocess by %g", i, d)
		}
	}
	if _, err := p.PreprocessBatch(nil); err == nil {
		t.Error("empty batch: no error")
	}
	if _, err := p.PreprocessBatch([]image.Image{testdata.Quadrants(), nil}); !errors.Is(err, ErrUnsupportedImage) {
		t.Errorf("nil image in batch: %v", err)
	}
	// Shortest-edge resizing without a crop gives sizes that cannot batch.
	se, _ := NewProcessor(ProcessorConfig{DoResize: true, Size: Size{ShortestEdge: 8}, Resample: Bilinear})
	if _, err := se.PreprocessBatch([]image.Image{testdata.Quadrants(), image.NewGray(image.Rect(0, 0, 8, 8))}); err == nil {
		t.Error("batch of different sizes: no error")
	}
}

// TestProcessorConcurrent runs one Processor from many goroutines.
func TestProcessorConcurrent(t *testing.T) {
	p, _ := NewProcessor(DefaultProcessorConfig(CLIPImageProcessorType))
	img := testdata.Quadrants()
	want, _ := p.Preprocess(img)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := p.Preprocess(img)
			if err != nil {
				t.Error(err)
				return
			}
			if d, _ := testdata.MaxAbsDiff(got.Data(), want.Data()); d != 0 {
				t.Errorf("concurrent result differs by %g", d)
			}
		}()
	}
	wg.Wait()
}
