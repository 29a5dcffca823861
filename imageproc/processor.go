package imageproc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// ErrProcessorConfig marks a preprocessor_config.json that is malformed or
// holds values the processor cannot use (a non-positive size, a zero
// standard deviation, an unknown resampling filter).
var ErrProcessorConfig = errors.New("imageproc: invalid preprocessor config")

// Size is a target size from preprocessor_config.json: either an exact
// Height×Width, or ShortestEdge (with an optional LongestEdge cap) for an
// aspect-preserving resize. Zero fields are unset.
type Size struct {
	Height       int `json:"height,omitempty"`
	Width        int `json:"width,omitempty"`
	ShortestEdge int `json:"shortest_edge,omitempty"`
	LongestEdge  int `json:"longest_edge,omitempty"`
}

// exact reports whether s names an exact output size.
func (s Size) exact() bool { return s.Height > 0 && s.Width > 0 }

// ProcessorConfig is an image processor's configuration as read from a
// preprocessor_config.json (transformers' ViTImageProcessor,
// CLIPImageProcessor, BlipImageProcessor and their older *FeatureExtractor
// names). Fields absent from the file take the defaults of the class named by
// Type, as transformers does.
type ProcessorConfig struct {
	// Type is the processor class, from "image_processor_type" (or the older
	// "feature_extractor_type"), e.g. "ViTImageProcessor".
	Type string
	// DoResize enables resizing to Size with the Resample filter.
	DoResize bool
	// Size is the resize target: exact (ViT, BLIP) or shortest edge (CLIP).
	Size Size
	// Resample is the PIL filter used by the resize.
	Resample Resample
	// DoCenterCrop enables a center crop to CropSize after resizing, padding
	// with zeros where the image is smaller.
	DoCenterCrop bool
	// CropSize is the center-crop size (Height and Width).
	CropSize Size
	// DoRescale multiplies the 8-bit values by RescaleFactor.
	DoRescale bool
	// RescaleFactor is usually 1/255.
	RescaleFactor float64
	// DoNormalize subtracts ImageMean and divides by ImageStd per channel.
	DoNormalize bool
	// ImageMean and ImageStd hold one value per RGB channel.
	ImageMean, ImageStd []float64
	// DoConvertRGB records the config's do_convert_rgb. Inputs are always
	// converted to RGB (PIL's convert("RGB")), since the models take three
	// channels; for RGB inputs the flag makes no difference.
	DoConvertRGB bool
}

// Processor class names with built-in defaults.
const (
	ViTImageProcessorType  = "ViTImageProcessor"
	CLIPImageProcessorType = "CLIPImageProcessor"
	BlipImageProcessorType = "BlipImageProcessor"
)

var (
	imagenetStandardMean = []float64{0.5, 0.5, 0.5}
	imagenetStandardStd  = []float64{0.5, 0.5, 0.5}
	openAIClipMean       = []float64{0.48145466, 0.4578275, 0.40821073}
	openAIClipStd        = []float64{0.26862954, 0.26130258, 0.27577711}
)

// DefaultProcessorConfig returns the defaults transformers' class typ uses
// for fields a preprocessor_config.json leaves out. ViT, CLIP and BLIP
// processors (and their *FeatureExtractor aliases) are known; any other
// name gets the ViT defaults.
func DefaultProcessorConfig(typ string) ProcessorConfig {
	switch canonicalType(typ) {
	case CLIPImageProcessorType:
		return ProcessorConfig{
			Type: typ, DoResize: true, Size: Size{ShortestEdge: 224}, Resample: Bicubic,
			DoCenterCrop: true, CropSize: Size{Height: 224, Width: 224},
			DoRescale: true, RescaleFactor: 1.0 / 255, DoNormalize: true,
			ImageMean: clone(openAIClipMean), ImageStd: clone(openAIClipStd), DoConvertRGB: true,
		}
	case BlipImageProcessorType:
		return ProcessorConfig{
			Type: typ, DoResize: true, Size: Size{Height: 384, Width: 384}, Resample: Bicubic,
			DoRescale: true, RescaleFactor: 1.0 / 255, DoNormalize: true,
			ImageMean: clone(openAIClipMean), ImageStd: clone(openAIClipStd), DoConvertRGB: true,
		}
	}
	return ProcessorConfig{
		Type: typ, DoResize: true, Size: Size{Height: 224, Width: 224}, Resample: Bilinear,
		DoRescale: true, RescaleFactor: 1.0 / 255, DoNormalize: true,
		ImageMean: clone(imagenetStandardMean), ImageStd: clone(imagenetStandardStd),
	}
}

