package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

const sigWide = "func(kc int, a *float32, b *float32, pstride int, c *float32, alpha, beta float32, bias *float32, flags int)"

const sigWideHalf = "func(kc int, a *float32, b *uint16, pstride int, c *float32, alpha, beta float32, bias *float32, flags int)"

// wideAhead is how many bytes ahead the wide one-row kernels prefetch each
// panel into L1 (16 steps of a float32 panel, 32 of a half one). Measured
// with weights streamed from memory, 2 threads, the 51865×512 product:
// on float32 weights 2 KB and 1 KB took 0.86–0.93 of 4 KB's time, 512 B
// and no prefetch 0.91–1.04, 8 KB and 16 KB 1.04–1.2; on F16 weights 2 KB
// tied 4 KB.
const wideAhead = 2048

// gemm512M1Wide generates Sgemm512M1x<32·np> (half "") and
// Sgemm512HM1x<32·np> (half "H"): one row of A times np full packed panels
// of B at once (pstride bytes apart, each kc rows of 32 values), so that
// a one-row product (decoding) streams np panels side by side with 2·np
// independent accumulator chains. Each column's sum runs over k in the
// same order, with the same epilogue, as Sgemm512M1: results are
// bit-identical to np calls of it.
func gemm512M1Wide(np int, half string) {
	name := fmt.Sprintf("Sgemm512%sM1x%d", half, 32*np)
	s := sigWide
	if half != "" {
		s = sigWideHalf
	}
	TEXT(name, NOSPLIT, s)
	Doc(fmt.Sprintf("%s computes a 1x%d tile over %d full panels (pstride bytes apart); see WideKernel.", name, 32*np, np))
	rowB := 128 // bytes of one panel row (32 values)
	if half != "" {
		rowB = 64
	}
	nv := 2 * np
	kc, pa, pb, ps, ps3, pb2, zr := widePrologue(np, "kc")
	acc := zr[:nv]
	aregs := zr[nv : nv+2]
	bregs := zr[nv+2 : nv+6]
	for _, r := range acc {
		VPXORD(r, r, r)
	}
	panel := func(p int, disp int) Mem { return panelAddr(pb, pb2, ps, ps3, p, disp) }
	ahead := wideAhead
	nb := 0
	step := func(u int, prefetch bool) {
		ar := aregs[u%2]
		VBROADCASTSS(Mem{Base: pa, Disp: 4 * u}, ar)
		for v := 0; v < nv; v++ {
			m := panel(v/2, rowB*u+rowB/2*(v%2))
			if half == "" {
				VFMADD231PS(m, ar, acc[v])
				continue
			}
			b := bregs[nb%len(bregs)]
			nb++
			VCVTPH2PS(m, b)
			VFMADD231PS(b, ar, acc[v])
		}
		if prefetch {
			// The rows ahead of each panel, one 64-byte line at a time.
			for p := 0; p < np; p++ {
				for l := 0; l < rowB/64; l++ {
					PREFETCHT0(panel(p, ahead+rowB*u+64*l))
				}
			}
		}
	}
	wideLoop(name, "_store", kc, step, func(steps int) {
		ADDQ(U8(4*steps), pa)
		ADDQ(U32(rowB*steps), pb)
		if np > 4 {
			ADDQ(U32(rowB*steps), pb2)
		}
	})

	// Epilogue, as Sgemm512M1's: alpha·acc (+ bias) (+ beta·C).
	storeRow1(name, acc, zr[nv+2], zr[nv+3], zr[nv+4], true)
}

// widePrologue loads the operands of a wide one-row kernel over np panels
// (its depth from parameter k, a, b, pstride) into the registers it
// returns: the depth, A, the first panel, the panel stride and 3× it, the
// fifth panel (np > 4), and the vector registers in order.
func widePrologue(np int, k string) (kc, pa, pb, ps, ps3, pb2 GPPhysical, zr []VecPhysical) {
	kc, pa, pb, ps, ps3, pb2 = RCX, RAX, RBX, R8, R13, RDI
	Load(Param(k), kc)
	Load(Param("a"), pa)
	Load(Param("b"), pb)
	Load(Param("pstride"), ps)
	LEAQ(Mem{Base: ps, Index: ps, Scale: 2}, ps3)
	if np > 4 {
		LEAQ(Mem{Base: pb, Index: ps, Scale: 4}, pb2)
	}
	zr = []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15, Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}
	return
}

// wideLoop emits the k loop of a wide one-row kernel: steps of 4 (step(u,
// true) for u = 0…3, prefetching) while 4 remain, then one at a time
// (step(0, false)); advance moves the pointers by that many steps. It
// jumps to name+done when k runs out.
func wideLoop(name, done string, k GPPhysical, step func(u int, prefetch bool), advance func(steps int)) {
	Label(name + "_loop4")
	CMPQ(k, U8(4))
	JL(LabelRef(name + "_tail"))
	for u := 0; u < 4; u++ {
		step(u, true)
	}
	advance(4)
	SUBQ(U8(4), k)
	JMP(LabelRef(name + "_loop4"))
	Label(name + "_tail")
	TESTQ(k, k)
	JE(LabelRef(name + done))
	step(0, false)
	advance(1)
	DECQ(k)
	JMP(LabelRef(name + "_tail"))
}

