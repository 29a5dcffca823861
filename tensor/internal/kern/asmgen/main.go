// Command asmgen generates the amd64 assembly kernels of package kern with
// avo. Run it through `go generate` in tensor/internal/kern.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

const sig = "func(kc int, a *float32, lda int, b *float32, bstride int, c *float32, ldc int, alpha, beta float32, bias *float32, mask uint64, flags int, pf *byte)"

const sigHalf = "func(kc int, a *float32, lda int, b *uint16, bstride int, c *float32, ldc int, alpha, beta float32, bias *float32, mask uint64, flags int, pf *byte)"

func main() {
	Package("github.com/goformer/goformer/tensor/internal/kern")
	ConstraintExpr("amd64,!purego")
	for mr := 1; mr <= MR512; mr++ {
		gemm512(mr, "", false)
	}
	for mr := 1; mr <= MR512; mr++ {
		gemm512(mr, "H", false)
	}
	for mr := 1; mr <= MR512; mr++ {
		gemm512(mr, "B", false)
	}
	for mr := 1; mr <= MR256; mr++ {
		gemm256(mr, false)
	}
	peak()
	widen()
	vecmath()
	dots()
	dotRows()
	for mr := 1; mr <= MRQ8; mr++ {
		q8gemm512(mr)
	}
	quantQ8()
	for _, np := range wideNP {
		q8gemm512M1Wide(np)
	}
	for mr := 1; mr <= MRQ8x256; mr++ {
		q8gemm256(mr)
	}
	for mr := 1; mr <= MRBF16; mr++ {
		bf16gemm512(mr, 1)
	}
	for mr := 1; mr <= MRBF16; mr++ {
		if np := bf16Wide[mr]; np > 1 {
			bf16gemm512(mr, np)
		}
	}
	roundBF16()
	gemm512M1Wides()
	Generate()
}

// Micro-kernel geometry (must match kern.go).
const (
	MR512 = 14 // rows of the AVX-512 micro-tile
	NV512 = 2  // zmm columns (32 floats)
	MR256 = 6  // rows of the AVX2 micro-tile
	NV256 = 2  // ymm columns (16 floats)
)

// rowAddrs sets up registers so that rows 0..mr-1 of a row-major matrix with
// a byte row stride in ld can be addressed as Mem operands relative to two
// moving base pointers p and p2 (p2 = p + 5·ld). It returns the operands.
func rowAddrs(mr int, p, p2, ld, ld3, ld5 GPPhysical) []Mem {
	m := make([]Mem, mr)
	for i := 0; i < mr; i++ {
		switch i {
		case 0:
			m[i] = Mem{Base: p}
		case 1:
			m[i] = Mem{Base: p, Index: ld, Scale: 1}
		case 2:
			m[i] = Mem{Base: p, Index: ld, Scale: 2}
		case 3:
			m[i] = Mem{Base: p, Index: ld3, Scale: 1}
		case 4:
			m[i] = Mem{Base: p, Index: ld, Scale: 4}
		case 5:
			m[i] = Mem{Base: p2}
		case 6:
			m[i] = Mem{Base: p, Index: ld3, Scale: 2}
		case 7:
			m[i] = Mem{Base: p2, Index: ld, Scale: 2}
		case 8:
			m[i] = Mem{Base: p, Index: ld, Scale: 8}
		case 9:
			m[i] = Mem{Base: p2, Index: ld, Scale: 4}
		case 10:
			m[i] = Mem{Base: p, Index: ld5, Scale: 2}
		case 11:
			m[i] = Mem{Base: p2, Index: ld3, Scale: 2}
		case 12:
			m[i] = Mem{Base: p, Index: ld3, Scale: 4}
		case 13:
			m[i] = Mem{Base: p2, Index: ld, Scale: 8}
		default:
			panic("too many rows")
		}
	}
	return m
}

// pfbAhead is how many k steps ahead multi-row kernels prefetch a packed
// B panel into L1 with flag 8.
const pfbAhead = 16

// pfAheadLog is log2 of how many k steps ahead one-row kernels prefetch B.
const pfAheadLog = 5

