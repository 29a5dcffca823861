package jpeg

// The "islow" integer inverse DCT of libjpeg-turbo (jidctint.c's algorithm:
// 13-bit fixed-point constants, PASS1_BITS = 2, rounding descales) exactly
// as its x86-64 SIMD implementations (jidctint-sse2.asm and -avx2.asm, which
// agree bit for bit) compute it, since those are what Pillow runs on amd64:
//
//   - dequantization keeps the low 16 bits of coefficient*quantizer;
//   - sums of two inputs (in0±in4, in1+in5, in3+in7) wrap at 16 bits and
//     the products and sums of the rotations are 32-bit;
//   - each pass's results saturate to 16 bits, the final samples to
//     -128..127 before the +128 level shift;
//   - a block whose rows 1..7 are all zero takes a shortcut whose column
//     outputs are (in0*q0) << 2 wrapped to 16 bits.
//
// For coefficients an encoder can produce from 8-bit samples no
// intermediate leaves 16 bits and the result equals jidctint.c's (the C
// code wraps at 10 bits with its range-limit table where the SIMD code
// saturates; the two differ only on crafted or damaged data).

const (
	constBits = 13
	pass1Bits = 2

	fix0_298631336 = 2446
	fix0_390180644 = 3196
	fix0_541196100 = 4433
	fix0_765366865 = 6270
	fix0_899976223 = 7373
	fix1_175875602 = 9633
	fix1_501321110 = 12299
	fix1_847759065 = 15137
	fix1_961570560 = 16069
	fix2_053119869 = 16819
	fix2_562915447 = 20995
	fix3_072711026 = 25172
)

// idct1D is one 8-point pass (the SIMD "dodct" macro) on 16-bit inputs,
// returning the descaled 32-bit results before saturation.
func idct1D(x0, x1, x2, x3, x4, x5, x6, x7 int16, shift uint) (o0, o1, o2, o3, o4, o5, o6, o7 int32) {
	// Even part.
	tmp3 := int32(x2)*(fix0_541196100+fix0_765366865) + int32(x6)*fix0_541196100
	tmp2 := int32(x2)*fix0_541196100 + int32(x6)*(fix0_541196100-fix1_847759065)
	t0 := int32(x0+x4) << constBits
	t1 := int32(x0-x4) << constBits
	tmp10 := t0 + tmp3
	tmp13 := t0 - tmp3
	tmp11 := t1 + tmp2
	tmp12 := t1 - tmp2

	// Odd part.
	z3 := int32(x7 + x3)
	z4 := int32(x5 + x1)
	z3r := z3*(fix1_175875602-fix1_961570560) + z4*fix1_175875602
	z4r := z3*fix1_175875602 + z4*(fix1_175875602-fix0_390180644)
	y7, y5, y3, y1 := int32(x7), int32(x5), int32(x3), int32(x1)
	o0t := y7*(fix0_298631336-fix0_899976223) + y1*(-fix0_899976223) + z3r
	o1t := y5*(fix2_053119869-fix2_562915447) + y3*(-fix2_562915447) + z4r
	o2t := y5*(-fix2_562915447) + y3*(fix3_072711026-fix2_562915447) + z3r
	o3t := y7*(-fix0_899976223) + y1*(fix1_501321110-fix0_899976223) + z4r

	rnd := int32(1) << (shift - 1)
	o0 = (tmp10 + o3t + rnd) >> shift
	o7 = (tmp10 - o3t + rnd) >> shift
	o1 = (tmp11 + o2t + rnd) >> shift
	o6 = (tmp11 - o2t + rnd) >> shift
	o2 = (tmp12 + o1t + rnd) >> shift
	o5 = (tmp12 - o1t + rnd) >> shift
	o3 = (tmp13 + o0t + rnd) >> shift
	o4 = (tmp13 - o0t + rnd) >> shift
	return
}

// sat16 is packssdw's signed saturation to 16 bits.
func sat16(v int32) int16 {
	if uint32(v+32768) <= 65535 {
		return int16(v)
	}
	if v < 0 {
		return -32768
	}
	return 32767
}

// sample is the final stage: saturate to 16 then 8 bits, add 128.
func sample(v int32) byte {
	if uint32(v+128) <= 255 {
		return byte(v + 128)
	}
	if v < 0 {
		return 0
	}
	return 255
}

