package kern

import (
	"math"

	"github.com/x448/float16"
)

// WidenF16 sets dst[i] to the IEEE half-precision value src[i].
func WidenF16(dst []float32, src []uint16) {
	src = src[:len(dst)]
	if vec512 {
		asm.f16ToF32(dst, src)
		return
	}
	for i, h := range src {
		dst[i] = float16.Frombits(h).Float32()
	}
}

// WidenBF16 sets dst[i] to the bfloat16 value src[i].
func WidenBF16(dst []float32, src []uint16) {
	src = src[:len(dst)]
	if vec512 {
		asm.bf16ToF32(dst, src)
		return
	}
	for i, h := range src {
		dst[i] = math.Float32frombits(uint32(h) << 16)
	}
}

// NarrowF16 rounds src to IEEE half precision (to nearest even).
func NarrowF16(dst []uint16, src []float32) {
	for i, v := range src[:len(dst)] {
		dst[i] = float16.Fromfloat32(v).Bits()
	}
}

// NarrowBF16 rounds src to bfloat16 (to nearest even; NaN stays NaN).
func NarrowBF16(dst []uint16, src []float32) {
	for i, v := range src[:len(dst)] {
		b := math.Float32bits(v)
		if v != v {
			dst[i] = uint16(b>>16) | 0x40
			continue
		}
		b += 0x7fff + (b>>16)&1
		dst[i] = uint16(b >> 16)
	}
}