// storeRow1 is the epilogue of the one-row kernels: C = alpha·acc
// (+ bias, when withBias and flags has FlagBias) (+ beta·C when flags has
// FlagBeta), acc holding consecutive 16-float vectors of C; it returns.
func storeRow1(name string, acc []VecPhysical, alpha, beta, tmp VecPhysical, withBias bool) {
	Label(name + "_store")
	pc, flags := RDX, R11
	Load(Param("c"), pc)
	Load(Param("flags"), flags)
	var bias GPPhysical
	if withBias {
		bias = RSI
		Load(Param("bias"), bias)
	}
	VBROADCASTSS(addr("alpha"), alpha)
	VBROADCASTSS(addr("beta"), beta)
	for _, r := range acc {
		VMULPS(alpha, r, r)
	}
	if withBias {
		TESTQ(U32(2), flags)
		JE(LabelRef(name + "_nobias"))
		for v, r := range acc {
			VMOVUPS(Mem{Base: bias, Disp: 64 * v}, tmp)
			VADDPS(tmp, r, r)
		}
		Label(name + "_nobias")
	}
	TESTQ(U32(1), flags)
	JE(LabelRef(name + "_nobeta"))
	for v, r := range acc {
		VMOVUPS(Mem{Base: pc, Disp: 64 * v}, tmp)
		VFMADD231PS(beta, tmp, r)
	}
	Label(name + "_nobeta")
	for v, r := range acc {
		VMOVUPS(r, Mem{Base: pc, Disp: 64 * v})
	}
	VZEROUPPER()
	RET()
}

// panelAddr addresses disp bytes into panel p (0…7) of a run of packed
// panels: panels 0–3 from base, 4–7 from base2, stride (and stride3 =
// 3·stride) bytes apart.
func panelAddr(base, base2, stride, stride3 Register, p, disp int) Mem {
	if p >= 4 {
		base, p = base2, p-4
	}
	switch p {
	case 0:
		return Mem{Base: base, Disp: disp}
	case 1:
		return Mem{Base: base, Index: stride, Scale: 1, Disp: disp}
	case 2:
		return Mem{Base: base, Index: stride, Scale: 2, Disp: disp}
	case 3:
		return Mem{Base: base, Index: stride3, Scale: 1, Disp: disp}
	}
	panic("too many panels")
}

// wideNP lists the panel counts of the wide one-row kernels.
var wideNP = []int{4, 8}

func gemm512M1Wides() {
	for _, half := range []string{"", "H"} {
		for _, np := range wideNP {
			gemm512M1Wide(np, half)
		}
	}
	gemm512M1Strided(2)
	gemm512M1Strided(4)
}

const sigStrided = "func(kc int, a *float32, b *float32, bstride int, c *float32, alpha, beta float32, flags int)"

// gemm512M1Strided generates Sgemm512M1x<32·np>S: one row of A times kc
// rows of B read in place, np·32 columns (np panels side by side in each
// row), rows bstride bytes apart: attention's one query row times the
// values of one head, each row's columns read in one contiguous piece
// instead of one pass per 32 columns. Same sums and epilogue as np calls
// of Sgemm512M1 (no bias): bit-identical results.
func gemm512M1Strided(np int) {
	name := fmt.Sprintf("Sgemm512M1x%dS", 32*np)
	TEXT(name, NOSPLIT, sigStrided)
	Doc(fmt.Sprintf("%s computes a 1x%d tile of B rows read in place (bstride bytes apart); see StridedKernel.", name, 32*np))
	nv := 2 * np
	kc, pa, pb, bs, pfb := RCX, RAX, RBX, R8, RDI
	Load(Param("kc"), kc)
	Load(Param("a"), pa)
	Load(Param("b"), pb)
	Load(Param("bstride"), bs)
	zr := []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15, Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}
	acc := zr[:nv]
	aregs := zr[nv : nv+2]
	for _, r := range acc {
		VPXORD(r, r, r)
	}
	// Rows pfAheadLog² ahead are prefetched into L1, as Sgemm512M1 does.
	MOVQ(bs, pfb)
	SHLQ(U8(pfAheadLog), pfb)
	ADDQ(pb, pfb)
	step := func(prefetch bool) {
		ar := aregs[0]
		VBROADCASTSS(Mem{Base: pa}, ar)
		for v := 0; v < nv; v++ {
			VFMADD231PS(Mem{Base: pb, Disp: 64 * v}, ar, acc[v])
		}
		if prefetch {
			for l := 0; l < nv; l++ {
				PREFETCHT0(Mem{Base: pfb, Disp: 64 * l})
			}
			ADDQ(bs, pfb)
		}
		ADDQ(U8(4), pa)
		ADDQ(bs, pb)
	}
	Label(name + "_loop")
	TESTQ(kc, kc)
	JE(LabelRef(name + "_store"))
	step(true)
	DECQ(kc)
	JMP(LabelRef(name + "_loop"))

	storeRow1(name, acc, zr[nv+2], zr[nv+3], zr[nv+4], false)
}