func canonicalType(typ string) string {
	switch typ {
	case "CLIPImageProcessor", "CLIPFeatureExtractor":
		return CLIPImageProcessorType
	case "BlipImageProcessor", "BlipFeatureExtractor", "BLIPImageProcessor":
		return BlipImageProcessorType
	}
	return ViTImageProcessorType
}

// squareSizes reports whether a bare integer size means height = width
// (transformers' default_to_square): true except for CLIP, where it is the
// shortest edge.
func squareSizes(typ string) bool { return canonicalType(typ) != CLIPImageProcessorType }

func clone(v []float64) []float64 { return append([]float64(nil), v...) }

// rawProcessorConfig mirrors preprocessor_config.json; pointers tell absent
// fields from zero ones.
type rawProcessorConfig struct {
	ImageProcessorType   string          `json:"image_processor_type"`
	FeatureExtractorType string          `json:"feature_extractor_type"`
	DoResize             *bool           `json:"do_resize"`
	Size                 json.RawMessage `json:"size"`
	Resample             *int            `json:"resample"`
	DoCenterCrop         *bool           `json:"do_center_crop"`
	CropSize             json.RawMessage `json:"crop_size"`
	DoRescale            *bool           `json:"do_rescale"`
	RescaleFactor        *float64        `json:"rescale_factor"`
	DoNormalize          *bool           `json:"do_normalize"`
	ImageMean            json.RawMessage `json:"image_mean"`
	ImageStd             json.RawMessage `json:"image_std"`
	DoConvertRGB         *bool           `json:"do_convert_rgb"`
}

// ParseProcessorConfig parses the contents of a preprocessor_config.json.
// Unknown fields are ignored; absent ones take the class defaults (see
// DefaultProcessorConfig). The result is validated as NewProcessor does.
func ParseProcessorConfig(data []byte) (ProcessorConfig, error) {
	var raw rawProcessorConfig
	if err := json.Unmarshal(data, &raw); err != nil {
		return ProcessorConfig{}, fmt.Errorf("%w: %v", ErrProcessorConfig, err)
	}
	typ := raw.ImageProcessorType
	if typ == "" {
		typ = raw.FeatureExtractorType
	}
	c := DefaultProcessorConfig(typ)
	setBool := func(dst *bool, src *bool) {
		if src != nil {
			*dst = *src
		}
	}
	setBool(&c.DoResize, raw.DoResize)
	setBool(&c.DoCenterCrop, raw.DoCenterCrop)
	setBool(&c.DoRescale, raw.DoRescale)
	setBool(&c.DoNormalize, raw.DoNormalize)
	setBool(&c.DoConvertRGB, raw.DoConvertRGB)
	if raw.Resample != nil {
		c.Resample = Resample(*raw.Resample)
	}
	if raw.RescaleFactor != nil {
		c.RescaleFactor = *raw.RescaleFactor
	}
	var err error
	if c.Size, err = parseSize(raw.Size, c.Size, squareSizes(typ)); err != nil {
		return ProcessorConfig{}, fmt.Errorf("%w: size: %v", ErrProcessorConfig, err)
	}
	if c.CropSize, err = parseSize(raw.CropSize, c.CropSize, true); err != nil {
		return ProcessorConfig{}, fmt.Errorf("%w: crop_size: %v", ErrProcessorConfig, err)
	}
	if c.ImageMean, err = parseFloats(raw.ImageMean, c.ImageMean); err != nil {
		return ProcessorConfig{}, fmt.Errorf("%w: image_mean: %v", ErrProcessorConfig, err)
	}
	if c.ImageStd, err = parseFloats(raw.ImageStd, c.ImageStd); err != nil {
		return ProcessorConfig{}, fmt.Errorf("%w: image_std: %v", ErrProcessorConfig, err)
	}
	if err := c.validate(); err != nil {
		return ProcessorConfig{}, err
	}
	return c, nil
}