// idctBlock transforms one block of (natural-order, quantized)
// coefficients, dequantizing with mult, into 8 rows of 8 samples at out
// (rows stride bytes apart). It computes what idct1D and the SIMD code
// compute, with idct1D written out in both passes and with shortcuts for
// zero columns and rows that give the same results.
func idctBlock(in *[64]int16, mult *[64]int16, out []byte, stride int, ws *[64]int16) {
	_ = out[7*stride+7]
	acZero := true
	for _, v := range in[8:] {
		if v != 0 {
			acZero = false
			break
		}
	}
	// Pass 1: columns.
	if acZero {
		for c := 0; c < 8; c++ {
			v := (in[c] * mult[c]) << pass1Bits
			ws[c], ws[8+c], ws[16+c], ws[24+c] = v, v, v, v
			ws[32+c], ws[40+c], ws[48+c], ws[56+c] = v, v, v, v
		}
	} else {
		for c := 0; c < 8; c++ {
			x0 := in[c] * mult[c]
			if in[8+c] == 0 && in[16+c] == 0 && in[24+c] == 0 && in[32+c] == 0 &&
				in[40+c] == 0 && in[48+c] == 0 && in[56+c] == 0 {
				// The full pass with zero inputs: (x0<<13 + 1024) >> 11.
				v := sat16(int32(x0) << pass1Bits)
				ws[c], ws[8+c], ws[16+c], ws[24+c] = v, v, v, v
				ws[32+c], ws[40+c], ws[48+c], ws[56+c] = v, v, v, v
				continue
			}
			x1 := in[8+c] * mult[8+c]
			x2 := in[16+c] * mult[16+c]
			x3 := in[24+c] * mult[24+c]
			x4 := in[32+c] * mult[32+c]
			x5 := in[40+c] * mult[40+c]
			x6 := in[48+c] * mult[48+c]
			x7 := in[56+c] * mult[56+c]

			tmp3 := int32(x2)*(fix0_541196100+fix0_765366865) + int32(x6)*fix0_541196100
			tmp2 := int32(x2)*fix0_541196100 + int32(x6)*(fix0_541196100-fix1_847759065)
			t0 := int32(x0+x4) << constBits
			t1 := int32(x0-x4) << constBits
			tmp10 := t0 + tmp3
			tmp13 := t0 - tmp3
			tmp11 := t1 + tmp2
			tmp12 := t1 - tmp2

			z3 := int32(x7 + x3)
			z4 := int32(x5 + x1)
			z3r := z3*(fix1_175875602-fix1_961570560) + z4*fix1_175875602
			z4r := z3*fix1_175875602 + z4*(fix1_175875602-fix0_390180644)
			y7, y5, y3, y1 := int32(x7), int32(x5), int32(x3), int32(x1)
			o0 := y7*(fix0_298631336-fix0_899976223) + y1*(-fix0_899976223) + z3r
			o1 := y5*(fix2_053119869-fix2_562915447) + y3*(-fix2_562915447) + z4r
			o2 := y5*(-fix2_562915447) + y3*(fix3_072711026-fix2_562915447) + z3r
			o3 := y7*(-fix0_899976223) + y1*(fix1_501321110-fix0_899976223) + z4r

			const sh = constBits - pass1Bits
			const rnd = 1 << (sh - 1)
			ws[c] = sat16((tmp10 + o3 + rnd) >> sh)
			ws[56+c] = sat16((tmp10 - o3 + rnd) >> sh)
			ws[8+c] = sat16((tmp11 + o2 + rnd) >> sh)
			ws[48+c] = sat16((tmp11 - o2 + rnd) >> sh)
			ws[16+c] = sat16((tmp12 + o1 + rnd) >> sh)
			ws[40+c] = sat16((tmp12 - o1 + rnd) >> sh)
			ws[24+c] = sat16((tmp13 + o0 + rnd) >> sh)
			ws[32+c] = sat16((tmp13 - o0 + rnd) >> sh)
		}
	}
	// Pass 2: rows.
	const sh = constBits + pass1Bits + 3
	const rnd = 1 << (sh - 1)
	for r := 0; r < 8; r++ {
		w := ws[r*8 : r*8+8 : r*8+8]
		o := out[r*stride : r*stride+8 : r*stride+8]
		if w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0 {
			v := sample((int32(w[0])<<constBits + rnd) >> sh)
			o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7] = v, v, v, v, v, v, v, v
			continue
		}
		x0, x1, x2, x3, x4, x5, x6, x7 := w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]

		tmp3 := int32(x2)*(fix0_541196100+fix0_765366865) + int32(x6)*fix0_541196100
		tmp2 := int32(x2)*fix0_541196100 + int32(x6)*(fix0_541196100-fix1_847759065)
		t0 := int32(x0+x4) << constBits
		t1 := int32(x0-x4) << constBits
		tmp10 := t0 + tmp3
		tmp13 := t0 - tmp3
		tmp11 := t1 + tmp2
		tmp12 := t1 - tmp2

		z3 := int32(x7 + x3)
		z4 := int32(x5 + x1)
		z3r := z3*(fix1_175875602-fix1_961570560) + z4*fix1_175875602
		z4r := z3*fix1_175875602 + z4*(fix1_175875602-fix0_390180644)
		y7, y5, y3, y1 := int32(x7), int32(x5), int32(x3), int32(x1)
		o0 := y7*(fix0_298631336-fix0_899976223) + y1*(-fix0_899976223) + z3r
		o1 := y5*(fix2_053119869-fix2_562915447) + y3*(-fix2_562915447) + z4r
		o2 := y5*(-fix2_562915447) + y3*(fix3_072711026-fix2_562915447) + z3r
		o3 := y7*(-fix0_899976223) + y1*(fix1_501321110-fix0_899976223) + z4r

		o[0] = sample((tmp10 + o3 + rnd) >> sh)
		o[7] = sample((tmp10 - o3 + rnd) >> sh)
		o[1] = sample((tmp11 + o2 + rnd) >> sh)
		o[6] = sample((tmp11 - o2 + rnd) >> sh)
		o[2] = sample((tmp12 + o1 + rnd) >> sh)
		o[5] = sample((tmp12 - o1 + rnd) >> sh)
		o[3] = sample((tmp13 + o0 + rnd) >> sh)
		o[4] = sample((tmp13 - o0 + rnd) >> sh)
	}
}
