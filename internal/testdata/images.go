package testdata

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"io"
	"os"
	"testing"
)

// DecodeFile opens the file at path and decodes it with decode (an image
// or audio decoder), failing tb with the path when either fails.
func DecodeFile[T any](tb testing.TB, path string, decode func(io.Reader) (T, error)) T {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	v, err := decode(f)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return v
}

// Quadrants returns a 32×16 image with red, green, blue and white quadrants
// (top-left, top-right, bottom-left, bottom-right).
func Quadrants() *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, 32, 16))
	colors := [4]color.RGBA{{255, 0, 0, 255}, {0, 255, 0, 255}, {0, 0, 255, 255}, {255, 255, 255, 255}}
	for y := 0; y < 16; y++ {
		for x := 0; x < 32; x++ {
			m.SetRGBA(x, y, colors[(y/8)*2+x/16])
		}
	}
	return m
}

// PNGHeader returns a PNG signature and IHDR chunk declaring w×h 8-bit RGB
// pixels, with no image data: enough for image.DecodeConfig (which must
// stop a decompression bomb there), far too little to decode.
func PNGHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.WriteString("IHDR")
	b.Write(ihdr)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte("IHDR"), ihdr...)))
	return b.Bytes()
}