// parseSize reads a size given as an int (square, or shortest edge when
// square is false), a [height, width] list or a dict, like transformers'
// get_size_dict.
func parseSize(msg json.RawMessage, def Size, square bool) (Size, error) {
	msg = bytes.TrimSpace(msg)
	if len(msg) == 0 || string(msg) == "null" {
		return def, nil
	}
	switch msg[0] {
	case '{':
		var s Size
		dec := json.NewDecoder(bytes.NewReader(msg))
		if err := dec.Decode(&s); err != nil {
			return Size{}, err
		}
		if !s.exact() && s.ShortestEdge <= 0 {
			return Size{}, fmt.Errorf("%s names neither height and width nor shortest_edge", msg)
		}
		return s, nil
	case '[':
		var v []int
		if err := json.Unmarshal(msg, &v); err != nil {
			return Size{}, err
		}
		switch len(v) {
		case 1:
			if square {
				return Size{Height: v[0], Width: v[0]}, nil
			}
			return Size{ShortestEdge: v[0]}, nil
		case 2:
			return Size{Height: v[0], Width: v[1]}, nil
		}
		return Size{}, fmt.Errorf("%s: want 1 or 2 values", msg)
	}
	var n int
	if err := json.Unmarshal(msg, &n); err != nil {
		return Size{}, err
	}
	if square {
		return Size{Height: n, Width: n}, nil
	}
	return Size{ShortestEdge: n}, nil
}

func parseFloats(msg json.RawMessage, def []float64) ([]float64, error) {
	msg = bytes.TrimSpace(msg)
	if len(msg) == 0 || string(msg) == "null" {
		return def, nil
	}
	if msg[0] == '[' {
		var v []float64
		if err := json.Unmarshal(msg, &v); err != nil {
			return nil, err
		}
		return v, nil
	}
	var f float64
	if err := json.Unmarshal(msg, &f); err != nil {
		return nil, err
	}
	return []float64{f, f, f}, nil
}

func (c *ProcessorConfig) validate() error {
	if c.DoResize {
		if !c.Resample.valid() {
			return fmt.Errorf("%w: resample %d is not a PIL filter (0..5)", ErrProcessorConfig, int(c.Resample))
		}
		s := c.Size
		switch {
		case s.exact():
		case s.Height != 0 || s.Width != 0:
			return fmt.Errorf("%w: size %+v needs both a positive height and width", ErrProcessorConfig, s)
		case s.ShortestEdge <= 0:
			return fmt.Errorf("%w: size %+v names no positive target", ErrProcessorConfig, s)
		case s.LongestEdge != 0 && s.LongestEdge <= s.ShortestEdge:
			return fmt.Errorf("%w: size longest_edge %d must exceed shortest_edge %d", ErrProcessorConfig, s.LongestEdge, s.ShortestEdge)
		}
		if s.Height > 1<<15 || s.Width > 1<<15 || s.ShortestEdge > 1<<15 || s.LongestEdge > 1<<15 {
			return fmt.Errorf("%w: size %+v is beyond 32768 pixels", ErrProcessorConfig, s)
		}
	}
	if c.DoCenterCrop {
		if !c.CropSize.exact() {
			return fmt.Errorf("%w: crop_size %+v needs a positive height and width", ErrProcessorConfig, c.CropSize)
		}
		if c.CropSize.Height > 1<<15 || c.CropSize.Width > 1<<15 {
			return fmt.Errorf("%w: crop_size %+v is beyond 32768 pixels", ErrProcessorConfig, c.CropSize)
		}
	}
	if c.DoRescale && (math.IsNaN(c.RescaleFactor) || math.IsInf(c.RescaleFactor, 0)) {
		return fmt.Errorf("%w: rescale_factor %v", ErrProcessorConfig, c.RescaleFactor)
	}
	if c.DoNormalize {
		if len(c.ImageMean) == 1 {
			c.ImageMean = []float64{c.ImageMean[0], c.ImageMean[0], c.ImageMean[0]}
		}
		if len(c.ImageStd) == 1 {
			c.ImageStd = []float64{c.ImageStd[0], c.ImageStd[0], c.ImageStd[0]}
		}
		if len(c.ImageMean) != 3 || len(c.ImageStd) != 3 {
			return fmt.Errorf("%w: image_mean and image_std need 3 values (RGB), have %d and %d", ErrProcessorConfig, len(c.ImageMean), len(c.ImageStd))
		}
		for i, s := range c.ImageStd {
			if s == 0 || math.IsNaN(s) || math.IsNaN(c.ImageMean[i]) {
				return fmt.Errorf("%w: image_std[%d] = %v, image_mean[%d] = %v", ErrProcessorConfig, i, s, i, c.ImageMean[i])
			}
		}
	}
	return nil
}

// LoadProcessorConfig reads a preprocessor_config.json file.
func LoadProcessorConfig(path string) (ProcessorConfig, error) {
	return nn.ReadConfig("imageproc", path, ParseProcessorConfig)
}

