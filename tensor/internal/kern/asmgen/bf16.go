package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// BFloat16 dot-product kernels (see ../bf16.go for the data layout and the
// arithmetic they must reproduce exactly).

const sigBF16 = "func(kp int, a *uint16, lda int, b *uint16, bstride int, c *float32, ldc int, bias *float32, mask uint64, flags int)"

// MRBF16 is the row count of the AVX512-BF16 micro-tile (its columns are
// BNR = 32, two zmm of 16 float32 lanes).
const MRBF16 = 14

// bf16Wide gives, per row count, the number of panels of the wide kernels
// (more independent accumulator chains when there are few rows: decoding).
// Measured with weights streamed from memory (as in decoding) and
// cache-resident: 1–3 rows gain up to 25%; 4 and 5 rows over two panels
// lost 20–30% when streaming, so they have none.
var bf16Wide = map[int]int{1: 8, 2: 4, 3: 4}

// evexRR emits (as LONG and WORD data) the 6 bytes of a 512-bit, W0, map-0F38 EVEX instruction
// with register operands only (reg, vvvv and rm, unmasked): the Go
// assembler does not know the AVX512-BF16 instructions.
func evexRR(text string, pp, op byte, reg, vvvv, rm int) {
	inv := func(b int) byte { return byte(^b & 1) }
	p0 := inv(reg>>3)<<7 | inv(rm>>4)<<6 | inv(rm>>3)<<5 | inv(reg>>4)<<4 | 0x2
	p1 := (byte(^vvvv)&0xf)<<3 | 1<<2 | pp
	p2 := byte(2)<<5 | inv(vvvv>>4)<<3
	modrm := 0xc0 | byte(reg&7)<<3 | byte(rm&7)
	Comment(text)
	Instruction(&ir.Instruction{Opcode: "LONG", Operands: []Op{U32(uint32(p2)<<24 | uint32(p1)<<16 | uint32(p0)<<8 | 0x62)}})
	Instruction(&ir.Instruction{Opcode: "WORD", Operands: []Op{U16(uint16(modrm)<<8 | uint16(op))}})
}

// vdpbf16ps emits VDPBF16PS acc, b, a (zmm registers): for each lane,
// acc += a.hi·b.hi, then acc += a.lo·b.lo (bfloat16 pairs).
func vdpbf16ps(acc, b, a VecPhysical) {
	evexRR(fmt.Sprintf("VDPBF16PS %s, %s, %s", acc.Asm(), b.Asm(), a.Asm()), 2, 0x52, int(acc.PhysicalIndex()), int(b.PhysicalIndex()), int(a.PhysicalIndex()))
}

// vcvtneps2bf16 emits VCVTNEPS2BF16 from the 16 floats of zmm src to the
// 16 bfloat16 values of ymm dst (same register number as zmm dst).
func vcvtneps2bf16(dst, src VecPhysical) {
	evexRR(fmt.Sprintf("VCVTNEPS2BF16 %s, %s", src.Asm(), dst.Asm()), 2, 0x72, int(dst.PhysicalIndex()), 0, int(src.PhysicalIndex()))
}

