package imageproc

import (
	"image"
)

// applyOrientation transposes img as PIL's ImageOps.exif_transpose does for
// the given EXIF orientation (2..8). The result is an opaque *image.RGBA
// holding img converted to RGB (the conversion is per pixel, so converting
// before or after the transposition gives the same pixels).
func applyOrientation(img image.Image, orient int) image.Image {
	src, err := toRGB(img)
	if err != nil {
		return img
	}
	w, h := src.w, src.h
	ow, oh := w, h
	if orient >= 5 {
		ow, oh = h, w
	}
	out := image.NewRGBA(image.Rect(0, 0, ow, oh))
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			var sx, sy int
			switch orient {
			case 2: // FLIP_LEFT_RIGHT
				sx, sy = w-1-x, y
			case 3: // ROTATE_180
				sx, sy = w-1-x, h-1-y
			case 4: // FLIP_TOP_BOTTOM
				sx, sy = x, h-1-y
			case 5: // TRANSPOSE
				sx, sy = y, x
			case 6: // ROTATE_270 (90° clockwise)
				sx, sy = y, h-1-x
			case 7: // TRANSVERSE
				sx, sy = w-1-y, h-1-x
			case 8: // ROTATE_90 (90° counter-clockwise)
				sx, sy = w-1-y, x
			default:
				sx, sy = x, y
			}
			s := src.pix[3*(sy*w+sx):]
			o := out.Pix[out.PixOffset(x, y):]
			o[0], o[1], o[2], o[3] = s[0], s[1], s[2], 255
		}
	}
	return out
}
