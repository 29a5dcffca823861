package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Int8 kernels (see ../q8.go for the data layout and the arithmetic they
// must reproduce exactly).

const sigQ8 = "func(kq int, a *byte, lda int, b *byte, c *float32, ldc int, sa *float32, corr *int32, ss int, sw *float32, bias *float32, mask uint64, flags int)"

// MRQ8 is the row count of the AVX512-VNNI int8 micro-tile (its columns are
// NRQ8 = 32, two zmm of 16 int32 lanes).
const MRQ8 = 14

// vpdpbusd emits VPDPBUSD (AVX512-VNNI), which avo v0.5.0 does not know:
// acc[j] += Σ_{r<4} u[4j+r]·s[4j+r] with u unsigned and s signed bytes.
// In Go operand order the signed operand comes first (a register, memory
// or, with bcst, one 4-byte group of memory broadcast to every lane), then
// the unsigned register, then the accumulator.
func vpdpbusd(s Op, u, acc VecPhysical, bcst bool) {
	in := &ir.Instruction{
		Opcode:   "VPDPBUSD",
		Operands: []Op{s, u, acc},
		Inputs:   []Op{s, u, acc},
		Outputs:  []Op{acc},
		ISA:      []string{"AVX512_VNNI"},
	}
	if bcst {
		in.Suffixes = []string{"BCST"}
	}
	Instruction(in)
}

// q8gemm512 generates Q8Gemm512M<mr>: an mr×32 tile of int8 products over
// one K block, scaled into float32 C. See Q8Kernel in ../q8.go.
func q8gemm512(mr int) {
	name := fmt.Sprintf("Q8Gemm512M%d", mr)
	TEXT(name, NOSPLIT, sigQ8)
	Doc(fmt.Sprintf("%s computes a %dx32 int8 tile with AVX512-VNNI; see Q8Kernel.", name, mr))
	kq := RCX
	pa, pa2 := RAX, R10
	lda, lda3, lda5 := RSI, R11, R12
	pb := RBX
	Load(Param("kq"), kq)
	Load(Param("a"), pa)
	Load(Param("lda"), lda)
	Load(Param("b"), pb)
	loadMasks()
	rowStrides(pa, pa2, lda, lda3, lda5)
	masks := []Op{K1, K2}

	// One or two sets of accumulators: with few rows, alternate quads go
	// to separate registers so that the VPDPBUSD latency chains overlap.
	sets := 1
	if mr <= 2 {
		sets = 2
	}
	zr := []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15, Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27}
	acc := make([][][]VecPhysical, sets)
	n := 0
	for s := range acc {
		acc[s] = make([][]VecPhysical, mr)
		for i := range acc[s] {
			acc[s][i] = zr[n : n+2]
			n += 2
			for _, r := range acc[s][i] {
				VPXORD(r, r, r)
			}
		}
	}
	bregs := [][]VecPhysical{{Z28, Z29}, {Z30, Z31}}
	rows := rowAddrs(mr, pa, pa2, lda, lda3, lda5)
	step := func(u int, set int, base Mem) {
		br := bregs[u%2]
		VMOVDQU32(base, br[0])
		VMOVDQU32(base.Offset(64), br[1])
		for i := 0; i < mr; i++ {
			for v := 0; v < 2; v++ {
				vpdpbusd(rows[i].Offset(4*u), br[v], acc[set][i][v], true)
			}
		}
	}
	Label(name + "_loop4")
	CMPQ(kq, U8(4))
	JL(LabelRef(name + "_tail"))
	for u := 0; u < 4; u++ {
		step(u, u%sets, Mem{Base: pb, Disp: 128 * u})
	}
	ADDQ(U8(16), pa)
	ADDQ(U8(16), pa2)
	ADDQ(U32(512), pb)
	SUBQ(U8(4), kq)
	JMP(LabelRef(name + "_loop4"))
	Label(name + "_tail")
	TESTQ(kq, kq)
	JE(LabelRef(name + "_scale"))
	step(0, 0, Mem{Base: pb})
	ADDQ(U8(4), pa)
	ADDQ(U8(4), pa2)
	ADDQ(U8(128), pb)
	DECQ(kq)
	JMP(LabelRef(name + "_tail"))

	// Epilogue: f = float32(Σ u·x − corr)·sw[j]·sa[i]; then + bias; then + C.
	Label(name + "_scale")
	if sets == 2 {
		for i := 0; i < mr; i++ {
			for v := 0; v < 2; v++ {
				VPADDD(acc[1][i][v], acc[0][i][v], acc[0][i][v])
			}
		}
	}
	a := acc[0]
	sw := []VecPhysical{Z28, Z29}
	Load(Param("sw"), RBX)
	VMOVUPS(Mem{Base: RBX}, sw[0])
	VMOVUPS(Mem{Base: RBX, Disp: 64}, sw[1])
	Load(Param("sa"), RDI)
	Load(Param("corr"), R8)
	Load(Param("ss"), R13)
	SHLQ(U8(2), R13)
	perRow(mr, R13, []Op{RDI, R8}, func(i int) {
		for v := 0; v < 2; v++ {
			VPSUBD_BCST(Mem{Base: R8}, a[i][v], a[i][v])
			VCVTDQ2PS(a[i][v], a[i][v])
			VMULPS(sw[v], a[i][v], a[i][v])
			VMULPS_BCST(Mem{Base: RDI}, a[i][v], a[i][v])
		}
	})
	pc, ldc := RDX, R9
	loadOutput(pc, ldc, RAX)
	storeTile512(name, a, pc, ldc, RAX, func(v int, m Mem, r VecPhysical) {
		VMOVUPS_Z(m, masks[v], sw[v])
		VADDPS(sw[v], r, r) // r += C
	})
}