// Processor turns images into the pixel_values tensor a vision model takes,
// reproducing transformers' image processors (which resample with PIL) to
// within float32 rounding: convert to RGB, resize with PIL's filters in its
// 8-bit fixed-point arithmetic, center crop, rescale and normalize.
// A Processor is immutable and safe for concurrent use.
type Processor struct {
	cfg        ProcessorConfig
	mean, std  [3]float32
	rescale    float64
	doRescale  bool
	doNorm     bool
	fixedH     int // output size when it does not depend on the input, else 0
	fixedW     int
	resizeFilt Resample
}

// NewProcessor validates cfg and returns a Processor for it.
func NewProcessor(cfg ProcessorConfig) (*Processor, error) {
	cfg.ImageMean = clone(cfg.ImageMean)
	cfg.ImageStd = clone(cfg.ImageStd)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p := &Processor{cfg: cfg, rescale: cfg.RescaleFactor, doRescale: cfg.DoRescale, doNorm: cfg.DoNormalize, resizeFilt: cfg.Resample}
	if cfg.DoNormalize {
		for i := 0; i < 3; i++ {
			p.mean[i] = float32(cfg.ImageMean[i])
			p.std[i] = float32(cfg.ImageStd[i])
		}
	}
	switch {
	case cfg.DoCenterCrop:
		p.fixedH, p.fixedW = cfg.CropSize.Height, cfg.CropSize.Width
	case cfg.DoResize && cfg.Size.exact():
		p.fixedH, p.fixedW = cfg.Size.Height, cfg.Size.Width
	}
	return p, nil
}

// LoadProcessor reads dir/preprocessor_config.json and returns its Processor.
func LoadProcessor(dir string) (*Processor, error) {
	cfg, err := LoadProcessorConfig(filepath.Join(dir, "preprocessor_config.json"))
	if err != nil {
		return nil, err
	}
	return NewProcessor(cfg)
}

// LoadProcessorIfPresent is LoadProcessor for a model directory whose
// preprocessor_config.json is optional: it returns nil and no error when
// the file is not there (os.Stat fails), so that the model's pixel-level
// calls work and its image-level ones report the missing processor.
func LoadProcessorIfPresent(dir string) (*Processor, error) {
	if _, err := os.Stat(filepath.Join(dir, "preprocessor_config.json")); err != nil {
		return nil, nil
	}
	return LoadProcessor(dir)
}

// Config returns a copy of the processor's configuration.
func (p *Processor) Config() ProcessorConfig {
	c := p.cfg
	c.ImageMean = clone(c.ImageMean)
	c.ImageStd = clone(c.ImageStd)
	return c
}

// OutputSize returns the height and width of the pixel values Preprocess
// makes from an image of the given width and height.
func (p *Processor) OutputSize(width, height int) (h, w int) {
	if p.fixedH > 0 {
		return p.fixedH, p.fixedW
	}
	h, w = height, width
	if p.cfg.DoResize {
		h, w = resizeTarget(height, width, p.cfg.Size)
	}
	return h, w
}

// resizeTarget is transformers' get_resize_output_image_size: an exact size,
// or the short side set to ShortestEdge and the long side scaled and
// truncated, then capped by LongestEdge (max_size).
func resizeTarget(height, width int, s Size) (h, w int) {
	if s.exact() {
		return s.Height, s.Width
	}
	short, long := height, width
	if width <= height {
		short, long = width, height
	}
	newShort := s.ShortestEdge
	newLong := int(float64(newShort*long) / float64(short))
	if s.LongestEdge > 0 && newLong > s.LongestEdge {
		newShort, newLong = int(float64(s.LongestEdge*newShort)/float64(newLong)), s.LongestEdge
	}
	if newShort < 1 {
		newShort = 1
	}
	if width <= height {
		return newLong, newShort
	}
	return newShort, newLong
}

// Preprocess returns the [3, H, W] pixel values of one image.
func (p *Processor) Preprocess(img image.Image) (*tensor.Tensor, error) {
	rgb, err := p.prepareRGB(img)
	if err != nil {
		return nil, err
	}
	t := tensor.New(3, rgb.h, rgb.w)
	p.writePixels(t.Data(), rgb)
	return t, nil
}