// bf16gemm512 generates BF16Gemm512M<mr> (np = 1: an mr×32 tile, column
// mask honoured) or BF16Gemm512M<mr>x<32·np> (np full panels, bstride bytes
// apart). See BF16Kernel in ../bf16.go.
func bf16gemm512(mr, np int) {
	name := fmt.Sprintf("BF16Gemm512M%d", mr)
	if np > 1 {
		name = fmt.Sprintf("BF16Gemm512M%dx%d", mr, 32*np)
	}
	TEXT(name, NOSPLIT, sigBF16)
	if np == 1 {
		Doc(fmt.Sprintf("%s computes a %dx32 bfloat16 tile with AVX512-BF16; see BF16Kernel.", name, mr))
	} else {
		Doc(fmt.Sprintf("%s computes a %dx%d bfloat16 tile (%d full panels) with AVX512-BF16; see BF16Kernel.", name, mr, 32*np, np))
	}
	kp := RCX
	pa, pa2 := RAX, R10
	lda, lda3, lda5 := RSI, R11, R12
	pb, bs, bs3 := RBX, R8, R13
	pc, ldc := RDX, R9
	nv := 2 * np // zmm per row
	zr := []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15, Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}
	// One panel: both B registers of a step are loaded first, then each
	// row's A pair is broadcast and multiplied by both. Wide kernels (few
	// rows) broadcast the rows' pairs first and stream B through four
	// rotating registers, each used by every row right after its load.
	nb, na := nv, 2
	if np > 1 {
		nb, na = 4, mr
	}
	if mr*nv+nb+na > len(zr) {
		panic("bf16gemm512: too many registers")
	}
	acc := make([][]VecPhysical, mr)
	for i := range acc {
		acc[i] = zr[i*nv : (i+1)*nv]
	}
	used := mr * nv
	bregs := zr[used : used+nb]
	aregs := zr[used+nb : used+nb+na]
	// Column v of a row: panel v/2, half v%2.
	cmem := func(v int) Mem { return Mem{Base: pc, Disp: 64 * v} }
	load := func(m Mem, v int, dst VecPhysical) {
		if np == 1 {
			VMOVUPS_Z(m, []Op{K1, K2}[v], dst)
		} else {
			VMOVUPS(m, dst)
		}
	}

	Load(Param("c"), pc)
	Load(Param("ldc"), ldc)
	SHLQ(U8(2), ldc)
	loadMasks()

	// Initial accumulators: C (FlagBeta) + bias (FlagBias), bias, or 0.
	flags, bias, crow := R11, R12, R13
	Load(Param("bias"), bias)
	Load(Param("flags"), flags)
	TESTQ(U32(1), flags)
	JE(LabelRef(name + "_nobeta"))
	MOVQ(pc, crow)
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			load(Mem{Base: crow, Disp: 64 * v}, v, acc[i][v])
		}
		if i+1 < mr {
			ADDQ(ldc, crow)
		}
	}
	TESTQ(U32(2), flags)
	JE(LabelRef(name + "_init"))
	for v := 0; v < nv; v++ {
		load(Mem{Base: bias, Disp: 64 * v}, v, bregs[v%nb])
		for i := 0; i < mr; i++ {
			VADDPS(bregs[v%nb], acc[i][v], acc[i][v])
		}
	}
	JMP(LabelRef(name + "_init"))
	Label(name + "_nobeta")
	TESTQ(U32(2), flags)
	JE(LabelRef(name + "_zero"))
	for v := 0; v < nv; v++ {
		load(Mem{Base: bias, Disp: 64 * v}, v, acc[0][v])
		for i := 1; i < mr; i++ {
			VMOVAPS(acc[0][v], acc[i][v])
		}
	}
	JMP(LabelRef(name + "_init"))
	Label(name + "_zero")
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			VPXORD(acc[i][v], acc[i][v], acc[i][v])
		}
	}

	Label(name + "_init")
	Load(Param("kp"), kp)
	Load(Param("a"), pa)
	Load(Param("lda"), lda)
	Load(Param("b"), pb)
	Load(Param("bstride"), bs)
	SHLQ(U8(1), lda)
	rowStrides(pa, pa2, lda, lda3, lda5)
	LEAQ(Mem{Base: bs, Index: bs, Scale: 2}, bs3)
	pb2 := RDI // panels 4…7
	if np > 4 {
		LEAQ(Mem{Base: pb, Index: bs, Scale: 4}, pb2)
	}

	rows := rowAddrs(mr, pa, pa2, lda, lda3, lda5)
	panel := func(p int, disp int) Mem { return panelAddr(pb, pb2, bs, bs3, p, disp) }
	step := func(u int) {
		if np > 1 {
			for i := 0; i < mr; i++ {
				VPBROADCASTD(rows[i].Offset(4*u), aregs[i])
			}
			for v := 0; v < nv; v++ {
				b := bregs[v%nb]
				VMOVDQU32(panel(v/2, 128*u+64*(v%2)), b)
				for i := 0; i < mr; i++ {
					vdpbf16ps(acc[i][v], b, aregs[i])
				}
			}
			return
		}
		for v := 0; v < nv; v++ {
			VMOVDQU32(panel(v/2, 128*u+64*(v%2)), bregs[v])
		}
		for i := 0; i < mr; i++ {
			r := aregs[i%2]
			VPBROADCASTD(rows[i].Offset(4*u), r)
			for v := 0; v < nv; v++ {
				vdpbf16ps(acc[i][v], bregs[v], r)
			}
		}
	}
	advance := func(pairs int) {
		ADDQ(U8(4*pairs), pa)
		if mr > 5 {
			ADDQ(U8(4*pairs), pa2)
		}
		ADDQ(U32(128*pairs), pb)
		if np > 4 {
			ADDQ(U32(128*pairs), pb2)
		}
	}
	Label(name + "_loop4")
	CMPQ(kp, U8(4))
	JL(LabelRef(name + "_tail"))
	for u := 0; u < 4; u++ {
		step(u)
	}
	advance(4)
	SUBQ(U8(4), kp)
	JMP(LabelRef(name + "_loop4"))
	Label(name + "_tail")
	TESTQ(kp, kp)
	JE(LabelRef(name + "_store"))
	step(0)
	advance(1)
	DECQ(kp)
	JMP(LabelRef(name + "_tail"))

	Label(name + "_store")
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			if np == 1 {
				VMOVUPS(acc[i][v], []Op{K1, K2}[v], cmem(v))
			} else {
				VMOVUPS(acc[i][v], cmem(v))
			}
		}
		if i+1 < mr {
			ADDQ(ldc, pc)
		}
	}
	VZEROUPPER()
	RET()
}