// gemm512 generates the AVX-512 micro-kernel of mr rows; half selects the
// element type of the B panel: "" float32, "H" IEEE half, "B" bfloat16
// (widened to float32 in registers).
func gemm512(mr int, half string, packed bool) {
	name := fmt.Sprintf("Sgemm512%sM%d", half, mr)
	if packed {
		name = fmt.Sprintf("Sgemm512PM%d", mr)
		TEXT(name, NOSPLIT, sig)
		Doc(fmt.Sprintf("%s is Sgemm512M%d with A packed as kc groups of %d row values (lda ignored).", name, mr, MR512))
	} else if half == "" {
		TEXT(name, NOSPLIT, sig)
		Doc(fmt.Sprintf("%s computes a %dx%d tile: C = alpha·A·B + beta·C (+ bias); see kern.go.", name, mr, 16*NV512))
	} else {
		TEXT(name, NOSPLIT, sigHalf)
		kind := map[string]string{"H": "IEEE half", "B": "bfloat16"}[half]
		Doc(fmt.Sprintf("%s is Sgemm512M%d with a %s B panel.", name, mr, kind))
	}
	bw := 64 // bytes per 16 B elements
	if half != "" {
		bw = 32
	}
	nv := NV512
	// Registers.
	kc := RCX
	pa, pa2 := RAX, R10
	lda, lda3, lda5 := RSI, R11, R12
	pb, bs, bs3 := RBX, R8, R13
	pc, ldc := RDX, R9
	Load(Param("kc"), kc)
	Load(Param("a"), pa)
	Load(Param("lda"), lda)
	Load(Param("b"), pb)
	Load(Param("bstride"), bs)
	loadMasks()
	Load(Param("pf"), RDI)
	pf2 := mr > 1 && half == "" && !packed
	if pf2 {
		Load(Param("flags"), R14)
		ANDQ(U8(4), R14)
		SHLQ(U8(4), R14)
	}
	SHLQ(U8(2), lda)
	rowStrides(pa, pa2, lda, lda3, lda5)
	LEAQ(Mem{Base: bs, Index: bs, Scale: 2}, bs3)
	masks := []Op{K1, K2}
	// Prefetch the C tile into L1 while the loop runs: its rows are read and
	// written by the epilogue.
	Load(Param("c"), pc)
	Load(Param("ldc"), ldc)
	SHLQ(U8(2), ldc)
	perRow(mr, ldc, []Op{pc}, func(i int) {
		PREFETCHT0(Mem{Base: pc})
		PREFETCHT0(Mem{Base: pc, Disp: 64})
	})

	acc := make([][]VecPhysical, mr)
	zr := []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15, Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}
	for i := range acc {
		acc[i] = zr[i*nv : (i+1)*nv]
		for _, r := range acc[i] {
			VPXORD(r, r, r)
		}
	}
	bregs := []VecPhysical{Z28, Z29}
	bc := []VecPhysical{Z30, Z31}
	arow := aAddr(mr, MR512, packed, pa, pa2, lda, lda3, lda5)
	step := func(u int, bmem []Mem) {
		for v := 0; v < nv; v++ {
			switch half {
			case "":
				VMOVUPS_Z(bmem[v], masks[v], bregs[v])
			case "H":
				VCVTPH2PS_Z(bmem[v], masks[v], bregs[v])
			case "B":
				VPMOVZXWD_Z(bmem[v], masks[v], bregs[v])
				VPSLLD(U8(16), bregs[v], bregs[v])
			}
		}
		for i := 0; i < mr; i++ {
			r := bc[i%2]
			VBROADCASTSS(arow(i, u), r)
			for v := 0; v < nv; v++ {
				VFMADD231PS(bregs[v], r, acc[i][v])
			}
		}
	}
	// A one-row product streams B once, bound by memory: prefetch the B
	// rows pfAhead steps ahead into L1 (also across pages, where the
	// hardware prefetchers stop). lda5 is free with one row.
	pfb := lda5
	if mr == 1 {
		MOVQ(bs, pfb)
		SHLQ(U8(pfAheadLog), pfb)
		ADDQ(pb, pfb)
	}
	Label(name + "_loop4")
	CMPQ(kc, U8(4))
	JL(LabelRef(name + "_tail"))
	// Prefetch the next B panel into L2: one line per four steps, or two
	// with flag 4 in the multi-row float32 kernels, so that the few tiles
	// of a product with few rows (50 in CLIP's image tower: four tiles)
	// fetch the whole next panel (R14 = 64 with the flag, else 0).
	PREFETCHT1(Mem{Base: RDI})
	if pf2 {
		PREFETCHT1(Mem{Base: RDI, Index: R14, Scale: 1})
		LEAQ(Mem{Base: RDI, Index: R14, Scale: 1, Disp: 64}, RDI)
	} else {
		ADDQ(U8(64), RDI)
	}
	if pf2 {
		// Flag 8: the first tile on a panel of pre-packed B (bstride =
		// 128) brings it into L1 ahead of its loads, pfbAhead steps.
		TESTQ(U32(8), addr("flags"))
		JE(LabelRef(name + "_nopfb"))
		for l := 0; l < 8; l++ {
			PREFETCHT0(Mem{Base: pb, Disp: pfbAhead*128 + 64*l})
		}
		Label(name + "_nopfb")
	}
	if mr == 1 {
		for _, m := range []Mem{{Base: pfb}, {Base: pfb, Index: bs, Scale: 1}, {Base: pfb, Index: bs, Scale: 2}, {Base: pfb, Index: bs3, Scale: 1}} {
			for l := 0; l < nv*bw/64; l++ {
				PREFETCHT0(m.Offset(64 * l))
			}
		}
		LEAQ(Mem{Base: pfb, Index: bs, Scale: 4}, pfb)
	}
	for u := 0; u < 4; u++ {
		var base Mem
		switch u {
		case 0:
			base = Mem{Base: pb}
		case 1:
			base = Mem{Base: pb, Index: bs, Scale: 1}
		case 2:
			base = Mem{Base: pb, Index: bs, Scale: 2}
		case 3:
			base = Mem{Base: pb, Index: bs3, Scale: 1}
		}
		step(u, []Mem{base, base.Offset(bw)})
	}
	aAdvance(4, MR512, packed, pa, pa2)
	LEAQ(Mem{Base: pb, Index: bs, Scale: 4}, pb)
	SUBQ(U8(4), kc)
	JMP(LabelRef(name + "_loop4"))
	Label(name + "_tail")
	TESTQ(kc, kc)
	JE(LabelRef(name + "_store"))
	step(0, []Mem{{Base: pb}, {Base: pb, Disp: bw}})
	aAdvance(1, MR512, packed, pa, pa2)
	ADDQ(bs, pb)
	DECQ(kc)
	JMP(LabelRef(name + "_tail"))

	// Epilogue.
	Label(name + "_store")
	alpha, beta, tmp := Z28, Z29, Z30
	VBROADCASTSS(addr("alpha"), alpha)
	VBROADCASTSS(addr("beta"), beta)
	loadOutput(pc, ldc, RDI)
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			VMULPS(alpha, acc[i][v], acc[i][v])
		}
	}
	storeTile512(name, acc, pc, ldc, RDI, func(v int, m Mem, r VecPhysical) {
		VMOVUPS_Z(m, masks[v], tmp)
		VFMADD231PS(beta, tmp, r) // r += beta·C
	})
}