const sigQ8Wide = "func(kq int, a *byte, b *byte, pstride int, c *float32, sa *float32, corr *int32, sw *float32, swstride int, bias *float32, flags int)"

// q8gemm512M1Wide generates Q8Gemm512M1x<32·np>: one row of quantized A
// times np full int8 panels of one K block at once (pstride bytes apart;
// their scales swstride bytes apart), so that a one-row product (decoding)
// streams np panels side by side with 2·np independent accumulator chains,
// prefetching each wideAhead bytes ahead. The integer sums are exact and
// the epilogue is Q8Gemm512M1's, in its order: results are bit-identical
// to np calls of it (see Q8WideKernel).
func q8gemm512M1Wide(np int) {
	name := fmt.Sprintf("Q8Gemm512M1x%d", 32*np)
	TEXT(name, NOSPLIT, sigQ8Wide)
	Doc(fmt.Sprintf("%s computes a 1x%d int8 tile over %d full panels (pstride bytes apart) with AVX512-VNNI; see Q8WideKernel.", name, 32*np, np))
	nv := 2 * np
	kq, pa, pb, ps, ps3, pb2, zr := widePrologue(np, "kq")
	acc := zr[:nv]
	bregs := zr[nv : nv+6]
	for _, r := range acc {
		VPXORD(r, r, r)
	}
	panel := func(p int, disp int) Mem { return panelAddr(pb, pb2, ps, ps3, p, disp) }
	nb := 0
	step := func(u int, prefetch bool) {
		for v := 0; v < nv; v++ {
			b := bregs[nb%len(bregs)]
			nb++
			VMOVDQU32(panel(v/2, 128*u+64*(v%2)), b)
			vpdpbusd(Mem{Base: pa, Disp: 4 * u}, b, acc[v], true)
		}
		if prefetch {
			for p := 0; p < np; p++ {
				for l := 0; l < 2; l++ {
					PREFETCHT0(panel(p, wideAhead+128*u+64*l))
				}
			}
		}
	}
	wideLoop(name, "_scale", kq, step, func(quads int) {
		ADDQ(U8(4*quads), pa)
		ADDQ(U32(128*quads), pb)
		if np > 4 {
			ADDQ(U32(128*quads), pb2)
		}
	})

	// Epilogue, as Q8Gemm512M1's: f = float32(Σ − corr)·sw[j]·sa, + bias,
	// + C.
	Label(name + "_scale")
	psa, pcorr, psw, sws, pc, bias, flags := R9, R10, R11, R12, RDX, RSI, RBX
	Load(Param("sa"), psa)
	Load(Param("corr"), pcorr)
	Load(Param("sw"), psw)
	Load(Param("swstride"), sws)
	Load(Param("c"), pc)
	Load(Param("bias"), bias)
	Load(Param("flags"), flags)
	for p := 0; p < np; p++ {
		for v := 0; v < 2; v++ {
			a := acc[2*p+v]
			VPSUBD_BCST(Mem{Base: pcorr}, a, a)
			VCVTDQ2PS(a, a)
			VMULPS(Mem{Base: psw, Disp: 64 * v}, a, a)
			VMULPS_BCST(Mem{Base: psa}, a, a)
		}
		if p+1 < np {
			ADDQ(sws, psw)
		}
	}
	TESTQ(U32(2), flags)
	JE(LabelRef(name + "_nobias"))
	for v, r := range acc {
		VADDPS(Mem{Base: bias, Disp: 64 * v}, r, r)
	}
	Label(name + "_nobias")
	TESTQ(U32(1), flags)
	JE(LabelRef(name + "_nobeta"))
	for v, r := range acc {
		VADDPS(Mem{Base: pc, Disp: 64 * v}, r, r)
	}
	Label(name + "_nobeta")
	for v, r := range acc {
		VMOVUPS(r, Mem{Base: pc, Disp: 64 * v})
	}
	VZEROUPPER()
	RET()
}

