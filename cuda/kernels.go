//go:build cuda

package cuda

// kernelSource is the CUDA C of every kernel, compiled once per process
// and compute capability with NVRTC (no CUDA headers: the few conversions
// needed are written out). Every kernel checks its bounds; element counts
// and offsets are 64-bit; loops stride over the grid so any launch size
// is correct.
const kernelSource = `
#define MAXR 8
#define NEG_INF __int_as_float(0xff800000)

struct Dims { long long v[MAXR]; };

// Offset of the element with row-major index i of shape in a tensor with
// the given strides.
__device__ __forceinline__ long long strided(long long i, int rank, const Dims &shape, const Dims &st) {
	long long off = 0;
	for (int d = rank - 1; d >= 0; d--) {
		long long n = shape.v[d];
		long long q = i / n;
		off += (i - q * n) * st.v[d];
		i = q;
	}
	return off;
}

#define GRID_LOOP(i, n) for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

// 16-bit floats, as raw bits. (The CPU emulation of the tests,
// cuda/testdata/fakecuda, compiles this source with a host compiler and
// provides these two itself.)
#if defined(__CUDACC_RTC__) || defined(__CUDA_ARCH__)
__device__ __forceinline__ float f16_to_f32(unsigned short h) {
	float f;
	asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
	return f;
}
__device__ __forceinline__ unsigned short f32_to_f16(float f) {
	unsigned short h;
	asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
	return h;
}
#endif
__device__ __forceinline__ float bf16_to_f32(unsigned short h) {
	return __uint_as_float(((unsigned int)h) << 16);
}
__device__ __forceinline__ unsigned short f32_to_bf16(float f) {
	unsigned int b = __float_as_uint(f);
	if (f != f) return (unsigned short)((b >> 16) | 0x40);
	b += 0x7fffu + ((b >> 16) & 1u);
	return (unsigned short)(b >> 16);
}
__device__ __forceinline__ float widen(unsigned short h, int bf16) {
	return bf16 ? bf16_to_f32(h) : f16_to_f32(h);
}
__device__ __forceinline__ unsigned short narrow(float f, int bf16) {
	return bf16 ? f32_to_bf16(f) : f32_to_f16(f);
}

// 16-byte vectors for wide loads (own types: nothing is included).
struct alignas(16) F4 { float x, y, z, w; };
struct alignas(16) U4 { unsigned int x, y, z, w; };

// Element types of attention keys and values.
struct H16 { unsigned short x; };
struct B16 { unsigned short x; };
__device__ __forceinline__ float ld(const float *p) { return *p; }
__device__ __forceinline__ float ld(const H16 *p) { return f16_to_f32(p->x); }
__device__ __forceinline__ float ld(const B16 *p) { return bf16_to_f32(p->x); }

// Activations, computed in double as the host's tensor.GELUExact etc. are.
__device__ __forceinline__ float activate(float x, int act) {
	double v = (double)x;
	switch (act) {
	case 1: // GELU (erf)
		return (float)(0.5 * v * (1.0 + erf(v / 1.4142135623730951)));
	case 2: // GELU (tanh)
		return (float)(0.5 * v * (1.0 + tanh(sqrt(2.0 / 3.141592653589793) * (v + 0.044715 * v * v * v))));
	case 3: // QuickGELU
		return (float)(v / (1.0 + exp(-1.702 * v)));
	case 4: // ReLU: max(x, 0) as Go computes it (NaN stays NaN, -0 gives 0)
		if (x != x) return x;
		return x > 0.0f ? x : 0.0f;
	case 5: // Tanh
		return (float)tanh(v);
	case 6: // Sigmoid
		return (float)(1.0 / (1.0 + exp(-v)));
	case 7: // SiLU
		return (float)(v / (1.0 + exp(-v)));
	}
	return x;
}

__device__ __forceinline__ float warp_sum(float v) {
	for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}
__device__ __forceinline__ double warp_sum_d(double v) {
	for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}
__device__ __forceinline__ float warp_max(float v) {
	for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
	return v;
}

// Block reductions (blockDim.x a multiple of 32, at most 1024); every
// thread gets the result. sh holds 32 values.
#define BLOCK_REDUCE(name, T, warp_op, identity) \
__device__ T name(T v, T *sh) { \
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5; \
	v = warp_op(v); \
	__syncthreads(); \
	if (lane == 0) sh[warp] = v; \
	__syncthreads(); \
	v = lane < nw ? sh[lane] : identity; \
	v = warp_op(v); \
	return v; \
}
BLOCK_REDUCE(block_sum_d, double, warp_sum_d, 0.0)
BLOCK_REDUCE(block_max, float, warp_max, NEG_INF)

extern "C" {

// dst[dl] = src[sl] for every index of shape (any strides, rank ≤ MAXR).
__global__ void copy_strided(float *dst, Dims dst_st, const float *src, Dims src_st, Dims shape, int rank, long long n) {
	GRID_LOOP(i, n) {
		dst[strided(i, rank, shape, dst_st)] = src[strided(i, rank, shape, src_st)];
	}
}

// out[i] = a[.] op b[.] with broadcast strides; out contiguous.
__global__ void binary(int op, float *out, const float *a, Dims a_st, const float *b, Dims b_st, Dims shape, int rank, long long n) {
	GRID_LOOP(i, n) {
		float x = a[strided(i, rank, shape, a_st)], y = b[strided(i, rank, shape, b_st)];
		float r;
		switch (op) {
		case 0: r = x + y; break;
		case 1: r = x - y; break;
		case 2: r = x * y; break;
		default: r = x / y; break;
		}
		out[i] = r;
	}
}

// a[i] += b[i mod nb]: b's shape is a trailing part of a's (broadcast
// over the leading dimensions), or b has a's length.
__global__ void add_inplace(float *a, const float *b, long long n, long long nb) {
	GRID_LOOP(i, n) { a[i] += b[nb == n ? i : i % nb]; }
}

__global__ void scale(float *out, const float *in, float s, long long n) {
	GRID_LOOP(i, n) { out[i] = in[i] * s; }
}

// Activation in place over a strided tensor.
__global__ void activate_strided(float *p, Dims st, Dims shape, int rank, long long n, int act) {
	GRID_LOOP(i, n) {
		long long o = strided(i, rank, shape, st);
		p[o] = activate(p[o], act);
	}
}

// out[r, j] = act(out[r, j] + bias[j]) for rows of n values ldo apart
// (bias may be null).
__global__ void bias_act(float *out, long long rows, int n, long long ldo, const float *bias, int act) {
	GRID_LOOP(i, rows * n) {
		long long r = i / n;
		int j = (int)(i - r * n);
		float *p = out + r * ldo + j;
		float v = *p;
		if (bias) v += bias[j];
		*p = activate(v, act);
	}
}

// out[i] += bias[(i / inner) % c]: a bias per channel of [B, C, inner].
__global__ void bias_channels(float *out, const float *bias, long long n, int c, long long inner) {
	GRID_LOOP(i, n) { out[i] += bias[(i / inner) % c]; }
}

// Softmax (or log-softmax) of each row of w values, in place; one block
// per row. A row whose maximum is -Inf becomes zeros (softmax).
__global__ void softmax_rows(float *x, long long rows, int w, int logsm) {
	__shared__ double shd[32];
	__shared__ float shf[32];
	for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
		float *row = x + r * w;
		float m = NEG_INF;
		for (int j = threadIdx.x; j < w; j += blockDim.x) m = fmaxf(m, row[j]);
		m = block_max(m, shf);
		if (m == NEG_INF && !logsm) {
			for (int j = threadIdx.x; j < w; j += blockDim.x) row[j] = 0.0f;
			continue;
		}
		double s = 0.0;
		for (int j = threadIdx.x; j < w; j += blockDim.x) s += (double)expf(row[j] - m);
		s = block_sum_d(s, shd);
		float sum = (float)s;
		if (logsm) {
			float lse = m + (float)log((double)sum);
			for (int j = threadIdx.x; j < w; j += blockDim.x) row[j] = row[j] - lse;
		} else {
			float inv = 1.0f / sum;
			for (int j = threadIdx.x; j < w; j += blockDim.x) row[j] = expf(row[j] - m) * inv;
		}
		__syncthreads();
	}
}

// Layer norm of each row of w values (in may equal out); g and b may be
// null. One block per row; mean and variance in double.
__global__ void layernorm_rows(float *out, const float *in, long long rows, int w, const float *g, const float *b, float eps) {
	__shared__ double sh[32];
	for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
		const float *x = in + r * w;
		float *y = out + r * w;
		double s = 0.0;
		for (int j = threadIdx.x; j < w; j += blockDim.x) s += (double)x[j];
		double mean = block_sum_d(s, sh) / (double)w;
		double v = 0.0;
		for (int j = threadIdx.x; j < w; j += blockDim.x) {
			double d = (double)x[j] - mean;
			v += d * d;
		}
		double var = block_sum_d(v, sh) / (double)w;
		double inv = 1.0 / sqrt(var + (double)eps);
		for (int j = threadIdx.x; j < w; j += blockDim.x) {
			float t = (float)(((double)x[j] - mean) * inv);
			if (g) t *= g[j];
			if (b) t += b[j];
			y[j] = t;
		}
		__syncthreads();
	}
}

// Index of the largest value of each row (the first on ties, NaN never
// chosen over a number, 0 for a row of NaNs); one block per row.
__global__ void argmax_rows(const float *x, long long rows, int w, int *out) {
	__shared__ float sv[1024];
	__shared__ int si[1024];
	for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
		const float *row = x + r * w;
		float bv = 0.0f;
		int bi = -1;
		for (int j = threadIdx.x; j < w; j += blockDim.x) {
			float v = row[j];
			if (v != v) continue;
			if (bi < 0 || v > bv) { bv = v; bi = j; }
		}
		sv[threadIdx.x] = bv;
		si[threadIdx.x] = bi;
		__syncthreads();
		for (int s = blockDim.x / 2; s > 0; s >>= 1) {
			if (threadIdx.x < s) {
				float ov = sv[threadIdx.x + s];
				int oi = si[threadIdx.x + s];
				int ci = si[threadIdx.x];
				if (oi >= 0 && (ci < 0 || ov > sv[threadIdx.x] || (ov == sv[threadIdx.x] && oi < ci))) {
					sv[threadIdx.x] = ov;
					si[threadIdx.x] = oi;
				}
			}
			__syncthreads();
		}
		if (threadIdx.x == 0) out[r] = si[0] < 0 ? 0 : si[0];
		__syncthreads();
	}
}

// out[r, :] = src row idx[r] (rows row_stride apart, each of shape/strides
// rshape/rst); out contiguous [nrows, rowlen].
__global__ void gather_rows(float *out, const float *src, const long long *idx, long long nrows, long long rowlen,
                            long long row_stride, Dims rshape, Dims rst, int rank) {
	GRID_LOOP(i, nrows * rowlen) {
		long long r = i / rowlen, c = i - r * rowlen;
		out[i] = src[idx[r] * row_stride + strided(c, rank, rshape, rst)];
	}
}

// out[r, :] = widened row idx[r] of a [N, k] 16-bit matrix.
__global__ void gather_half_rows(float *out, const unsigned short *w, const long long *idx, long long nrows, int k, int bf16) {
	GRID_LOOP(i, nrows * k) {
		long long r = i / k, c = i - r * k;
		out[i] = widen(w[idx[r] * k + c], bf16);
	}
}

__global__ void narrow_half(unsigned short *out, const float *in, long long n, int bf16) {
	GRID_LOOP(i, n) { out[i] = narrow(in[i], bf16); }
}

__global__ void widen_half(float *out, const unsigned short *in, long long n, int bf16) {
	GRID_LOOP(i, n) { out[i] = widen(in[i], bf16); }
}

// out[r, j] (+)= Σ_c x[r, c]·w[j, c] for m ≤ 8 rows of x (ldx apart) and a
// [n, k] 16-bit weight, in float32: one warp per output column (blocks of
// 8 warps), the weight row read once for all rows.
__global__ void gemv_half(float *out, long long ldo, const float *x, long long ldx, int m, const unsigned short *w,
                          int n, int k, int bf16, int accumulate) {
	int lane = threadIdx.x & 31;
	long long j = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
	if (j >= n) return;
	const unsigned short *wr = w + j * (long long)k;
	float acc[8];
#pragma unroll
	for (int r = 0; r < 8; r++) acc[r] = 0.0f;
	bool vec = (k % 8) == 0 && (ldx % 4) == 0 && ((((unsigned long long)x) & 15) == 0) && ((((unsigned long long)w) & 15) == 0);
	if (vec) {
		for (int c = lane * 8; c < k; c += 256) {
			U4 pk = *(const U4 *)(wr + c);
			float wv[8];
			wv[0] = widen((unsigned short)(pk.x & 0xffff), bf16); wv[1] = widen((unsigned short)(pk.x >> 16), bf16);
			wv[2] = widen((unsigned short)(pk.y & 0xffff), bf16); wv[3] = widen((unsigned short)(pk.y >> 16), bf16);
			wv[4] = widen((unsigned short)(pk.z & 0xffff), bf16); wv[5] = widen((unsigned short)(pk.z >> 16), bf16);
			wv[6] = widen((unsigned short)(pk.w & 0xffff), bf16); wv[7] = widen((unsigned short)(pk.w >> 16), bf16);
#pragma unroll
			for (int r = 0; r < 8; r++) {
				if (r < m) {
					const F4 *xp = (const F4 *)(x + r * ldx + c);
					F4 a = xp[0], b = xp[1];
					acc[r] += a.x * wv[0] + a.y * wv[1] + a.z * wv[2] + a.w * wv[3] + b.x * wv[4] + b.y * wv[5] + b.z * wv[6] + b.w * wv[7];
				}
			}
		}
	} else {
		for (int c = lane; c < k; c += 32) {
			float wv = widen(wr[c], bf16);
#pragma unroll
			for (int r = 0; r < 8; r++) {
				if (r < m) acc[r] += x[r * ldx + c] * wv;
			}
		}
	}
#pragma unroll
	for (int r = 0; r < 8; r++) {
		if (r < m) {
			float s = warp_sum(acc[r]);
			if (lane == 0) {
				float *o = out + r * ldo + j;
				*o = accumulate ? *o + s : s;
			}
		}
	}
}

// col[b, c*K + kk, t] = x[b, c, t*stride + kk - pad] (0 outside): the
// columns of a 1-D convolution; x contiguous [B, C, L].
__global__ void im2col1d(float *col, const float *x, long long bsz, int c, int l, int k, int lout, int stride, int pad) {
	GRID_LOOP(i, bsz * c * k * lout) {
		long long t = i % lout;
		long long q = i / lout;
		int kk = (int)(q % k);
		long long bc = q / k; // b*c + channel
		long long p = t * stride + kk - pad;
		col[i] = (p >= 0 && p < l) ? x[bc * l + p] : 0.0f;
	}
}

// cols[b, patch, (ch*P + ky)*P + kx] = x[b, ch, py*P + ky, px*P + kx]:
// the rows of a patch embedding; x contiguous [B, C, H, W].
__global__ void patchify(float *cols, const float *x, long long bsz, int c, int h, int w, int p, int gh, int gw) {
	long long kdim = (long long)c * p * p, np = (long long)gh * gw;
	GRID_LOOP(i, bsz * np * kdim) {
		long long e = i % kdim, bp = i / kdim;
		long long b = bp / np, pi = bp - b * np;
		int py = (int)(pi / gw), px = (int)(pi % gw);
		int ch = (int)(e / (p * p)), rem = (int)(e % (p * p));
		int ky = rem / p, kx = rem % p;
		cols[i] = x[((b * c + ch) * h + py * p + ky) * (long long)w + px * p + kx];
	}
}

// Keys or values [B, Tk, H*Dh] (contiguous) into heads [B, H, Tk, Dh]:
// head_src is the element of the input that element i of the output is.
__device__ __forceinline__ long long head_src(long long i, int tk, int heads, int dh) {
	int d = (int)(i % dh);
	long long q = i / dh;
	int j = (int)(q % tk);
	q /= tk;
	int h = (int)(q % heads);
	long long b = q / heads;
	return (b * tk + j) * (long long)(heads * dh) + h * dh + d;
}

__global__ void pack_heads_f32(float *out, const float *in, long long bsz, int tk, int heads, int dh) {
	GRID_LOOP(i, bsz * heads * tk * dh) out[i] = in[head_src(i, tk, heads, dh)];
}

__global__ void pack_heads_half(unsigned short *out, const float *in, long long bsz, int tk, int heads, int dh, int bf16) {
	GRID_LOOP(i, bsz * heads * tk * dh) out[i] = narrow(in[head_src(i, tk, heads, dh)], bf16);
}

// The operations of the model families (tensor.ModelOps). Where the host
// kernel rounds every step, the intrinsics __fadd_rn etc. keep the
// compiler from fusing a product and a sum into one FMA, so that the
// device rounds as the host does.

// UpsampleBicubic (tensor.UpsampleBicubic): out[y, xo, k] of a
// channels-last grid [gh, gw, c]; hidx/hw hold the 4 row taps of every
// output row, widx/ww the 4 column taps of every output column (computed
// on the host as the tensor package does). Per source row, the column
// taps are summed first (float32), then weighted by the row tap.
__global__ void upsample_bicubic(float *out, const float *grid, int gw, int c, int outh, int outw,
                                 const int *hidx, const float *hw, const int *widx, const float *ww) {
	GRID_LOOP(i, (long long)outh * outw * c) {
		int k = (int)(i % c);
		long long q = i / c;
		int xo = (int)(q % outw);
		int y = (int)(q / outw);
		float acc = 0.0f;
		for (int j = 0; j < 4; j++) {
			const float *row = grid + (long long)hidx[4 * y + j] * gw * c + k;
			float tmp = 0.0f;
			for (int t = 0; t < 4; t++) {
				float p = __fmul_rn(row[(long long)widx[4 * xo + t] * c], ww[4 * xo + t]);
				tmp = t == 0 ? p : __fadd_rn(tmp, p);
			}
			float p = __fmul_rn(tmp, hw[4 * y + j]);
			acc = j == 0 ? p : __fadd_rn(acc, p);
		}
		out[i] = acc;
	}
}

// GroupNormChannels (tensor.GroupNormChannels): each channel (row of t
// values) of a contiguous [c, t] normalised over time in place, mean and
// biased variance in double; one block per channel.
__global__ void groupnorm_channels(float *x, long long c, long long t, const float *w, const float *b, float eps) {
	__shared__ double sh[32];
	for (long long ch = blockIdx.x; ch < c; ch += gridDim.x) {
		float *row = x + ch * t;
		double s = 0.0;
		for (long long i = threadIdx.x; i < t; i += blockDim.x) s = __dadd_rn(s, (double)row[i]);
		double mean = block_sum_d(s, sh) / (double)t;
		double v = 0.0;
		for (long long i = threadIdx.x; i < t; i += blockDim.x) {
			double d = __dsub_rn((double)row[i], mean);
			v = __dadd_rn(v, __dmul_rn(d, d));
		}
		double sq = block_sum_d(v, sh);
		double inv = 1.0 / sqrt(__dadd_rn(sq / (double)t, (double)eps));
		double a = __dmul_rn((double)w[ch], inv);
		double sft = __dsub_rn((double)b[ch], __dmul_rn(mean, a));
		for (long long i = threadIdx.x; i < t; i += blockDim.x) row[i] = (float)__dadd_rn(__dmul_rn((double)row[i], a), sft);
		__syncthreads();
	}
}

// LayerNormChannels (tensor.LayerNormChannels): each frame (column) of a
// contiguous [c, t] normalised over its c channels in place; one thread
// per frame, summing the channels in order as the host does (so the
// results are the host's bit for bit).
__global__ void layernorm_channels(float *x, int c, long long t, const float *w, const float *b, float eps) {
	GRID_LOOP(i, t) {
		float *col = x + i;
		double mean = 0.0;
		for (int ch = 0; ch < c; ch++) mean = __dadd_rn(mean, (double)col[ch * t]);
		mean = mean / (double)c;
		double sq = 0.0;
		for (int ch = 0; ch < c; ch++) {
			double d = __dsub_rn((double)col[ch * t], mean);
			sq = __dadd_rn(sq, __dmul_rn(d, d));
		}
		double inv = 1.0 / sqrt(__dadd_rn(sq / (double)c, (double)eps));
		for (int ch = 0; ch < c; ch++) {
			double v = __dmul_rn(__dmul_rn(__dsub_rn((double)col[ch * t], mean), inv), (double)w[ch]);
			col[ch * t] = (float)__dadd_rn(v, (double)b[ch]);
		}
	}
}

// RMSNorm (tensor.RMSNorm): out = w · (x · inv) per row of d values, inv
// = 1/√(mean(x²) + eps) with the mean of squares in double, rounded to
// float; one block per row.
__global__ void rmsnorm_rows(float *out, const float *in, long long rows, int d, const float *w, double eps) {
	__shared__ double sh[32];
	for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
		const float *x = in + r * d;
		float *y = out + r * d;
		double s = 0.0;
		for (int j = threadIdx.x; j < d; j += blockDim.x) {
			double v = (double)x[j];
			s = __dadd_rn(s, __dmul_rn(v, v));
		}
		s = block_sum_d(s, sh);
		float inv = (float)(1.0 / sqrt(__dadd_rn(s / (double)d, eps)));
		for (int j = threadIdx.x; j < d; j += blockDim.x) y[j] = __fmul_rn(w[j], __fmul_rn(x[j], inv));
		__syncthreads();
	}
}

// Rope (tensor.Rope): rotates the heads of rows of heads·2·half values in
// place, row r at position pos[r]: the angle (pos/scale)·inv_freq[f] in
// float, its cosine and sine in double rounded to float, pairs (f, f+half)
// of every head. One thread per (row, frequency), looping over the heads.
__global__ void rope(float *x, long long rows, int heads, int half, const float *inv_freq, const long long *pos,
                     float scale, int scaled) {
	long long width = (long long)heads * 2 * half;
	GRID_LOOP(i, rows * half) {
		int f = (int)(i % half);
		long long r = i / half;
		float p = (float)pos[r];
		if (scaled) p = __fdiv_rn(p, scale);
		double a = (double)__fmul_rn(inv_freq[f], p);
		float cs = (float)cos(a), sn = (float)sin(a);
		float *row = x + r * width;
		for (int h = 0; h < heads; h++) {
			float *hd = row + (long long)h * 2 * half;
			float x1 = hd[f], x2 = hd[f + half];
			hd[f] = __fsub_rn(__fmul_rn(x1, cs), __fmul_rn(x2, sn));
			hd[f + half] = __fadd_rn(__fmul_rn(x2, cs), __fmul_rn(x1, sn));
		}
	}
}

} // extern "C"

// Attention: one warp per (batch, head, query row), online softmax over
// chunks of 32 keys (lane j scores key j0+j), the output row held in
// registers (head dimension ≤ 256: 8 values per lane). Scores are
// scale·q·k, plus the mask, with causality applied; a row with nothing
// to attend to gives zeros. With probs set, a second pass writes the
// normalised probabilities [B, H, Tq, Tk].
//
// q (b, r, h, d) is at q[b*qb + r*qld + h*dh + d]; key (b', j, g, d) at
// k[b'*kb + g*khs + j*kld + d] (likewise v), b' = bmap[b] when bmap is
// set; query head h reads key/value head h / group.
#define ATTN_WARPS 4
template <typename KT>
__device__ void attention_impl(float *out, const float *q, long long qb, long long qld,
                               const KT *k, long long kb, long long khs, long long kld,
                               const KT *v, long long vb, long long vhs, long long vld,
                               const int *bmap, int B, int tq, int tk, int H, int group, int dh,
                               float scale, int causal, const float *mask, long long msb, long long msq, long long msk,
                               float *probs) {
	__shared__ float qs[ATTN_WARPS][256];
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	long long units = (long long)B * H * tq;
	for (long long u = (long long)blockIdx.x * ATTN_WARPS + warp; u < units; u += (long long)gridDim.x * ATTN_WARPS) {
		int r = (int)(u % tq);
		long long bh = u / tq;
		int h = (int)(bh % H);
		int b = (int)(bh / H);
		int bs = bmap ? bmap[b] : b;
		int g = h / group;
		const float *qr = q + b * qb + r * qld + (long long)h * dh;
		for (int d = lane; d < dh; d += 32) qs[warp][d] = qr[d];
		__syncwarp();
		const KT *kh = k + bs * kb + g * khs;
		const KT *vh = v + bs * vb + g * vhs;
		const float *mrow = mask ? mask + b * msb + r * msq : 0;
		int lim = tk - tq + r + 1; // causal: keys j < lim
		float m = NEG_INF, l = 0.0f;
		float acc[8];
#pragma unroll
		for (int i = 0; i < 8; i++) acc[i] = 0.0f;
		for (int j0 = 0; j0 < tk; j0 += 32) {
			int j = j0 + lane;
			float s = NEG_INF;
			if (j < tk) {
				const KT *kr = kh + j * kld;
				float dot = 0.0f;
				for (int d = 0; d < dh; d++) dot += qs[warp][d] * ld(kr + d);
				s = dot * scale;
				if (mrow) s += mrow[j * msk];
				if (causal && j >= lim) s = NEG_INF;
			}
			float cm = warp_max(s);
			if (cm == NEG_INF) continue;
			float mn = fmaxf(m, cm);
			float corr = m == NEG_INF ? 0.0f : expf(m - mn);
			float p = s == NEG_INF ? 0.0f : expf(s - mn);
			l = l * corr + warp_sum(p);
#pragma unroll
			for (int i = 0; i < 8; i++) acc[i] *= corr;
			int cnt = min(32, tk - j0);
			for (int t = 0; t < cnt; t++) {
				float pt = __shfl_sync(0xffffffffu, p, t);
				if (pt == 0.0f) continue;
				const KT *vr = vh + (j0 + t) * vld;
#pragma unroll
				for (int i = 0; i < 8; i++) {
					int d = lane + 32 * i;
					if (d < dh) acc[i] += pt * ld(vr + d);
				}
			}
			m = mn;
		}
		float inv = l > 0.0f ? 1.0f / l : 0.0f;
		float *o = out + ((long long)b * tq + r) * ((long long)H * dh) + (long long)h * dh;
#pragma unroll
		for (int i = 0; i < 8; i++) {
			int d = lane + 32 * i;
			if (d < dh) o[d] = acc[i] * inv;
		}
		if (probs) {
			float *pr = probs + (((long long)b * H + h) * tq + r) * tk;
			for (int j = lane; j < tk; j += 32) {
				const KT *kr = kh + j * kld;
				float dot = 0.0f;
				for (int d = 0; d < dh; d++) dot += qs[warp][d] * ld(kr + d);
				float s = dot * scale;
				if (mrow) s += mrow[j * msk];
				if (causal && j >= lim) s = NEG_INF;
				pr[j] = (l > 0.0f && s != NEG_INF) ? expf(s - m) * inv : 0.0f;
			}
		}
		__syncwarp();
	}
}

#define ATTENTION_KERNEL(name, KT) \
extern "C" __global__ void name(float *out, const float *q, long long qb, long long qld, \
                                const KT *k, long long kb, long long khs, long long kld, \
                                const KT *v, long long vb, long long vhs, long long vld, \
                                const int *bmap, int B, int tq, int tk, int H, int group, int dh, \
                                float scale, int causal, const float *mask, long long msb, long long msq, long long msk, \
                                float *probs) { \
	attention_impl<KT>(out, q, qb, qld, k, kb, khs, kld, v, vb, vhs, vld, bmap, B, tq, tk, H, group, dh, \
	                   scale, causal, mask, msb, msq, msk, probs); \
}
ATTENTION_KERNEL(attention_f32, float)
ATTENTION_KERNEL(attention_f16, H16)
ATTENTION_KERNEL(attention_bf16, B16)
`