// gemm256 is the AVX2+FMA micro-kernel: MR256 rows × 16 columns. It has no
// masks: B must hold 16 readable columns (packed panels) and C a full tile.
func gemm256(mr int, packed bool) {
	name := fmt.Sprintf("Sgemm256M%d", mr)
	if packed {
		name = fmt.Sprintf("Sgemm256PM%d", mr)
	}
	TEXT(name, NOSPLIT, sig)
	if packed {
		Doc(fmt.Sprintf("%s is Sgemm256M%d with A packed as kc groups of %d row values (lda ignored).", name, mr, MR256))
	} else {
		Doc(fmt.Sprintf("%s computes a %dx16 tile with AVX2 (mask ignored: full tiles only).", name, mr))
	}
	nv := NV256
	kc := RCX
	pa, pa2 := RAX, R10
	lda, lda3, lda5 := RSI, R11, R12
	pb, bs, bs3 := RBX, R8, R13
	pc, ldc := RDX, R9
	Load(Param("kc"), kc)
	Load(Param("a"), pa)
	Load(Param("lda"), lda)
	Load(Param("b"), pb)
	Load(Param("bstride"), bs)
	SHLQ(U8(2), lda)
	rowStrides(pa, pa2, lda, lda3, lda5)
	LEAQ(Mem{Base: bs, Index: bs, Scale: 2}, bs3)
	Load(Param("pf"), RDI)
	yr := []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}
	acc := make([][]VecPhysical, mr)
	for i := range acc {
		acc[i] = yr[i*nv : (i+1)*nv]
		for _, r := range acc[i] {
			VXORPS(r, r, r)
		}
	}
	bregs := []VecPhysical{Y12, Y13}
	bc := []VecPhysical{Y14, Y15}
	arow := aAddr(mr, MR256, packed, pa, pa2, lda, lda3, lda5)
	step := func(u int, base Mem) {
		for v := 0; v < nv; v++ {
			VMOVUPS(base.Offset(32*v), bregs[v])
		}
		for i := 0; i < mr; i++ {
			r := bc[i%2]
			VBROADCASTSS(arow(i, u), r)
			for v := 0; v < nv; v++ {
				VFMADD231PS(bregs[v], r, acc[i][v])
			}
		}
	}
	Label(name + "_loop4")
	CMPQ(kc, U8(4))
	JL(LabelRef(name + "_tail"))
	PREFETCHT1(Mem{Base: RDI})
	ADDQ(U8(64), RDI)
	step(0, Mem{Base: pb})
	step(1, Mem{Base: pb, Index: bs, Scale: 1})
	step(2, Mem{Base: pb, Index: bs, Scale: 2})
	step(3, Mem{Base: pb, Index: bs3, Scale: 1})
	aAdvance(4, MR256, packed, pa, pa2)
	LEAQ(Mem{Base: pb, Index: bs, Scale: 4}, pb)
	SUBQ(U8(4), kc)
	JMP(LabelRef(name + "_loop4"))
	Label(name + "_tail")
	TESTQ(kc, kc)
	JE(LabelRef(name + "_store"))
	step(0, Mem{Base: pb})
	aAdvance(1, MR256, packed, pa, pa2)
	ADDQ(bs, pb)
	DECQ(kc)
	JMP(LabelRef(name + "_tail"))

	Label(name + "_store")
	alpha, beta := Y12, Y13
	VBROADCASTSS(addr("alpha"), alpha)
	VBROADCASTSS(addr("beta"), beta)
	loadOutput(pc, ldc, RDI)
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			VMULPS(alpha, acc[i][v], acc[i][v])
		}
	}
	TESTQ(U32(2), RDI)
	JE(LabelRef(name + "_nobias"))
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			VADDPS(Mem{Base: RSI, Disp: 32 * v}, acc[i][v], acc[i][v])
		}
	}
	Label(name + "_nobias")
	TESTQ(U32(1), RDI)
	JE(LabelRef(name + "_nobeta"))
	perRow(mr, ldc, []Op{pc}, func(i int) {
		for v := 0; v < nv; v++ {
			VFMADD231PS(Mem{Base: pc, Disp: 32 * v}, beta, acc[i][v])
		}
	})
	Load(Param("c"), pc)
	Label(name + "_nobeta")
	perRow(mr, ldc, []Op{pc}, func(i int) {
		for v := 0; v < nv; v++ {
			VMOVUPS(acc[i][v], Mem{Base: pc, Disp: 32 * v})
		}
	})
	VZEROUPPER()
	RET()
}

