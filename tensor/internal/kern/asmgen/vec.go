package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Constants for the vector math functions, broadcast from memory.
var consts Mem

var constIndex = map[string]int{}

func defineConsts() {
	vals := []struct {
		name string
		v    float32
	}{
		{"explo", -104},
		{"exphi", 89},
		{"log2e", float32(math.Log2E)},
		{"ln2hi", 0.693359375},
		{"ln2lo", -2.12194440e-4},
		{"p0", 1.9875691500e-4},
		{"p1", 1.3981999507e-3},
		{"p2", 8.3334519073e-3},
		{"p3", 4.1665795894e-2},
		{"p4", 1.6666665459e-1},
		{"p5", 5.0000001201e-1},
		{"one", 1},
		{"two", 2},
		{"half", 0.5},
		{"negzero", float32(math.Copysign(0, -1))},
		{"rsqrt2", float32(1 / math.Sqrt2)},
		// Abramowitz & Stegun 7.1.26
		{"erfp", 0.3275911},
		{"a1", 0.254829592},
		{"a2", -0.284496736},
		{"a3", 1.421413741},
		{"a4", -1.453152027},
		{"a5", 1.061405429},
		{"gtc", float32(math.Sqrt(2 / math.Pi))},
		{"gtk", 0.044715},
		{"sigmax", 80},
		{"neginf", float32(math.Inf(-1))},
		{"absmask", math.Float32frombits(0x7fffffff)},
		// int8 quantization (q8.go): the largest code and the smallest
		// block maximum that is not treated as an all-zero block.
		{"q8max", 127},
		{"q8tiny", 1e-30},
	}
	consts = GLOBL("vecconst", RODATA|NOPTR)
	for i, c := range vals {
		DATA(4*i, U32(math.Float32bits(c.v)))
		constIndex[c.name] = i
	}
}

func cst(name string) Mem {
	i, ok := constIndex[name]
	if !ok {
		panic("no constant " + name)
	}
	return consts.Offset(4 * i)
}

// expInPlace sets x = exp(x) using t1, t2 as scratch.
func expInPlace(x, t1, t2 VecPhysical) {
	VMAXPS_BCST(cst("explo"), x, x)
	VMINPS_BCST(cst("exphi"), x, x)
	VMULPS_BCST(cst("log2e"), x, t1)
	VRNDSCALEPS(U8(0), t1, t1)
	VFNMADD231PS_BCST(cst("ln2hi"), t1, x)
	VFNMADD231PS_BCST(cst("ln2lo"), t1, x)
	VBROADCASTSS(cst("p0"), t2)
	VFMADD213PS_BCST(cst("p1"), x, t2)
	VFMADD213PS_BCST(cst("p2"), x, t2)
	VFMADD213PS_BCST(cst("p3"), x, t2)
	VFMADD213PS_BCST(cst("p4"), x, t2)
	VFMADD213PS_BCST(cst("p5"), x, t2)
	VFMADD213PS_BCST(cst("one"), x, t2)
	VFMADD213PS_BCST(cst("one"), x, t2)
	VSCALEFPS(t1, t2, x)
}

// recipInPlace sets x = 1/x (x ≥ 1, finite) with one Newton step.
func recipInPlace(x, t1, t2 VecPhysical) {
	VRCP14PS(x, t1)
	// t2 = 2 - x*t1 ; x = t1*t2
	VBROADCASTSS(cst("two"), t2)
	VFNMADD231PS(x, t1, t2)
	VMULPS(t2, t1, x)
}

