// Declarations of the CUDA builtins NVRTC provides, for ptxcheck.sh
// (clang CUDA without CUDA headers). Test scaffolding only.
#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __shared__ __attribute__((shared))
#define __forceinline__ __attribute__((always_inline)) inline
#include <__clang_cuda_builtin_vars.h>
__device__ inline void __syncwarp(unsigned m = 0xffffffffu) { __nvvm_bar_warp_sync(m); }
__device__ inline float __shfl_xor_sync(unsigned m, float v, int o) { return __nvvm_shfl_sync_bfly_f32(m, v, o, 0x1f); }
__device__ inline double __shfl_xor_sync(unsigned m, double v, int o) {
  long long x = __builtin_bit_cast(long long, v);
  int lo = __nvvm_shfl_sync_bfly_i32(m, (int)x, o, 0x1f), hi = __nvvm_shfl_sync_bfly_i32(m, (int)(x >> 32), o, 0x1f);
  return __builtin_bit_cast(double, ((long long)hi << 32) | (unsigned)lo); }
__device__ inline float __shfl_sync(unsigned m, float v, int s) { return __nvvm_shfl_sync_idx_f32(m, v, s, 0x1f); }
__device__ inline float __int_as_float(int i) { return __builtin_bit_cast(float, i); }
__device__ inline float __uint_as_float(unsigned i) { return __builtin_bit_cast(float, i); }
__device__ inline unsigned __float_as_uint(float f) { return __builtin_bit_cast(unsigned, f); }
__device__ inline int min(int a, int b) { return a < b ? a : b; }
// The rounded operations as NVRTC emits them: PTX add/mul with an explicit
// rounding modifier, which ptxas never contracts into an FMA.
__device__ inline float __fadd_rn(float a, float b) { float r; asm("add.rn.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b)); return r; }
__device__ inline float __fsub_rn(float a, float b) { float r; asm("sub.rn.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b)); return r; }
__device__ inline float __fmul_rn(float a, float b) { float r; asm("mul.rn.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b)); return r; }
__device__ inline float __fdiv_rn(float a, float b) { float r; asm("div.rn.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b)); return r; }
__device__ inline double __dadd_rn(double a, double b) { double r; asm("add.rn.f64 %0, %1, %2;" : "=d"(r) : "d"(a), "d"(b)); return r; }
__device__ inline double __dsub_rn(double a, double b) { double r; asm("sub.rn.f64 %0, %1, %2;" : "=d"(r) : "d"(a), "d"(b)); return r; }
__device__ inline double __dmul_rn(double a, double b) { double r; asm("mul.rn.f64 %0, %1, %2;" : "=d"(r) : "d"(a), "d"(b)); return r; }
extern "C" {
__device__ double erf(double); __device__ double tanh(double); __device__ double exp(double); __device__ double sqrt(double);
__device__ double log(double); __device__ double cos(double); __device__ double sin(double); __device__ float expf(float); __device__ float fmaxf(float, float);
}