// addr returns the stack address of a scalar parameter.
func addr(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

// peak generates PeakFMA512 and PeakFMA256: n iterations of 12 independent
// FMAs on registers, the machine's FMA throughput (benchmarks report kernel
// speed relative to it, measured in the same run).
func peak() {
	for _, w := range []int{512, 256} {
		TEXT(fmt.Sprintf("PeakFMA%d", w), NOSPLIT, "func(n int)")
		Doc(fmt.Sprintf("PeakFMA%d runs n iterations of 12 independent %d-bit FMAs.", w, w))
		Load(Param("n"), RCX)
		var regs []VecPhysical
		if w == 512 {
			regs = []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z14, Z15}
		} else {
			regs = []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y14, Y15}
		}
		for _, r := range regs {
			VXORPS(r.AsY(), r.AsY(), r.AsY())
		}
		l := fmt.Sprintf("peak%d_loop", w)
		Label(l)
		for i := 0; i < 12; i++ {
			VFMADD231PS(regs[12], regs[13], regs[i])
		}
		DECQ(RCX)
		JNZ(LabelRef(l))
		VZEROUPPER()
		RET()
	}
}

// widen generates F16ToF32 and BF16ToF32 (AVX-512): dst[i] = float32(src[i]).
func widen() {
	for _, kind := range []string{"F16", "BF16"} {
		name := kind + "ToF32x512"
		TEXT(name, NOSPLIT, "func(dst []float32, src []uint16)")
		Doc(fmt.Sprintf("%s widens len(dst) %s values of src (at least as long).", name, kind))
		pd := Load(Param("dst").Base(), RDI)
		ps := Load(Param("src").Base(), RSI)
		n := Load(Param("dst").Len(), RCX)
		cvt := func(m Mem, masked bool) {
			if kind == "F16" {
				if masked {
					VCVTPH2PS_Z(m, K1, Z0)
				} else {
					VCVTPH2PS(m, Z0)
				}
				return
			}
			if masked {
				VPMOVZXWD_Z(m, K1, Z0)
			} else {
				VPMOVZXWD(m, Z0)
			}
			VPSLLD(U8(16), Z0, Z0)
		}
		Label(name + "_loop")
		CMPQ(n, U8(16))
		JL(LabelRef(name + "_tail"))
		cvt(Mem{Base: ps}, false)
		VMOVUPS(Z0, Mem{Base: pd})
		ADDQ(U8(32), ps)
		ADDQ(U8(64), pd)
		SUBQ(U8(16), n)
		JMP(LabelRef(name + "_loop"))
		Label(name + "_tail")
		TESTQ(n, n)
		JE(LabelRef(name + "_done"))
		MOVL(U32(1), EAX)
		SHLL(CL, EAX)
		DECL(EAX)
		KMOVW(EAX, K1)
		cvt(Mem{Base: ps}, true)
		VMOVUPS(Z0, K1, Mem{Base: pd})
		Label(name + "_done")
		VZEROUPPER()
		RET()
	}
}

