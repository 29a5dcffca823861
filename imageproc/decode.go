package imageproc

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"io"

	"github.com/goformer/goformer/imageproc/jpeg"

	"github.com/goformer/goformer/task"

	// Decoders registered with package image: JPEG, PNG and GIF from the
	// standard library, BMP and WebP from golang.org/x/image.
	_ "image/png"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/webp"
)

// Sentinel errors of image decoding and preprocessing, for errors.Is.
var (
	// ErrImageTooLarge is returned when an image's declared size exceeds the
	// pixel (or byte) limit of DecodeOptions. The size is checked from the
	// header before any pixel is decoded, which defuses decompression bombs.
	ErrImageTooLarge = task.NewInputError("imageproc: image too large")
	// ErrUnsupportedImage is returned for data in no format goformer decodes
	// (JPEG, PNG, GIF, BMP and WebP are supported) and for images that cannot
	// be used as model input (for example an empty image).
	ErrUnsupportedImage = task.NewInputError("imageproc: unsupported image")
	// ErrInvalidImage wraps the decoder's error for data in a supported
	// format that is corrupt or truncated.
	ErrInvalidImage = task.NewInputError("imageproc: invalid image data")
)

// DefaultMaxPixels is the pixel-count limit Decode uses when
// DecodeOptions.MaxPixels is zero. It is Pillow's MAX_IMAGE_PIXELS
// (1024*1024*1024/4/3), the size above which Pillow warns of a possible
// decompression bomb.
const DefaultMaxPixels = 89_478_485

// DefaultMaxBytes is the limit on encoded input size Decode uses when
// DecodeOptions.MaxBytes is zero (256 MiB).
const DefaultMaxBytes = 256 << 20

// DecodeOptions configures Decode. The zero value gives the defaults.
type DecodeOptions struct {
	// MaxPixels bounds width*height as declared in the image header; 0 means
	// DefaultMaxPixels and a negative value disables the check.
	MaxPixels int64
	// MaxBytes bounds the number of encoded bytes read from the reader; 0
	// means DefaultMaxBytes and a negative value disables the check.
	MaxBytes int64
	// IgnoreOrientation leaves a JPEG's pixels as stored instead of applying
	// its EXIF orientation tag (PIL's ImageOps.exif_transpose, which
	// transformers' load_image applies).
	IgnoreOrientation bool
}

// Decode decodes a JPEG, PNG, GIF (first frame), BMP or WebP image
// using the default DecodeOptions. See DecodeOptions.Decode.
func Decode(r io.Reader) (image.Image, error) {
	return DecodeOptions{}.Decode(r)
}

// Decode reads and decodes one image from r.
//
// The declared dimensions are checked against MaxPixels before decoding
// (ErrImageTooLarge). Unknown formats give ErrUnsupportedImage; corrupt or
// truncated data gives ErrInvalidImage wrapping the decoder's error. A JPEG's
// EXIF orientation is applied unless IgnoreOrientation is set. For an
// animated GIF the first frame is returned, drawn on the full logical screen
// as Pillow does. The pixels are returned in the decoder's own color model;
// Processor.Preprocess converts them to RGB as PIL's convert("RGB") does.
func (o DecodeOptions) Decode(r io.Reader) (image.Image, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: nil reader", ErrUnsupportedImage)
	}
	maxBytes := o.MaxBytes
	if maxBytes == 0 {
		maxBytes = DefaultMaxBytes
	}
	var buf []byte
	var err error
	if maxBytes > 0 {
		buf, err = io.ReadAll(io.LimitReader(r, maxBytes+1))
		if err == nil && int64(len(buf)) > maxBytes {
			return nil, fmt.Errorf("%w: encoded data exceeds the %d-byte limit", ErrImageTooLarge, maxBytes)
		}
	} else {
		buf, err = io.ReadAll(r)
	}
	if err != nil {
		return nil, fmt.Errorf("imageproc: reading image: %w", err)
	}
	return o.decodeBytes(buf)
}

func (o DecodeOptions) decodeBytes(buf []byte) (image.Image, error) {
	if len(buf) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrUnsupportedImage)
	}
	if len(buf) >= 2 && buf[0] == 0xFF && buf[1] == 0xD8 {
		return o.decodeJPEG(buf)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(buf))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return nil, fmt.Errorf("%w: unknown format (want JPEG, PNG, GIF, BMP or WebP; data starts with %q)", ErrUnsupportedImage, head(buf))
		}
		return nil, fmt.Errorf("%w: %s header: %w", ErrInvalidImage, formatName(format), err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%w: %s image has size %dx%d", ErrUnsupportedImage, formatName(format), cfg.Width, cfg.Height)
	}
	maxPixels := o.MaxPixels
	if maxPixels == 0 {
		maxPixels = DefaultMaxPixels
	}
	if maxPixels > 0 && int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return nil, fmt.Errorf("%w: %s image of %dx%d = %d pixels exceeds the limit of %d",
			ErrImageTooLarge, formatName(format), cfg.Width, cfg.Height, int64(cfg.Width)*int64(cfg.Height), maxPixels)
	}
	var img image.Image
	if format == "gif" {
		img, err = decodeGIFFirstFrame(buf, cfg)
	} else {
		img, _, err = decodeSafely(buf)
	}
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: %s data is truncated: %w", ErrInvalidImage, formatName(format), err)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidImage, formatName(format), err)
	}
	if b := img.Bounds(); b.Empty() {
		return nil, fmt.Errorf("%w: %s image is empty", ErrUnsupportedImage, formatName(format))
	}
	return img, nil
}

