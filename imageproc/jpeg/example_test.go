package jpeg_test

import (
	"fmt"
	"os"

	"github.com/goformer/goformer/imageproc/jpeg"
)

// Decode a JPEG and read its EXIF orientation, which the caller applies
// (as Pillow's ImageOps.exif_transpose does) if it wants upright pixels.
func ExampleDecodeOptions_DecodeBytes() {
	data, err := os.ReadFile("testdata/corpus/pil_exif_orient6.jpg")
	if err != nil {
		fmt.Println(err)
		return
	}
	img, md, err := jpeg.DecodeOptions{MaxPixels: 50_000_000}.DecodeBytes(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%T %v orientation=%d %s\n", img, img.Bounds().Size(), md.Orientation, md.ColorSpace)
	// Output: *image.RGBA (64,48) orientation=6 YCbCr
}