// roundBF16 generates RoundBF16x512: n floats scaled by alpha and rounded
// to bfloat16 with VCVTNEPS2BF16 (see RoundBF16Go, which it reproduces).
func roundBF16() {
	name := "RoundBF16x512"
	TEXT(name, NOSPLIT, "func(dst *uint16, src *float32, n int, alpha float32)")
	Doc(name + " sets dst[i] to float32(alpha·src[i]) rounded to bfloat16 for i < n; see RoundBF16Go.")
	pd := Load(Param("dst"), RDI)
	ps := Load(Param("src"), RSI)
	n := Load(Param("n"), RCX)
	VBROADCASTSS(addr("alpha"), Z31)
	Label(name + "_loop32")
	CMPQ(n, U8(32))
	JL(LabelRef(name + "_loop16"))
	VMULPS(Mem{Base: ps}, Z31, Z0)
	VMULPS(Mem{Base: ps, Disp: 64}, Z31, Z1)
	vcvtneps2bf16(Z2, Z0)
	vcvtneps2bf16(Z3, Z1)
	VMOVDQU16(Y2, Mem{Base: pd})
	VMOVDQU16(Y3, Mem{Base: pd, Disp: 32})
	ADDQ(U8(128), ps)
	ADDQ(U8(64), pd)
	SUBQ(U8(32), n)
	JMP(LabelRef(name + "_loop32"))
	Label(name + "_loop16")
	CMPQ(n, U8(16))
	JL(LabelRef(name + "_tail"))
	VMULPS(Mem{Base: ps}, Z31, Z0)
	vcvtneps2bf16(Z2, Z0)
	VMOVDQU16(Y2, Mem{Base: pd})
	ADDQ(U8(64), ps)
	ADDQ(U8(32), pd)
	SUBQ(U8(16), n)
	Label(name + "_tail")
	TESTQ(n, n)
	JE(LabelRef(name + "_done"))
	MOVL(U32(1), EAX)
	SHLL(CL, EAX)
	DECL(EAX)
	KMOVW(EAX, K1)
	VMOVUPS_Z(Mem{Base: ps}, K1, Z0)
	VMULPS(Z31, Z0, Z0)
	vcvtneps2bf16(Z2, Z0)
	VMOVDQU16(Y2, K1, Mem{Base: pd})
	Label(name + "_done")
	VZEROUPPER()
	RET()
}
