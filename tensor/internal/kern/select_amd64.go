//go:build amd64 && !purego && !kerngen

package kern

import "golang.org/x/sys/cpu"

func init() {
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512DQ {
		vec512 = true
		asm.max512, asm.sum512 = Max512, Sum512
		asm.sqDev512, asm.expSum512, asm.expSumNoStore512 = SqDev512, ExpSum512, ExpSumNoStore512
		asm.scale512, asm.sigmoidMul512 = Scale512, SigmoidMul512
		asm.geluErf512, asm.geluTanh512 = GeluErf512, GeluTanh512
		asm.norm512, asm.add512, asm.dotRows512 = Norm512, Add512, DotRows512
		asm.dots512 = [9]func(q, k *float32, ldk, n int, scale float32, out *float32){
			nil, Dots512D1, Dots512D2, Dots512D3, Dots512D4, Dots512D5, Dots512D6, Dots512D7, Dots512D8,
		}
		asm.f16ToF32, asm.bf16ToF32 = F16ToF32x512, BF16ToF32x512
		s := &Set{
			Name: "avx512", MR: 14, NR: 32, Masked: true, KC: 256, MC: 238, PF2: true,
			M: []Kernel{nil, Sgemm512M1, Sgemm512M2, Sgemm512M3, Sgemm512M4, Sgemm512M5, Sgemm512M6, Sgemm512M7,
				Sgemm512M8, Sgemm512M9, Sgemm512M10, Sgemm512M11, Sgemm512M12, Sgemm512M13, Sgemm512M14},
			F16: []HalfKernel{nil, Sgemm512HM1, Sgemm512HM2, Sgemm512HM3, Sgemm512HM4, Sgemm512HM5, Sgemm512HM6, Sgemm512HM7,
				Sgemm512HM8, Sgemm512HM9, Sgemm512HM10, Sgemm512HM11, Sgemm512HM12, Sgemm512HM13, Sgemm512HM14},
			BF16: []HalfKernel{nil, Sgemm512BM1, Sgemm512BM2, Sgemm512BM3, Sgemm512BM4, Sgemm512BM5, Sgemm512BM6, Sgemm512BM7,
				Sgemm512BM8, Sgemm512BM9, Sgemm512BM10, Sgemm512BM11, Sgemm512BM12, Sgemm512BM13, Sgemm512BM14},
		}
		s.M1Wide[4], s.M1Wide[8] = Sgemm512M1x128, Sgemm512M1x256
		s.F16M1Wide[4], s.F16M1Wide[8] = Sgemm512HM1x128, Sgemm512HM1x256
		s.M1Strided[2], s.M1Strided[4] = Sgemm512M1x64S, Sgemm512M1x128S
		sets = append(sets, s)
	}
	if vec512 && cpu.X86.HasAVX512VNNI {
		quantQ8 = QuantQ8x512
		qs := &Q8Set{
			Name: "avx512vnni", MR: 14, Masked: true,
			M: []Q8Kernel{nil, Q8Gemm512M1, Q8Gemm512M2, Q8Gemm512M3, Q8Gemm512M4, Q8Gemm512M5, Q8Gemm512M6, Q8Gemm512M7,
				Q8Gemm512M8, Q8Gemm512M9, Q8Gemm512M10, Q8Gemm512M11, Q8Gemm512M12, Q8Gemm512M13, Q8Gemm512M14},
		}
		qs.M1Wide[4], qs.M1Wide[8] = Q8Gemm512M1x128, Q8Gemm512M1x256
		q8sets = append(q8sets, qs)
	}
	if vec512 && cpu.X86.HasAVX512BF16 {
		roundBF16 = RoundBF16x512
		set := &BF16Set{
			Name: "avx512bf16", MR: 14,
			M: []BF16Kernel{nil, BF16Gemm512M1, BF16Gemm512M2, BF16Gemm512M3, BF16Gemm512M4, BF16Gemm512M5, BF16Gemm512M6, BF16Gemm512M7,
				BF16Gemm512M8, BF16Gemm512M9, BF16Gemm512M10, BF16Gemm512M11, BF16Gemm512M12, BF16Gemm512M13, BF16Gemm512M14},
			Wide: make([]BF16Wide, 15),
		}
		set.Wide[1] = BF16Wide{NP: 8, K: BF16Gemm512M1x256}
		set.Wide[2] = BF16Wide{NP: 4, K: BF16Gemm512M2x128}
		set.Wide[3] = BF16Wide{NP: 4, K: BF16Gemm512M3x128}
		bf16sets = append(bf16sets, set)
	}
	if cpu.X86.HasAVX2 {
		q8sets = append(q8sets, &Q8Set{Name: "avx2", MR: 2, M: []Q8Kernel{nil, Q8Gemm256M1, Q8Gemm256M2}})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		sets = append(sets, &Set{
			Name: "avx2", MR: 6, NR: 16, Masked: false, KC: 256, MC: 480,
			M: []Kernel{nil, Sgemm256M1, Sgemm256M2, Sgemm256M3, Sgemm256M4, Sgemm256M5, Sgemm256M6},
		})
	}
}