// decodeJPEG decodes a JPEG with the libjpeg-exact decoder (the pixels
// Pillow gives, where Go's image/jpeg differs by a level here and there)
// and applies its EXIF orientation.
func (o DecodeOptions) decodeJPEG(buf []byte) (image.Image, error) {
	maxPixels := o.MaxPixels
	if maxPixels == 0 {
		maxPixels = DefaultMaxPixels
	}
	img, meta, err := jpeg.DecodeOptions{MaxPixels: maxPixels}.DecodeBytes(buf)
	switch {
	case err == nil:
	case errors.Is(err, jpeg.ErrTooLarge):
		return nil, fmt.Errorf("%w: %w", ErrImageTooLarge, err)
	case errors.Is(err, jpeg.ErrUnsupported):
		return nil, fmt.Errorf("%w: %w", ErrUnsupportedImage, err)
	case errors.Is(err, jpeg.ErrTruncated):
		return nil, fmt.Errorf("%w: JPEG data is truncated: %w", ErrInvalidImage, err)
	default:
		return nil, fmt.Errorf("%w: JPEG: %w", ErrInvalidImage, err)
	}
	if b := img.Bounds(); b.Empty() {
		return nil, fmt.Errorf("%w: JPEG image is empty", ErrUnsupportedImage)
	}
	if !o.IgnoreOrientation && meta.Orientation > 1 {
		img = applyOrientation(img, meta.Orientation)
	}
	return img, nil
}

// decodeSafely runs image.Decode, turning a decoder panic (a bug in a
// third-party decoder on hostile input) into an error.
func decodeSafely(buf []byte) (img image.Image, format string, err error) {
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("decoder failed: %v", p)
		}
	}()
	return image.Decode(bytes.NewReader(buf))
}

// decodeGIFFirstFrame returns the first frame of a GIF as Pillow sees it: a
// paletted image of the logical screen size in which pixels the frame does
// not cover hold the transparent index when the frame has one, else index 0.
// The palette keeps the true color of the transparent entry (Go's decoder
// blanks it, PIL's convert("RGB") uses it).
func decodeGIFFirstFrame(buf []byte, cfg image.Config) (img image.Image, err error) {
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("decoder failed: %v", p)
		}
	}()
	m, err := gif.Decode(bytes.NewReader(buf))
	if err != nil {
		return nil, err
	}
	pm, ok := m.(*image.Paletted)
	if !ok {
		return m, nil
	}
	pal, trans := gifFirstPalette(buf)
	if pal == nil {
		pal = pm.Palette
	}
	fill := uint8(0)
	if trans >= 0 {
		fill = uint8(trans)
	}
	screen := image.Rect(0, 0, cfg.Width, cfg.Height)
	out := image.NewPaletted(screen, pal)
	if pm.Rect == screen {
		copy(out.Pix, pm.Pix)
		return out, nil
	}
	if fill != 0 {
		for i := range out.Pix {
			out.Pix[i] = fill
		}
	}
	r := pm.Rect.Intersect(screen)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		copy(out.Pix[out.PixOffset(r.Min.X, y):out.PixOffset(r.Max.X, y)], pm.Pix[pm.PixOffset(r.Min.X, y):pm.PixOffset(r.Max.X, y)])
	}
	return out, nil
}

// gifFirstPalette parses the color table of a GIF's first frame (its local
// table, else the global one) and the transparent index of the graphic
// control extension before it (-1 when none). It returns a nil palette when
// the stream does not parse; the decoder then reports the problem.
func gifFirstPalette(d []byte) (color.Palette, int) {
	if len(d) < 13 {
		return nil, -1
	}
	readTable := func(i, packed int) (color.Palette, int) {
		n := 1 << ((packed & 7) + 1)
		if i+3*n > len(d) {
			return nil, -1
		}
		p := make(color.Palette, n)
		for k := 0; k < n; k++ {
			p[k] = color.NRGBA{d[i+3*k], d[i+3*k+1], d[i+3*k+2], 255}
		}
		return p, i + 3*n
	}
	var global color.Palette
	i := 13
	if d[10]&0x80 != 0 {
		global, i = readTable(13, int(d[10]))
		if global == nil {
			return nil, -1
		}
	}
	trans := -1
	for i < len(d) {
		switch d[i] {
		case 0x21: // extension
			if i+2 > len(d) {
				return nil, -1
			}
			label := d[i+1]
			j := i + 2
			first := true
			for j < len(d) && d[j] != 0 {
				n := int(d[j])
				if j+1+n > len(d) {
					return nil, -1
				}
				if label == 0xf9 && first && n >= 4 {
					if d[j+1]&1 != 0 {
						trans = int(d[j+4])
					} else {
						trans = -1
					}
				}
				first = false
				j += 1 + n
			}
			i = j + 1
		case 0x2c: // image descriptor
			if i+10 > len(d) {
				return nil, -1
			}
			pal := global
			if d[i+9]&0x80 != 0 {
				pal, _ = readTable(i+10, int(d[i+9]))
			}
			if pal == nil {
				return nil, -1
			}
			pal = append(color.Palette(nil), pal...)
			if trans >= 0 {
				for len(pal) <= trans {
					pal = append(pal, color.NRGBA{})
				}
				c := pal[trans].(color.NRGBA)
				c.A = 0
				pal[trans] = c
			}
			return pal, trans
		default:
			return nil, -1
		}
	}
	return nil, -1
}

func formatName(f string) string {
	switch f {
	case "":
		return "image"
	case "jpeg", "png", "gif", "bmp":
		return string(bytes.ToUpper([]byte(f)))
	case "webp":
		return "WebP"
	}
	return f
}

func head(b []byte) []byte {
	if len(b) > 8 {
		return b[:8]
	}
	return b
}