// The kernels, by index into a device's function table.
const (
	kCopyStrided = iota
	kBinary
	kAddInPlace
	kScale
	kActivateStrided
	kBiasAct
	kBiasChannels
	kSoftmaxRows
	kLayerNormRows
	kArgmaxRows
	kGatherRows
	kGatherHalfRows
	kNarrowHalf
	kWidenHalf
	kGemvHalf
	kIm2col1d
	kPatchify
	kPackHeadsF32
	kPackHeadsHalf
	kAttentionF32
	kAttentionF16
	kAttentionBF16
	kUpsampleBicubic
	kGroupNormChannels
	kLayerNormChannels
	kRMSNormRows
	kRope
	numKernels
)

// kernelNames are the kernels' names in kernelSource, by index.
var kernelNames = [numKernels]string{
	kCopyStrided: "copy_strided", kBinary: "binary", kAddInPlace: "add_inplace", kScale: "scale",
	kActivateStrided: "activate_strided", kBiasAct: "bias_act", kBiasChannels: "bias_channels",
	kSoftmaxRows: "softmax_rows", kLayerNormRows: "layernorm_rows", kArgmaxRows: "argmax_rows",
	kGatherRows: "gather_rows", kGatherHalfRows: "gather_half_rows", kNarrowHalf: "narrow_half",
	kWidenHalf: "widen_half", kGemvHalf: "gemv_half", kIm2col1d: "im2col1d", kPatchify: "patchify",
	kPackHeadsF32: "pack_heads_f32", kPackHeadsHalf: "pack_heads_half",
	kAttentionF32: "attention_f32", kAttentionF16: "attention_f16", kAttentionBF16: "attention_bf16",
	kUpsampleBicubic: "upsample_bicubic", kGroupNormChannels: "groupnorm_channels",
	kLayerNormChannels: "layernorm_channels", kRMSNormRows: "rmsnorm_rows", kRope: "rope",
}
