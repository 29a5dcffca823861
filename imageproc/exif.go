package imageproc

import (
	"encoding/binary"
	"image"
)

// jpegOrientation returns the EXIF orientation tag (1..8) of a JPEG stream,
// or 0 when it has none or the EXIF data does not parse. Like Pillow it reads
// the first APP1 segment that holds EXIF data.
func jpegOrientation(d []byte) int {
	if len(d) < 4 || d[0] != 0xff || d[1] != 0xd8 {
		return 0
	}
	i := 2
	for i+4 <= len(d) {
		if d[i] != 0xff {
			return 0
		}
		marker := d[i+1]
		if marker == 0xff { // fill byte
			i++
			continue
		}
		if marker == 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker == 0x01 {
			i += 2
			continue
		}
		if marker == 0xda || marker == 0xd9 { // start of scan, end of image
			return 0
		}
		n := int(binary.BigEndian.Uint16(d[i+2:]))
		if n < 2 || i+2+n > len(d) {
			return 0
		}
		seg := d[i+4 : i+2+n]
		if marker == 0xe1 && len(seg) >= 6 && string(seg[:6]) == "Exif\x00\x00" {
			return exifOrientation(seg[6:])
		}
		i += 2 + n
	}
	return 0
}

// exifOrientation reads tag 0x0112 of IFD0 from a TIFF-structured EXIF block.
func exifOrientation(t []byte) int {
	if len(t) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0
	}
	if bo.Uint16(t[2:]) != 42 {
		return 0
	}
	off := int64(bo.Uint32(t[4:]))
	if off < 8 || off+2 > int64(len(t)) {
		return 0
	}
	n := int64(bo.Uint16(t[off:]))
	for k := int64(0); k < n; k++ {
		e := off + 2 + 12*k
		if e+12 > int64(len(t)) {
			return 0
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		var v int
		switch bo.Uint16(t[e+2:]) {
		case 3: // SHORT
			v = int(bo.Uint16(t[e+8:]))
		case 4: // LONG
			v = int(bo.Uint32(t[e+8:]))
		default:
			return 0
		}
		if v < 1 || v > 8 {
			return 0
		}
		return v
	}
	return 0
}

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