// aAddr returns the address of A(i, k+u) relative to the moving pointers:
// row-major A (direct) or packed A (k-major groups of mrFull values).
func aAddr(mr, mrFull int, packed bool, pa, pa2, lda, lda3, lda5 GPPhysical) func(i, u int) Mem {
	if packed {
		return func(i, u int) Mem { return Mem{Base: pa, Disp: 4 * (u*mrFull + i)} }
	}
	rows := rowAddrs(mr, pa, pa2, lda, lda3, lda5)
	return func(i, u int) Mem { return rows[i].Offset(4 * u) }
}

// aAdvance moves the A pointers by steps values of k.
func aAdvance(steps, mrFull int, packed bool, pa, pa2 GPPhysical) {
	if packed {
		ADDQ(U32(4*mrFull*steps), pa)
		return
	}
	ADDQ(U8(4*steps), pa)
	ADDQ(U8(4*steps), pa2)
}

// perRow emits body(i) for each row i < mr of a tile, adding ld to every
// pointer of ptrs between rows.
func perRow(mr int, ld Op, ptrs []Op, body func(i int)) {
	for i := 0; i < mr; i++ {
		body(i)
		if i+1 < mr {
			for _, p := range ptrs {
				ADDQ(ld, p)
			}
		}
	}
}