// PreprocessBatch returns the [N, 3, H, W] pixel values of images, which must
// all come out at the same size (always the case with an exact resize or a
// center crop). Images are processed in parallel.
func (p *Processor) PreprocessBatch(imgs []image.Image) (*tensor.Tensor, error) {
	if len(imgs) == 0 {
		return nil, fmt.Errorf("%w: empty batch", ErrUnsupportedImage)
	}
	rgbs := make([]*rgbImage, len(imgs))
	errs := make([]error, len(imgs))
	workers := min(runtime.GOMAXPROCS(0), len(imgs))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				rgbs[i], errs[i] = p.prepareRGB(imgs[i])
			}
		}()
	}
	for i := range imgs {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("image %d: %w", i, err)
		}
	}
	h, w := rgbs[0].h, rgbs[0].w
	for i, r := range rgbs {
		if r.h != h || r.w != w {
			return nil, fmt.Errorf("%w: image %d is %dx%d after preprocessing, image 0 is %dx%d (use a fixed size or a center crop to batch)", ErrUnsupportedImage, i, r.w, r.h, w, h)
		}
	}
	t := tensor.New(len(imgs), 3, h, w)
	d := t.Data()
	n := 3 * h * w
	for i, r := range rgbs {
		p.writePixels(d[i*n:(i+1)*n], r)
	}
	return t, nil
}

// prepareRGB converts, resizes and crops one image, all in 8 bits.
func (p *Processor) prepareRGB(img image.Image) (*rgbImage, error) {
	rgb, err := toRGB(img)
	if err != nil {
		return nil, err
	}
	if p.cfg.DoResize {
		h, w := resizeTarget(rgb.h, rgb.w, p.cfg.Size)
		if rgb, err = resizeRGB(rgb, w, h, p.resizeFilt); err != nil {
			return nil, err
		}
	}
	if p.cfg.DoCenterCrop {
		rgb = centerCrop(rgb, p.cfg.CropSize.Height, p.cfg.CropSize.Width)
	}
	return rgb, nil
}

// centerCrop is transformers' center_crop on an 8-bit image: offsets are
// floor((orig - crop) / 2); an image smaller than the crop is first padded
// with zeros, placed at ceil((new - orig) / 2). (transformers 4.30 placed it
// at floor(...) and so returned one row or column short when the padding was
// odd; later versions fixed that with ceil, which this follows. Padding
// never happens when the resize target covers the crop, as in CLIP.)
func centerCrop(src *rgbImage, ch, cw int) *rgbImage {
	if src.h == ch && src.w == cw {
		return src
	}
	top := floorDiv(src.h-ch, 2)
	left := floorDiv(src.w-cw, 2)
	out := newRGB(cw, ch)
	if top >= 0 && left >= 0 && top+ch <= src.h && left+cw <= src.w {
		for y := 0; y < ch; y++ {
			copy(out.pix[3*cw*y:3*cw*(y+1)], src.pix[3*(src.w*(top+y)+left):])
		}
		return out
	}
	// Pad to (max(ch, h), max(cw, w)) then crop: source pixel (x, y) lands at
	// (x + padLeft - left', y + padTop - top') in the output.
	nh, nw := max(ch, src.h), max(cw, src.w)
	padTop := (nh - src.h + 1) / 2
	padLeft := (nw - src.w + 1) / 2
	top += padTop
	left += padLeft
	for y := 0; y < src.h; y++ {
		oy := y + padTop - top
		if oy < 0 || oy >= ch {
			continue
		}
		for x := 0; x < src.w; x++ {
			ox := x + padLeft - left
			if ox < 0 || ox >= cw {
				continue
			}
			copy(out.pix[3*(cw*oy+ox):3*(cw*oy+ox)+3], src.pix[3*(src.w*y+x):])
		}
	}
	return out
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// writePixels writes rgb as planar float32 (C, H, W) into dst with
// transformers' arithmetic: rescale in float64 (uint8 * factor) then cast to
// float32, normalize in float32.
func (p *Processor) writePixels(dst []float32, rgb *rgbImage) {
	n := rgb.w * rgb.h
	var lut [3][256]float32
	for c := 0; c < 3; c++ {
		for v := 0; v < 256; v++ {
			x := float32(v)
			if p.doRescale {
				x = float32(float64(v) * p.rescale)
			}
			if p.doNorm {
				x = float32(x-p.mean[c]) / p.std[c]
			}
			lut[c][v] = x
		}
	}
	r, g, b := dst[:n], dst[n:2*n], dst[2*n:3*n]
	for i := 0; i < n; i++ {
		s := rgb.pix[3*i : 3*i+3]
		r[i] = lut[0][s[0]]
		g[i] = lut[1][s[1]]
		b[i] = lut[2][s[2]]
	}
}
