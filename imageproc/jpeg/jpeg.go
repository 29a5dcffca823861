package jpeg

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
)

// Sentinel errors, for errors.Is. Every error Decode and DecodeConfig return
// wraps exactly one of them (or, for a failing reader, the reader's error).
var (
	// ErrFormat is returned for data that is not a JPEG file: it does not
	// start with the SOI marker followed by another marker, as Pillow
	// requires (FF D8 FF).
	ErrFormat = errors.New("jpeg: not a JPEG file")
	// ErrUnsupported is returned for JPEG files that use a coding process or
	// layout this package does not decode: arithmetic coding, lossless and
	// hierarchical processes, a sample precision other than 8 bits, a
	// component count other than 1, 3 or 4, and sampling factors whose
	// ratios libjpeg cannot upsample (non-integral ratios).
	ErrUnsupported = errors.New("jpeg: unsupported JPEG feature")
	// ErrCorrupt is returned for malformed data that libjpeg refuses (bad
	// marker segments, invalid Huffman tables, missing tables, invalid
	// progression parameters, ...) and, with DecodeOptions.Strict, for
	// damage libjpeg only warns about.
	ErrCorrupt = errors.New("jpeg: corrupt JPEG data")
	// ErrTruncated is returned when the data ends before the image is
	// complete, where Pillow reports "image file is truncated".
	ErrTruncated = errors.New("jpeg: truncated JPEG data")
	// ErrTooLarge is returned when the declared image size exceeds
	// DecodeOptions.MaxPixels. It is detected from the frame header, before
	// any pixel memory is allocated.
	ErrTooLarge = errors.New("jpeg: image too large")
)

// DefaultMaxPixels is the width*height limit used when
// DecodeOptions.MaxPixels is zero. It is Pillow's MAX_IMAGE_PIXELS
// (1024*1024*1024/4/3).
const DefaultMaxPixels = 89_478_485

// DecodeOptions configures decoding. The zero value gives the defaults.
type DecodeOptions struct {
	// MaxPixels bounds width*height as declared in the frame header; 0
	// means DefaultMaxPixels and a negative value disables the check (the
	// format itself limits both dimensions to 65500, as libjpeg does).
	MaxPixels int64
	// Strict refuses, with ErrCorrupt, data that libjpeg decodes with a
	// warning and Pillow therefore accepts: extraneous bytes before a
	// marker, entropy-coded data that ends early or holds an invalid
	// Huffman code, out-of-sequence restart markers, inconsistent
	// progression, unusual JFIF versions or Adobe transforms. By default
	// such data is decoded exactly as libjpeg recovers from it.
	Strict bool
}

// Metadata describes a decoded JPEG beyond its pixels.
type Metadata struct {
	// Orientation is the EXIF orientation tag (1..8) of the first APP1
	// segment holding EXIF data before the first scan, or 0 when there is
	// none or it does not parse. Decode never applies it: the pixels are
	// as stored, like PIL.Image.open; the caller rotates (as Pillow's
	// ImageOps.exif_transpose does) if it wants to.
	Orientation int
	// ColorSpace is the color space libjpeg assumes for the stored
	// components: "Gray", "YCbCr", "RGB", "CMYK" or "YCCK".
	ColorSpace string
	// Progressive reports a progressive-mode (SOF2) file.
	Progressive bool
}

// Decode decodes a JPEG image with the default options. See
// DecodeOptions.Decode.
func Decode(r io.Reader) (image.Image, error) {
	img, _, err := DecodeOptions{}.Decode(r)
	return img, err
}

// DecodeConfig returns the size and color model of a JPEG image without
// decoding its pixels, using the default options. See
// DecodeOptions.DecodeConfig.
func DecodeConfig(r io.Reader) (image.Config, error) {
	cfg, _, err := DecodeOptions{}.DecodeConfig(r)
	return cfg, err
}

// Decode reads a whole JPEG file from r and decodes it.
//
// The result is an *image.Gray for a one-component (grayscale) file and an
// opaque *image.RGBA otherwise, holding exactly the pixels of
// PIL.Image.open(f).convert("RGB") with Pillow on libjpeg-turbo (for a
// grayscale file R=G=B=Y, which is what convert("RGB") produces from the
// *image.Gray). The EXIF orientation is reported in Metadata, not applied.
func (o DecodeOptions) Decode(r io.Reader) (image.Image, Metadata, error) {
	if r == nil {
		return nil, Metadata{}, fmt.Errorf("%w: nil reader", ErrFormat)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, Metadata{}, fmt.Errorf("jpeg: reading input: %w", err)
	}
	return o.DecodeBytes(data)
}

// DecodeBytes is Decode reading from a byte slice, which it does not
// modify or retain.
func (o DecodeOptions) DecodeBytes(data []byte) (image.Image, Metadata, error) {
	d := &decoder{data: data, opts: o}
	img, err := d.decode()
	if err == nil && o.Strict && d.warning != "" {
		err = fmt.Errorf("%w: %s", ErrCorrupt, d.warning)
	}
	if err != nil {
		return nil, d.metadata(), err
	}
	return img, d.metadata(), nil
}

// DecodeConfig reads the JPEG markers up to and including the frame header
// (SOF) and returns the image size and color model (color.GrayModel for one
// component, color.RGBAModel otherwise) with the metadata seen so far. It
// reads no further than the frame header. The size is checked against
// MaxPixels; coding processes Decode refuses are refused here too.
func (o DecodeOptions) DecodeConfig(r io.Reader) (image.Config, Metadata, error) {
	if r == nil {
		return image.Config{}, Metadata{}, fmt.Errorf("%w: nil reader", ErrFormat)
	}
	d := &decoder{opts: o, src: bufio.NewReader(r)}
	if err := d.readConfig(); err != nil {
		return image.Config{}, d.metadata(), err
	}
	cfg := image.Config{Width: d.width, Height: d.height, ColorModel: color.RGBAModel}
	if len(d.comps) == 1 {
		cfg.ColorModel = color.GrayModel
	}
	return cfg, d.metadata(), nil
}

func (d *decoder) metadata() Metadata {
	return Metadata{Orientation: d.orientation, ColorSpace: d.colorSpace.String(), Progressive: d.progressive}
}