// geluErf sets x = 0.5·x·(1 + erf(x/√2)) using the A&S 7.1.26 erfc form.
func geluErf(x, t1, t2, t3, t4, t5 VecPhysical) {
	// t3 = |x|/√2
	VANDPS_BCST(cst("absmask"), x, t3)
	VMULPS_BCST(cst("rsqrt2"), t3, t3)
	// t4 = t = 1/(1 + p·t3)
	VBROADCASTSS(cst("erfp"), t4)
	VFMADD213PS_BCST(cst("one"), t3, t4)
	recipInPlace(t4, t1, t2)
	// t5 = poly(t) = t(a1 + t(a2 + t(a3 + t(a4 + t a5))))
	VBROADCASTSS(cst("a5"), t5)
	VFMADD213PS_BCST(cst("a4"), t4, t5)
	VFMADD213PS_BCST(cst("a3"), t4, t5)
	VFMADD213PS_BCST(cst("a2"), t4, t5)
	VFMADD213PS_BCST(cst("a1"), t4, t5)
	VMULPS(t4, t5, t5)
	// t3 = exp(-t3²)
	VMULPS(t3, t3, t3)
	VXORPS_BCST(cst("negzero"), t3, t3)
	expInPlace(t3, t1, t2)
	// e = t5·t3 = erfc(|x|/√2); for x ≥ 0: 1+erf = 2 − e, else e.
	VMULPS(t3, t5, t5)
	VBROADCASTSS(cst("two"), t1)
	VSUBPS(t5, t1, t1)
	VXORPS(t2, t2, t2)
	VCMPPS(U8(1), t2, x, K2) // K2 = x < 0
	VMOVAPS(t5, K2, t1)
	VMULPS(t1, x, x)
	VMULPS_BCST(cst("half"), x, x)
}

// sigmoidMul sets x = x·σ(c·y) = x / (1 + exp(−c·y)) where y is in t3 and the
// negated factor −c is already applied: t3 holds −c·y.
func sigmoidMulPrepared(x, t1, t2, t3 VecPhysical) {
	VMINPS_BCST(cst("sigmax"), t3, t3)
	expInPlace(t3, t1, t2)
	VADDPS_BCST(cst("one"), t3, t3)
	recipInPlace(t3, t1, t2)
	VMULPS(t3, x, x)
}

