package jpeg

// The "islow" integer inverse DCT of libjpeg (jidctint.c): 13-bit
// fixed-point constants, two passes with PASS1_BITS of extra precision
// between them, and the range-limit table that wraps out-of-range results
// modulo 1024 before clamping. JLONG arithmetic is 64-bit (int64 here) and
// the workspace between the passes is a 32-bit int, as in libjpeg-turbo on
// 64-bit Linux. The quantization multipliers are 16-bit (ISLOW_MULT_TYPE is
// a short in SIMD builds), so dequantization is a product of two int16.

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

// idctLimit is libjpeg's post-IDCT range-limit table: indexed by the
// descaled result (before the +128 level shift) masked to 10 bits.
var idctLimit = func() (t [1024]uint8) {
	for i := range t {
		switch {
		case i < 128:
			t[i] = uint8(i + 128)
		case i < 512:
			t[i] = 255
		case i < 896:
			t[i] = 0
		default:
			t[i] = uint8(i - 896)
		}
	}
	return t
}()

// idctBlock transforms one block of (natural-order, quantized)
// coefficients, dequantizing with mult, into 8 rows of 8 samples at out
// (rows stride bytes apart).
func idctBlock(in *[64]int16, mult *[64]int32, out []byte, stride int, ws *[64]int32) {
	_ = out[7*stride+7]
	// Pass 1: columns.
	for c := 0; c < 8; c++ {
		if in[8+c] == 0 && in[16+c] == 0 && in[24+c] == 0 && in[32+c] == 0 &&
			in[40+c] == 0 && in[48+c] == 0 && in[56+c] == 0 {
			dc := int32(int64(int32(in[c])*mult[c]) << pass1Bits)
			ws[c], ws[8+c], ws[16+c], ws[24+c] = dc, dc, dc, dc
			ws[32+c], ws[40+c], ws[48+c], ws[56+c] = dc, dc, dc, dc
			continue
		}
		z2 := int64(int32(in[16+c]) * mult[16+c])
		z3 := int64(int32(in[48+c]) * mult[48+c])
		z1 := (z2 + z3) * fix0_541196100
		tmp2 := z1 - z3*fix1_847759065
		tmp3 := z1 + z2*fix0_765366865

		z2 = int64(int32(in[c]) * mult[c])
		z3 = int64(int32(in[32+c]) * mult[32+c])
		tmp0 := (z2 + z3) << constBits
		tmp1 := (z2 - z3) << constBits

		tmp10 := tmp0 + tmp3
		tmp13 := tmp0 - tmp3
		tmp11 := tmp1 + tmp2
		tmp12 := tmp1 - tmp2

		tmp0 = int64(int32(in[56+c]) * mult[56+c])
		tmp1 = int64(int32(in[40+c]) * mult[40+c])
		tmp2 = int64(int32(in[24+c]) * mult[24+c])
		tmp3 = int64(int32(in[8+c]) * mult[8+c])

		z1 = tmp0 + tmp3
		z2 = tmp1 + tmp2
		z3 = tmp0 + tmp2
		z4 := tmp1 + tmp3
		z5 := (z3 + z4) * fix1_175875602

		tmp0 *= fix0_298631336
		tmp1 *= fix2_053119869
		tmp2 *= fix3_072711026
		tmp3 *= fix1_501321110
		z1 *= -fix0_899976223
		z2 *= -fix2_562915447
		z3 *= -fix1_961570560
		z4 *= -fix0_390180644

		z3 += z5
		z4 += z5

		tmp0 += z1 + z3
		tmp1 += z2 + z4
		tmp2 += z2 + z3
		tmp3 += z1 + z4

		const sh = constBits - pass1Bits
		const rnd = 1 << (sh - 1)
		ws[c] = int32((tmp10 + tmp3 + rnd) >> sh)
		ws[56+c] = int32((tmp10 - tmp3 + rnd) >> sh)
		ws[8+c] = int32((tmp11 + tmp2 + rnd) >> sh)
		ws[48+c] = int32((tmp11 - tmp2 + rnd) >> sh)
		ws[16+c] = int32((tmp12 + tmp1 + rnd) >> sh)
		ws[40+c] = int32((tmp12 - tmp1 + rnd) >> sh)
		ws[24+c] = int32((tmp13 + tmp0 + rnd) >> sh)
		ws[32+c] = int32((tmp13 - tmp0 + rnd) >> sh)
	}

	// Pass 2: rows.
	const sh = constBits + pass1Bits + 3
	const rnd = 1 << (sh - 1)
	for r := 0; r < 8; r++ {
		w := ws[r*8 : r*8+8 : r*8+8]
		o := out[r*stride : r*stride+8 : r*stride+8]
		if w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0 {
			v := idctLimit[int((int64(w[0])+(1<<(pass1Bits+2)))>>(pass1Bits+3))&1023]
			o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7] = v, v, v, v, v, v, v, v
			continue
		}
		z2 := int64(w[2])
		z3 := int64(w[6])
		z1 := (z2 + z3) * fix0_541196100
		tmp2 := z1 - z3*fix1_847759065
		tmp3 := z1 + z2*fix0_765366865

		tmp0 := (int64(w[0]) + int64(w[4])) << constBits
		tmp1 := (int64(w[0]) - int64(w[4])) << constBits

		tmp10 := tmp0 + tmp3
		tmp13 := tmp0 - tmp3
		tmp11 := tmp1 + tmp2
		tmp12 := tmp1 - tmp2

		tmp0 = int64(w[7])
		tmp1 = int64(w[5])
		tmp2 = int64(w[3])
		tmp3 = int64(w[1])

		z1 = tmp0 + tmp3
		z2 = tmp1 + tmp2
		z3 = tmp0 + tmp2
		z4 := tmp1 + tmp3
		z5 := (z3 + z4) * fix1_175875602

		tmp0 *= fix0_298631336
		tmp1 *= fix2_053119869
		tmp2 *= fix3_072711026
		tmp3 *= fix1_501321110
		z1 *= -fix0_899976223
		z2 *= -fix2_562915447
		z3 *= -fix1_961570560
		z4 *= -fix0_390180644

		z3 += z5
		z4 += z5

		tmp0 += z1 + z3
		tmp1 += z2 + z4
		tmp2 += z2 + z3
		tmp3 += z1 + z4

		o[0] = idctLimit[int((tmp10+tmp3+rnd)>>sh)&1023]
		o[7] = idctLimit[int((tmp10-tmp3+rnd)>>sh)&1023]
		o[1] = idctLimit[int((tmp11+tmp2+rnd)>>sh)&1023]
		o[6] = idctLimit[int((tmp11-tmp2+rnd)>>sh)&1023]
		o[2] = idctLimit[int((tmp12+tmp1+rnd)>>sh)&1023]
		o[5] = idctLimit[int((tmp12-tmp1+rnd)>>sh)&1023]
		o[3] = idctLimit[int((tmp13+tmp0+rnd)>>sh)&1023]
		o[4] = idctLimit[int((tmp13-tmp0+rnd)>>sh)&1023]
	}
}