// loadOutput loads the output arguments of a GEMM kernel: c into pc, ldc
// (as a byte stride) into ldc, bias into RSI and flags into flags.
func loadOutput(pc, ldc, flags Register) {
	Load(Param("c"), pc)
	Load(Param("ldc"), ldc)
	SHLQ(U8(2), ldc)
	Load(Param("bias"), RSI)
	Load(Param("flags"), flags)
}

// loadMasks sets K1 and K2 to the column masks of a 32-column tile's two
// halves (the low and high 16 bits of parameter mask), clobbering RDI.
func loadMasks() {
	Load(Param("mask"), RDI)
	KMOVW(EDI, K1)
	SHRQ(U8(16), RDI)
	KMOVW(EDI, K2)
}

// rowStrides sets lda3 and lda5 to 3·lda and 5·lda and pa2 to pa + 5·lda:
// the registers rowAddrs and aAddr address the rows of A with.
func rowStrides(pa, pa2, lda, lda3, lda5 GPPhysical) {
	LEAQ(Mem{Base: lda, Index: lda, Scale: 2}, lda3)
	LEAQ(Mem{Base: lda, Index: lda, Scale: 4}, lda5)
	LEAQ(Mem{Base: pa, Index: lda5, Scale: 1}, pa2)
}

// loopRBX16 emits a loop over the RBX values left, 16 at a time: full
// handles 16 (advancing its pointers), then tail the last RBX%16 (masked
// by K1), if any; the labels are label, label+"tail" and label+"done".
func loopRBX16(label string, full, tail func()) {
	Label(label)
	CMPQ(RBX, U8(16))
	JL(LabelRef(label + "tail"))
	full()
	SUBQ(U8(16), RBX)
	JMP(LabelRef(label))
	Label(label + "tail")
	TESTQ(RBX, RBX)
	JE(LabelRef(label + "done"))
	tail()
	Label(label + "done")
}

// storeTile512 ends a 512-bit GEMM kernel of 32 columns (C and ldc
// loaded by loadOutput, bias in RSI, column masks in K1 and K2): adds the
// bias row when flags&2 (through Z30 and Z31), then stores each row of
// acc, after addC has folded C's values at m into column register r when
// flags&1.
func storeTile512(name string, acc [][]VecPhysical, pc, ldc, flags Register, addC func(v int, m Mem, r VecPhysical)) {
	mr := len(acc)
	masks := []Op{K1, K2}
	TESTQ(U32(2), flags)
	JE(LabelRef(name + "_nobias"))
	VMOVUPS_Z(Mem{Base: RSI}, K1, Z30)
	VMOVUPS_Z(Mem{Base: RSI, Disp: 64}, K2, Z31)
	for i := 0; i < mr; i++ {
		VADDPS(Z30, acc[i][0], acc[i][0])
		VADDPS(Z31, acc[i][1], acc[i][1])
	}
	Label(name + "_nobias")
	TESTQ(U32(1), flags)
	JE(LabelRef(name + "_nobeta"))
	perRow(mr, ldc, []Op{pc}, func(i int) {
		for v, r := range acc[i] {
			m := Mem{Base: pc, Disp: 64 * v}
			addC(v, m, r)
			VMOVUPS(r, masks[v], m)
		}
	})
	VZEROUPPER()
	RET()
	Label(name + "_nobeta")
	perRow(mr, ldc, []Op{pc}, func(i int) {
		for v, r := range acc[i] {
			VMOVUPS(r, masks[v], Mem{Base: pc, Disp: 64 * v})
		}
	})
	VZEROUPPER()
	RET()
}

// tailMaskK1 sets K1 to the mask of the n%16 lanes of a partial vector
// (clobbering RCX and EAX).
func tailMaskK1(n Op) {
	MOVQ(n, RCX)
	ANDQ(U8(15), RCX)
	MOVL(U32(1), EAX)
	SHLL(CL, EAX)
	DECL(EAX)
	KMOVW(EAX, K1)
}