// unaryLoop generates func(x []float32[, extra float32]) applying body to
// 16 floats at a time in place (masked tail).
func unaryLoop(name, sig, doc string, pre func(), body func(x VecPhysical)) {
	TEXT(name, NOSPLIT, sig)
	Doc(doc)
	p := Load(Param("x").Base(), RSI)
	n := Load(Param("x").Len(), RCX)
	if pre != nil {
		pre()
	}
	Label(name + "_loop")
	CMPQ(n, U8(16))
	JL(LabelRef(name + "_tail"))
	VMOVUPS(Mem{Base: p}, Z0)
	body(Z0)
	VMOVUPS(Z0, Mem{Base: p})
	ADDQ(U8(64), p)
	SUBQ(U8(16), n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_tail")
	TESTQ(n, n)
	JE(LabelRef(name + "_done"))
	tailMask(n)
	VMOVUPS_Z(Mem{Base: p}, K1, Z0)
	body(Z0)
	VMOVUPS(Z0, K1, Mem{Base: p})
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// tailMask sets K1 to the low n (< 16) bits, n in RCX.
func tailMask(n Register) {
	MOVL(U32(1), EAX)
	SHLL(CL, EAX)
	DECL(EAX)
	KMOVW(EAX, K1)
}

// hsum reduces z (zmm) to its lane sum in the low lane of X(z), using t.
func hsum(z, t VecPhysical, op func(a, b, c Op)) {
	VEXTRACTF32X8(U8(1), z, t.AsY())
	op(t.AsY(), z.AsY(), z.AsY())
	VEXTRACTF128(U8(1), z.AsY(), t.AsX())
	op(t.AsX(), z.AsX(), z.AsX())
	VPERMILPS(U8(0x4e), z.AsX(), t.AsX())
	op(t.AsX(), z.AsX(), z.AsX())
	VPERMILPS(U8(0xb1), z.AsX(), t.AsX())
	op(t.AsX(), z.AsX(), z.AsX())
}

func addOp(a, b, c Op) {
	switch a.(type) {
	default:
		VADDPS(a, b, c)
	}
}

func maxOp(a, b, c Op) { VMAXPS(a, b, c) }

// reduceLoop generates a reduction over x with 4 accumulators Z0..Z3.
// load(dst, mem, masked) loads 16 (or masked) inputs and folds them into
// dst; init sets the accumulators; fin reduces Z0 and stores the result.
func reduceLoop(name, sig, doc string, pre func(), init func(acc VecPhysical), fold func(acc VecPhysical, m Mem, masked bool), combine func(a, b, c Op), post func()) {
	TEXT(name, NOSPLIT, sig)
	Doc(doc)
	p := Load(Param("x").Base(), RSI)
	n := Load(Param("x").Len(), RCX)
	if pre != nil {
		pre()
	}
	acc := []VecPhysical{Z0, Z1, Z2, Z3}
	for _, a := range acc {
		init(a)
	}
	Label(name + "_loop4")
	CMPQ(n, U8(64))
	JL(LabelRef(name + "_loop1"))
	for u, a := range acc {
		fold(a, Mem{Base: p, Disp: 64 * u}, false)
	}
	ADDQ(U32(256), p)
	SUBQ(U8(64), n)
	JMP(LabelRef(name + "_loop4"))
	Label(name + "_loop1")
	CMPQ(n, U8(16))
	JL(LabelRef(name + "_tail"))
	fold(Z0, Mem{Base: p}, false)
	ADDQ(U8(64), p)
	SUBQ(U8(16), n)
	JMP(LabelRef(name + "_loop1"))
	Label(name + "_tail")
	TESTQ(n, n)
	JE(LabelRef(name + "_reduce"))
	tailMask(n)
	fold(Z1, Mem{Base: p}, true)
	Label(name + "_reduce")
	combine(Z1, Z0, Z0)
	combine(Z3, Z2, Z2)
	combine(Z2, Z0, Z0)
	hsum(Z0, Z1, combine)
	post()
	VZEROUPPER()
	RET()
}

func vecmath() {
	defineConsts()

	// Max512: maximum of x (−Inf for empty x).
	reduceLoop("Max512", "func(x []float32) float32", "Max512 returns the largest element of x (−Inf when empty; NaNs ignored where possible).", nil,
		func(acc VecPhysical) { VBROADCASTSS(cst("neginf"), acc) },
		func(acc VecPhysical, m Mem, masked bool) {
			if masked {
				VBROADCASTSS(cst("neginf"), Z4)
				VMOVUPS(m, K1, Z4)
				VMAXPS(Z4, acc, acc)
				return
			}
			VMAXPS(m, acc, acc)
		}, maxOp, func() { Store(X0, ReturnIndex(0)) })

	// Sum512.
	reduceLoop("Sum512", "func(x []float32) float32", "Sum512 returns the sum of x.", nil,
		func(acc VecPhysical) { VXORPS(acc.AsY(), acc.AsY(), acc.AsY()) },
		func(acc VecPhysical, m Mem, masked bool) {
			if masked {
				VMOVUPS_Z(m, K1, Z4)
				VADDPS(Z4, acc, acc)
				return
			}
			VADDPS(m, acc, acc)
		}, addOp, func() { Store(X0, ReturnIndex(0)) })

	// SqDev512: Σ (x − mean)².
	reduceLoop("SqDev512", "func(x []float32, mean float32) float32", "SqDev512 returns Σ (x[i] − mean)².",
		func() { VBROADCASTSS(addr("mean"), Z5) },
		func(acc VecPhysical) { VXORPS(acc.AsY(), acc.AsY(), acc.AsY()) },
		func(acc VecPhysical, m Mem, masked bool) {
			if masked {
				VMOVUPS_Z(m, K1, Z4)
				VSUBPS_Z(Z5, Z4, K1, Z4)
			} else {
				VMOVUPS(m, Z4)
				VSUBPS(Z5, Z4, Z4)
			}
			VFMADD231PS(Z4, Z4, acc)
		}, addOp, func() { Store(X0, ReturnIndex(0)) })

	// ExpSum512: x = exp(x − shift), returns Σ.
	reduceLoop("ExpSum512", "func(x []float32, shift float32) float32", "ExpSum512 sets x[i] = exp(x[i] − shift) and returns their sum.",
		func() { VBROADCASTSS(addr("shift"), Z5) },
		func(acc VecPhysical) { VXORPS(acc.AsY(), acc.AsY(), acc.AsY()) },
		func(acc VecPhysical, m Mem, masked bool) {
			if masked {
				VMOVUPS_Z(m, K1, Z4)
			} else {
				VMOVUPS(m, Z4)
			}
			VSUBPS(Z5, Z4, Z4)
			expInPlace(Z4, Z6, Z7)
			if masked {
				VMOVUPS(Z4, K1, m)
				VADDPS(Z4, acc, K1, acc)
				return
			}
			VMOVUPS(Z4, m)
			VADDPS(Z4, acc, acc)
		}, addOp, func() { Store(X0, ReturnIndex(0)) })

	// ExpSumNoStore512: Σ exp(x − shift) without writing x.
	reduceLoop("ExpSumNoStore512", "func(x []float32, shift float32) float32", "ExpSumNoStore512 returns Σ exp(x[i] − shift), leaving x unchanged.",
		func() { VBROADCASTSS(addr("shift"), Z5) },
		func(acc VecPhysical) { VXORPS(acc.AsY(), acc.AsY(), acc.AsY()) },
		func(acc VecPhysical, m Mem, masked bool) {
			if masked {
				VMOVUPS_Z(m, K1, Z4)
			} else {
				VMOVUPS(m, Z4)
			}
			VSUBPS(Z5, Z4, Z4)
			expInPlace(Z4, Z6, Z7)
			if masked {
				VADDPS(Z4, acc, K1, acc)
				return
			}
			VADDPS(Z4, acc, acc)
		}, addOp, func() { Store(X0, ReturnIndex(0)) })

	unaryLoop("Scale512", "func(x []float32, s float32)", "Scale512 multiplies x by s in place.",
		func() { VBROADCASTSS(addr("s"), Z5) },
		func(x VecPhysical) { VMULPS(Z5, x, x) })

	unaryLoop("Exp512", "func(x []float32)", "Exp512 sets x[i] = exp(x[i]).", nil,
		func(x VecPhysical) { expInPlace(x, Z6, Z7) })

	unaryLoop("GeluErf512", "func(x []float32)", "GeluErf512 applies the exact (erf) GELU in place (|error| ≤ 2e-7·max(1,|x|)).", nil,
		func(x VecPhysical) { geluErf(x, Z6, Z7, Z8, Z9, Z10) })

	unaryLoop("SigmoidMul512", "func(x []float32, c float32)", "SigmoidMul512 sets x[i] = x[i]·σ(c·x[i]) (QuickGELU with c = 1.702, SiLU with c = 1).",
		func() {
			VBROADCASTSS(addr("c"), Z5)
			VXORPS_BCST(cst("negzero"), Z5, Z5)
		},
		func(x VecPhysical) {
			VMULPS(Z5, x, Z8)
			sigmoidMulPrepared(x, Z6, Z7, Z8)
		})

	unaryLoop("GeluTanh512", "func(x []float32)", "GeluTanh512 applies the tanh approximation of GELU in place.", nil,
		func(x VecPhysical) {
			// y = √(2/π)(x + 0.044715x³); gelu = x·σ(2y)
			VMULPS(x, x, Z8)
			VMULPS_BCST(cst("gtk"), Z8, Z8)
			VFMADD213PS(x, x, Z8) // Z8 = x*Z8 + x
			VMULPS_BCST(cst("gtc"), Z8, Z8)
			VADDPS(Z8, Z8, Z8)
			VXORPS_BCST(cst("negzero"), Z8, Z8)
			sigmoidMulPrepared(x, Z6, Z7, Z8)
		})

	// Norm512: x = (x − mean)·inv·w + b.
	TEXT("Norm512", NOSPLIT, "func(x, w, b []float32, mean, inv float32)")
	Doc("Norm512 sets x[i] = (x[i] − mean)·inv·w[i] + b[i] (w and b at least as long as x).")
	{
		name := "Norm512"
		p := Load(Param("x").Base(), RSI)
		n := Load(Param("x").Len(), RCX)
		pw := Load(Param("w").Base(), RDI)
		pb := Load(Param("b").Base(), RDX)
		VBROADCASTSS(addr("mean"), Z5)
		VBROADCASTSS(addr("inv"), Z6)
		Label(name + "_loop")
		CMPQ(n, U8(16))
		JL(LabelRef(name + "_tail"))
		VMOVUPS(Mem{Base: p}, Z0)
		VSUBPS(Z5, Z0, Z0)
		VMULPS(Z6, Z0, Z0)
		VMOVUPS(Mem{Base: pb}, Z1)
		VFMADD231PS(Mem{Base: pw}, Z0, Z1)
		VMOVUPS(Z1, Mem{Base: p})
		ADDQ(U8(64), p)
		ADDQ(U8(64), pw)
		ADDQ(U8(64), pb)
		SUBQ(U8(16), n)
		JMP(LabelRef(name + "_loop"))
		Label(name + "_tail")
		TESTQ(n, n)
		JE(LabelRef(name + "_done"))
		tailMask(n)
		VMOVUPS_Z(Mem{Base: p}, K1, Z0)
		VSUBPS(Z5, Z0, Z0)
		VMULPS(Z6, Z0, Z0)
		VMOVUPS_Z(Mem{Base: pb}, K1, Z1)
		VMOVUPS_Z(Mem{Base: pw}, K1, Z2)
		VFMADD231PS(Z2, Z0, Z1)
		VMOVUPS(Z1, K1, Mem{Base: p})
		Label(name + "_done")
		VZEROUPPER()
		RET()
	}

	// Add512: x += y.
	TEXT("Add512", NOSPLIT, "func(x, y []float32)")
	Doc("Add512 adds y into x (len(y) ≥ len(x)).")
	{
		name := "Add512"
		p := Load(Param("x").Base(), RSI)
		n := Load(Param("x").Len(), RCX)
		py := Load(Param("y").Base(), RDI)
		Label(name + "_loop")
		CMPQ(n, U8(16))
		JL(LabelRef(name + "_tail"))
		VMOVUPS(Mem{Base: p}, Z0)
		VADDPS(Mem{Base: py}, Z0, Z0)
		VMOVUPS(Z0, Mem{Base: p})
		ADDQ(U8(64), p)
		ADDQ(U8(64), py)
		SUBQ(U8(16), n)
		JMP(LabelRef(name + "_loop"))
		Label(name + "_tail")
		TESTQ(n, n)
		JE(LabelRef(name + "_done"))
		tailMask(n)
		VMOVUPS_Z(Mem{Base: p}, K1, Z0)
		VMOVUPS_Z(Mem{Base: py}, K1, Z1)
		VADDPS(Z1, Z0, Z0)
		VMOVUPS(Z0, K1, Mem{Base: p})
		Label(name + "_done")
		VZEROUPPER()
		RET()
	}
	_ = fmt.Sprint
}

// dots generates Dots512D{nq}: out[j] = scale·Σ_p q[p]·k[j·ldk+p] for
// j < n, with d = 16·nq (q held in registers).
func dots() {
	for nq := 1; nq <= 8; nq++ {
		name := fmt.Sprintf("Dots512D%d", nq)
		TEXT(name, NOSPLIT, "func(q *float32, k *float32, ldk int, n int, scale float32, out *float32)")
		Doc(fmt.Sprintf("%s sets out[j] = scale·q·k[j] for n rows of k (ldk apart) of %d floats.", name, 16*nq))
		pq := Load(Param("q"), RSI)
		pk := Load(Param("k"), RDI)
		ld := Load(Param("ldk"), R8)
		n := Load(Param("n"), RCX)
		po := Load(Param("out"), RDX)
		SHLQ(U8(2), ld)
		qs := []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7}
		for i := 0; i < nq; i++ {
			VMOVUPS(Mem{Base: pq, Disp: 64 * i}, qs[i])
		}
		VBROADCASTSS(addr("scale"), X15)
		Label(name + "_loop")
		TESTQ(n, n)
		JE(LabelRef(name + "_done"))
		VMULPS(Mem{Base: pk}, qs[0], Z8)
		for i := 1; i < nq; i++ {
			VFMADD231PS(Mem{Base: pk, Disp: 64 * i}, qs[i], Z8)
		}
		hsum(Z8, Z9, addOp)
		VMULSS(X15, X8, X8)
		VMOVSS(X8, Mem{Base: po})
		ADDQ(ld, pk)
		ADDQ(U8(4), po)
		DECQ(n)
		JMP(LabelRef(name + "_loop"))
		Label(name + "_done")
		VZEROUPPER()
		RET()
	}
}

// dotRows generates DotRows512: out[j] = alpha·Σ_p x[p]·w[j·ldw+p] for
// j < n, p < k (any k), four rows at a time.
func dotRows() {
	name := "DotRows512"
	TEXT(name, NOSPLIT, "func(x *float32, k int, w *float32, ldw int, n int, out *float32, alpha float32)")
	Doc(name + " sets out[j] = alpha·Σ_p x[p]·w[j·ldw+p] for j < n, p < k.")
	px := Load(Param("x"), RSI)
	k := Load(Param("k"), R8)
	pw := Load(Param("w"), RDI)
	ld := Load(Param("ldw"), R9)
	n := Load(Param("n"), R10)
	po := Load(Param("out"), RDX)
	SHLQ(U8(2), ld)
	VBROADCASTSS(addr("alpha"), X15)
	// tail mask for k%16 in K1 (all ones when k%16 == 0 is not needed).
	tailMaskK1(k)
	r1, r2, r3 := R11, R12, R13
	Label(name + "_rows4")
	CMPQ(n, U8(4))
	JL(LabelRef(name + "_rows1"))
	LEAQ(Mem{Base: pw, Index: ld, Scale: 1}, r1)
	LEAQ(Mem{Base: pw, Index: ld, Scale: 2}, r2)
	LEAQ(Mem{Base: r1, Index: ld, Scale: 2}, r3)
	acc := []VecPhysical{Z0, Z1, Z2, Z3}
	rows := []Register{pw, r1, r2, r3}
	for _, a := range acc {
		VXORPS(a.AsY(), a.AsY(), a.AsY())
	}
	XORQ(RAX, RAX) // byte offset
	MOVQ(k, RBX)
	loopRBX16(name+"_k4", func() {
		VMOVUPS(Mem{Base: px, Index: RAX, Scale: 1}, Z4)
		for i, a := range acc {
			VFMADD231PS(Mem{Base: rows[i], Index: RAX, Scale: 1}, Z4, a)
		}
		ADDQ(U8(64), RAX)
	}, func() {
		VMOVUPS_Z(Mem{Base: px, Index: RAX, Scale: 1}, K1, Z4)
		for i, a := range acc {
			VMOVUPS_Z(Mem{Base: rows[i], Index: RAX, Scale: 1}, K1, Z5)
			VFMADD231PS(Z5, Z4, a)
		}
	})
	for i, a := range acc {
		hsum(a, Z5, addOp)
		VMULSS(X15, a.AsX(), a.AsX())
		VMOVSS(a.AsX(), Mem{Base: po, Disp: 4 * i})
	}
	LEAQ(Mem{Base: pw, Index: ld, Scale: 4}, pw)
	ADDQ(U8(16), po)
	SUBQ(U8(4), n)
	JMP(LabelRef(name + "_rows4"))

	Label(name + "_rows1")
	TESTQ(n, n)
	JE(LabelRef(name + "_done"))
	VXORPS(Y0, Y0, Y0)
	XORQ(RAX, RAX)
	MOVQ(k, RBX)
	loopRBX16(name+"_k1", func() {
		VMOVUPS(Mem{Base: px, Index: RAX, Scale: 1}, Z4)
		VFMADD231PS(Mem{Base: pw, Index: RAX, Scale: 1}, Z4, Z0)
		ADDQ(U8(64), RAX)
	}, func() {
		VMOVUPS_Z(Mem{Base: px, Index: RAX, Scale: 1}, K1, Z4)
		VMOVUPS_Z(Mem{Base: pw, Index: RAX, Scale: 1}, K1, Z5)
		VFMADD231PS(Z5, Z4, Z0)
	})
	hsum(Z0, Z5, addOp)
	VMULSS(X15, X0, X0)
	VMOVSS(X0, Mem{Base: po})
	ADDQ(ld, pw)
	ADDQ(U8(4), po)
	DECQ(n)
	JMP(LabelRef(name + "_rows1"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}