// quantQ8 generates QuantQ8x512: one row of n floats quantized in blocks of
// qk values to symmetric int8 (see QuantQ8Go, which it reproduces exactly).
func quantQ8() {
	name := "QuantQ8x512"
	TEXT(name, NOSPLIT, "func(x *float32, n int, q *byte, sa *float32, corr *int32, qk int)")
	Doc(name + " quantizes n floats of x to int8 in blocks of qk (a multiple of 16); see QuantQ8Go.")
	px := Load(Param("x"), RSI)
	n := Load(Param("n"), RDX)
	pq := Load(Param("q"), RDI)
	psa := Load(Param("sa"), R8)
	pcorr := Load(Param("corr"), R9)
	qk := Load(Param("qk"), R10)
	VBROADCASTSS(cst("absmask"), Z31)
	blen := R11
	Label(name + "_block")
	TESTQ(n, n)
	JE(LabelRef(name + "_done"))
	MOVQ(qk, blen)
	CMPQ(n, qk)
	CMOVQLT(n, blen)
	// Tail mask for blen%16 in K1.
	tailMaskK1(blen)

	// Pass 1: m = max |x|.
	VPXORD(Z0, Z0, Z0)
	MOVQ(px, RAX)
	MOVQ(blen, RBX)
	loopRBX16(name+"_max", func() {
		VANDPS(Mem{Base: RAX}, Z31, Z1)
		VMAXPS(Z1, Z0, Z0)
		ADDQ(U8(64), RAX)
	}, func() {
		VMOVUPS_Z(Mem{Base: RAX}, K1, Z1)
		VANDPS(Z31, Z1, Z1)
		VMAXPS(Z1, Z0, Z0)
	})
	hsum(Z0, Z1, maxOp)
	// inv = 127/m and scale = m/127, both 0 unless m > tiny.
	UCOMISS(cst("q8tiny"), X0)
	JA(LabelRef(name + "_nonzero"))
	VXORPS(X3, X3, X3)
	VXORPS(X4, X4, X4)
	JMP(LabelRef(name + "_scaled"))
	Label(name + "_nonzero")
	VMOVSS(cst("q8max"), X2)
	VDIVSS(X0, X2, X3)
	VDIVSS(X2, X0, X4)
	Label(name + "_scaled")
	VMOVSS(X4, Mem{Base: psa})
	VBROADCASTSS(X3, Z3)

	// Pass 2: q = round(x·inv) (to nearest even), Σ q.
	VPXORD(Z5, Z5, Z5)
	MOVQ(px, RAX)
	MOVQ(blen, RBX)
	MOVQ(pq, R12)
	loopRBX16(name+"_q", func() {
		VMULPS(Mem{Base: RAX}, Z3, Z1)
		VCVTPS2DQ(Z1, Z1)
		VPADDD(Z1, Z5, Z5)
		VPMOVSDB(Z1, Mem{Base: R12})
		ADDQ(U8(64), RAX)
		ADDQ(U8(16), R12)
	}, func() {
		VMOVUPS_Z(Mem{Base: RAX}, K1, Z1)
		VMULPS(Z3, Z1, Z1)
		VCVTPS2DQ(Z1, Z1)
		VPADDD(Z1, Z5, Z5)
		VPMOVSDB(Z1, K1, Mem{Base: R12})
	})
	VEXTRACTI32X8(U8(1), Z5, Y6)
	VPADDD(Y6, Y5, Y5)
	VEXTRACTI128(U8(1), Y5, X6)
	VPADDD(X6, X5, X5)
	VPSHUFD(U8(0x4e), X5, X6)
	VPADDD(X6, X5, X5)
	VPSHUFD(U8(0xb1), X5, X6)
	VPADDD(X6, X5, X5)
	VMOVD(X5, EAX)
	SHLL(U8(7), EAX)
	MOVL(EAX, Mem{Base: pcorr})

	LEAQ(Mem{Base: px, Index: blen, Scale: 4}, px)
	ADDQ(blen, pq)
	ADDQ(U8(4), psa)
	ADDQ(U8(4), pcorr)
	SUBQ(blen, n)
	JMP(LabelRef(name + "_block"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// MRQ8x256 is the row count of the AVX2 int8 micro-tile.
const MRQ8x256 = 2

// q8gemm256 generates Q8Gemm256M<mr>: the AVX2 int8 kernel (full tiles
// only, mask ignored). AVX2 has no VPDPBUSD; VPMADDUBSW multiplies unsigned
// by signed bytes into saturating int16 pair sums, which stay exact only
// when each product is at most 127·127: so the weights are made signed
// again (u XOR 0x80 = q), the activation's magnitude is the unsigned
// operand (|x| ≤ 127) and its sign moves onto the weight (VPSIGNB), giving
// |x|·sign(x)·q = x·q; VPMADDWD with ones sums the pairs into int32. The
// sum is Σ x·q directly: corr is not used.
func q8gemm256(mr int) {
	name := fmt.Sprintf("Q8Gemm256M%d", mr)
	TEXT(name, NOSPLIT, sigQ8)
	Doc(fmt.Sprintf("%s computes a %dx32 int8 tile with AVX2 (full tiles only); see Q8Kernel.", name, mr))
	kq := RCX
	pa, lda, pb := RAX, RSI, RBX
	Load(Param("kq"), kq)
	Load(Param("a"), pa)
	Load(Param("lda"), lda)
	Load(Param("b"), pb)
	yr := []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7}
	acc := make([][]VecPhysical, mr)
	for i := range acc {
		acc[i] = yr[4*i : 4*i+4]
		for _, r := range acc[i] {
			VPXOR(r, r, r)
		}
	}
	xb := []VecPhysical{Y8, Y10}
	xa := []VecPhysical{Y9, Y11}
	q, t, flip, ones := Y12, Y13, Y14, Y15
	VPCMPEQW(ones, ones, ones)
	VPSRLW(U8(15), ones, ones) // words of 1
	VPCMPEQB(flip, flip, flip)
	VPABSB(flip, flip)
	VPSLLW(U8(7), flip, flip) // bytes of 0x80
	Label(name + "_loop")
	TESTQ(kq, kq)
	JE(LabelRef(name + "_scale"))
	VPBROADCASTD(Mem{Base: pa}, xb[0])
	VPABSB(xb[0], xa[0])
	if mr > 1 {
		VPBROADCASTD(Mem{Base: pa, Index: lda, Scale: 1}, xb[1])
		VPABSB(xb[1], xa[1])
	}
	for v := 0; v < 4; v++ {
		VPXOR(Mem{Base: pb, Disp: 32 * v}, flip, q)
		for i := 0; i < mr; i++ {
			VPSIGNB(xb[i], q, t)
			VPMADDUBSW(t, xa[i], t)
			VPMADDWD(ones, t, t)
			VPADDD(t, acc[i][v], acc[i][v])
		}
	}
	ADDQ(U8(4), pa)
	ADDQ(U8(128), pb)
	DECQ(kq)
	JMP(LabelRef(name + "_loop"))

	Label(name + "_scale")
	Load(Param("sw"), RBX)
	Load(Param("sa"), RDI)
	Load(Param("ss"), R13)
	SHLQ(U8(2), R13)
	perRow(mr, R13, []Op{RDI}, func(i int) {
		VBROADCASTSS(Mem{Base: RDI}, t)
		for v := 0; v < 4; v++ {
			VCVTDQ2PS(acc[i][v], acc[i][v])
			VMULPS(Mem{Base: RBX, Disp: 32 * v}, acc[i][v], acc[i][v])
			VMULPS(t, acc[i][v], acc[i][v])
		}
	})
	pc, ldc := RDX, R9
	loadOutput(pc, ldc, RAX)
	TESTQ(U32(2), RAX)
	JE(LabelRef(name + "_nobias"))
	for i := 0; i < mr; i++ {
		for v := 0; v < 4; v++ {
			VADDPS(Mem{Base: RSI, Disp: 32 * v}, acc[i][v], acc[i][v])
		}
	}
	Label(name + "_nobias")
	TESTQ(U32(1), RAX)
	JE(LabelRef(name + "_store"))
	MOVQ(pc, R8)
	perRow(mr, ldc, []Op{R8}, func(i int) {
		for v := 0; v < 4; v++ {
			VADDPS(Mem{Base: R8, Disp: 32 * v}, acc[i][v], acc[i][v])
		}
	})
	Label(name + "_store")
	perRow(mr, ldc, []Op{pc}, func(i int) {
		for v := 0; v < 4; v++ {
			VMOVUPS(acc[i][v], Mem{Base: pc, Disp: 32 * v})
		}
	})
	VZEROUPPER()
	RET()
}
