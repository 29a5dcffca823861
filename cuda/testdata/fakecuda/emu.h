// emu.h: just enough of CUDA C for the kernels of goformer's cuda package
// to compile with a host C++ compiler and run on the CPU, CUDA threads as
// fibers, one block at a time (so __shared__ variables can be
// function statics). Test scaffolding only: see README.md.
#pragma once
#include <math.h>
#include <stdint.h>
#include <string.h>

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static

struct uint3 { unsigned x, y, z; };
struct dim3 { unsigned x, y, z; };

extern thread_local uint3 threadIdx, blockIdx;
extern thread_local dim3 blockDim, gridDim;

void emu_syncthreads();
void emu_syncwarp();
double emu_shfl(double v, int arg, bool xor_mode);

inline void __syncthreads() { emu_syncthreads(); }
inline void __syncwarp(unsigned = 0xffffffffu) { emu_syncwarp(); }
inline float __shfl_xor_sync(unsigned, float v, int o) { return (float)emu_shfl(v, o, true); }
inline double __shfl_xor_sync(unsigned, double v, int o) { return emu_shfl(v, o, true); }
inline float __shfl_sync(unsigned, float v, int src) { return (float)emu_shfl(v, src, false); }

inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
inline float __uint_as_float(unsigned i) { float f; memcpy(&f, &i, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned i; memcpy(&i, &f, 4); return i; }
inline int min(int a, int b) { return a < b ? a : b; }

// Rounded arithmetic without contraction into FMA (the host build has no
// FMA without -mfma, so plain operators round each step).
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }

inline float f16_to_f32(unsigned short h) { _Float16 x; memcpy(&x, &h, 2); return (float)x; }
inline unsigned short f32_to_f16(float f) { _Float16 x = (_Float16)f; unsigned short h; memcpy(&h, &x, 2); return h; }
