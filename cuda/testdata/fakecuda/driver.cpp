// driver.cpp: a CPU stand-in for the part of the CUDA driver API that
// goformer's cuda package uses, running the package's own kernels
// (kernels.cu, extracted from kernels.go by build.sh) on host threads.
// Test scaffolding only: see README.md.
#include "emu.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <setjmp.h>
#include <ucontext.h>

#include "kernels.cu"

// The CUDA threads of a block are fibers (ucontext) on the launching
// thread: one runs at a time, switching at barriers, so the builtins can
// be plain globals and __shared__ variables function statics.
thread_local uint3 threadIdx, blockIdx;
thread_local dim3 blockDim, gridDim;

namespace {

enum State { Runnable, AtWarp, AtBlock, Done };

// A fiber starts through ucontext and then switches with _setjmp and
// _longjmp, which (unlike swapcontext) make no system call.
struct Fiber {
	ucontext_t ctx;
	jmp_buf jb;
	bool started;
	State state;
	std::vector<char> stack;
};

struct Sched {
	ucontext_t main;
	jmp_buf jb;
	std::vector<Fiber> fibers;
	unsigned current;
	double slots[1024];
	void (*run)(void **);
	void **params;
};
Sched sched;

void yield(State s) {
	Fiber &f = sched.fibers[sched.current];
	f.state = s;
	if (!_setjmp(f.jb)) _longjmp(sched.jb, 1);
}

void fiberMain() {
	sched.run(sched.params);
	sched.fibers[sched.current].state = Done;
	_longjmp(sched.jb, 1);  // never returns
}

// runBlock runs the threads of one block to completion; false on a
// deadlock (threads waiting at barriers that can never be met).
bool runBlock(unsigned bx, void (*run)(void **), void **params) {
	sched.run = run;
	sched.params = params;
	if (sched.fibers.size() < bx) sched.fibers.resize(bx);
	for (unsigned t = 0; t < bx; t++) {
		Fiber &f = sched.fibers[t];
		if (f.stack.empty()) f.stack.resize(256 << 10);
		getcontext(&f.ctx);
		f.ctx.uc_stack.ss_sp = f.stack.data();
		f.ctx.uc_stack.ss_size = f.stack.size();
		f.ctx.uc_link = nullptr;
		makecontext(&f.ctx, fiberMain, 0);
		f.started = false;
		f.state = Runnable;
	}
	for (;;) {
		bool ran = false;
		for (unsigned t = 0; t < bx; t++) {
			if (sched.fibers[t].state != Runnable) continue;
			Fiber &f = sched.fibers[t];
			sched.current = t;
			threadIdx = {t, 0, 0};
			if (!_setjmp(sched.jb)) {
				if (!f.started) {
					f.started = true;
					setcontext(&f.ctx);
				}
				_longjmp(f.jb, 1);
			}
			ran = true;
		}
		if (ran) continue;
		// Everyone is waiting or done: release complete warps, then the block.
		bool released = false, alive = false, allAtBlock = true;
		for (unsigned w = 0; w < bx / 32; w++) {
			bool all = true;
			for (unsigned l = 0; l < 32; l++) all = all && sched.fibers[w * 32 + l].state == AtWarp;
			if (all) {
				for (unsigned l = 0; l < 32; l++) sched.fibers[w * 32 + l].state = Runnable;
				released = true;
			}
		}
		if (released) continue;
		for (unsigned t = 0; t < bx; t++) {
			State s = sched.fibers[t].state;
			if (s != Done) alive = true;
			if (s != Done && s != AtBlock) allAtBlock = false;
		}
		if (!alive) return true;
		if (!allAtBlock) return false;
		for (unsigned t = 0; t < bx; t++) {
			if (sched.fibers[t].state == AtBlock) sched.fibers[t].state = Runnable;
		}
	}
}

}  // namespace

void emu_syncthreads() { yield(AtBlock); }
void emu_syncwarp() { yield(AtWarp); }
double emu_shfl(double v, int arg, bool xor_mode) {
	int lane = threadIdx.x & 31, base = threadIdx.x & ~31u;
	sched.slots[threadIdx.x] = v;
	emu_syncwarp();
	int src = xor_mode ? (lane ^ arg) : arg;
	double r = sched.slots[base + (src & 31)];
	emu_syncwarp();
	return r;
}

namespace {

// Calling a kernel with cuLaunchKernel's parameter pointers.
template <typename... A, size_t... I>
void call_with(void (*f)(A...), void **p, std::index_sequence<I...>) {
	f(*reinterpret_cast<std::decay_t<A> *>(p[I])...);
}
template <typename... A>
void call(void (*f)(A...), void **p) {
	call_with(f, p, std::index_sequence_for<A...>{});
}

struct Kernel {
	const char *name;
	void (*run)(void **);
};

#define K(name) {#name, +[](void **p) { call(&name, p); }}
const Kernel kernels[] = {
	K(copy_strided), K(binary), K(add_inplace), K(scale), K(activate_strided), K(bias_act),
	K(bias_channels), K(softmax_rows), K(layernorm_rows), K(argmax_rows), K(gather_rows),
	K(gather_half_rows), K(narrow_half), K(widen_half), K(gemv_half), K(im2col1d), K(patchify),
	K(pack_heads_f32), K(pack_heads_half), K(attention_f32), K(attention_f16), K(attention_bf16),
	K(upsample_bicubic), K(groupnorm_channels), K(layernorm_channels), K(rmsnorm_rows), K(rope),
};

// Device memory: host blocks with guard bytes on both sides; fresh
// memory is filled with NaN so that reading what was never written shows.
const size_t guard = 256;
const unsigned char guardByte = 0xa5;
const size_t totalMem = size_t(1) << 30;
std::mutex mu;
std::map<uintptr_t, size_t> blocks;  // user address → size
size_t used;
int sticky;  // a detected memory error, reported by later calls

bool guardsIntact(uintptr_t p, size_t n) {
	const unsigned char *b = (const unsigned char *)p;
	for (size_t i = 1; i <= guard; i++) {
		if (b[-(long)i] != guardByte || b[n + i - 1] != guardByte) return false;
	}
	return true;
}

int checkAll(const char *when) {
	for (auto &kv : blocks) {
		if (!guardsIntact(kv.first, kv.second)) {
			fprintf(stderr, "fakecuda: write outside the %zu-byte block at %#lx (%s)\n", kv.second, (unsigned long)kv.first, when);
			sticky = 700;  // CUDA_ERROR_ILLEGAL_ADDRESS
		}
	}
	return sticky;
}

// inDevice reports whether [p, p+n) lies in one live block.
bool inDevice(uintptr_t p, size_t n) {
	auto it = blocks.upper_bound(p);
	if (it == blocks.begin()) return false;
	--it;
	return p >= it->first && p + n <= it->first + it->second;
}

}  // namespace

extern "C" {

typedef int CUresult;

CUresult cuInit(unsigned) { return 0; }
CUresult cuDriverGetVersion(int *v) { *v = 13000; return 0; }
CUresult cuDeviceGetCount(int *n) { *n = 1; return 0; }
CUresult cuDeviceGet(int *d, int ordinal) {
	if (ordinal != 0) return 101;  // CUDA_ERROR_INVALID_DEVICE
	*d = 0;
	return 0;
}
CUresult cuDeviceGetName(char *name, int len, int) {
	snprintf(name, len, "fakecuda (CPU emulation)");
	return 0;
}
CUresult cuDeviceGetAttribute(int *v, int attr, int) {
	*v = attr == 75 ? 9 : 0;
	return 0;
}
CUresult cuDeviceTotalMem_v2(size_t *n, int) { *n = totalMem; return 0; }
static int ctxToken;
CUresult cuDevicePrimaryCtxRetain(void **ctx, int) { *ctx = &ctxToken; return 0; }
CUresult cuDevicePrimaryCtxRelease_v2(int) { return 0; }
CUresult cuCtxSetCurrent(void *ctx) { return ctx == &ctxToken ? 0 : 201; }  // CUDA_ERROR_INVALID_CONTEXT
CUresult cuCtxSynchronize(void) {
	std::lock_guard<std::mutex> l(mu);
	return checkAll("synchronize");
}

CUresult cuMemAlloc_v2(unsigned long long *p, size_t n) {
	std::lock_guard<std::mutex> l(mu);
	if (n == 0) return 1;  // CUDA_ERROR_INVALID_VALUE
	if (used + n > totalMem) return 2;  // CUDA_ERROR_OUT_OF_MEMORY
	unsigned char *b = (unsigned char *)aligned_alloc(256, guard + ((n + 255) / 256 * 256) + guard);
	if (!b) return 2;
	memset(b, guardByte, guard);
	memset(b + guard, 0xff, n);  // NaN
	memset(b + guard + n, guardByte, guard);
	uintptr_t u = (uintptr_t)(b + guard);
	blocks[u] = n;
	used += n;
	*p = u;
	return 0;
}

CUresult cuMemFree_v2(unsigned long long p) {
	std::lock_guard<std::mutex> l(mu);
	auto it = blocks.find(p);
	if (it == blocks.end()) {
		fprintf(stderr, "fakecuda: cuMemFree of %#llx, not a block\n", p);
		return 1;
	}
	if (!guardsIntact(p, it->second)) {
		fprintf(stderr, "fakecuda: write outside the %zu-byte block at %#llx (found at free)\n", it->second, p);
		sticky = 700;
	}
	used -= it->second;
	blocks.erase(it);
	free((unsigned char *)p - guard);
	return sticky;
}

CUresult cuMemGetInfo_v2(size_t *freeMem, size_t *total) {
	std::lock_guard<std::mutex> l(mu);
	*freeMem = totalMem - used;
	*total = totalMem;
	return 0;
}

static CUresult checkRange(const char *op, unsigned long long p, size_t n) {
	if (n == 0 || inDevice(p, n)) return 0;
	fprintf(stderr, "fakecuda: %s of %zu bytes at %#llx outside device memory\n", op, n, p);
	return 1;
}

CUresult cuMemcpyHtoD_v2(unsigned long long dst, const void *src, size_t n) {
	std::lock_guard<std::mutex> l(mu);
	if (CUresult r = checkRange("cuMemcpyHtoD", dst, n)) return r;
	memcpy((void *)dst, src, n);
	return sticky;
}
CUresult cuMemcpyDtoH_v2(void *dst, unsigned long long src, size_t n) {
	std::lock_guard<std::mutex> l(mu);
	if (CUresult r = checkRange("cuMemcpyDtoH", src, n)) return r;
	memcpy(dst, (const void *)src, n);
	return checkAll("download");
}
CUresult cuMemcpyDtoDAsync_v2(unsigned long long dst, unsigned long long src, size_t n, void *) {
	std::lock_guard<std::mutex> l(mu);
	if (CUresult r = checkRange("cuMemcpyDtoD (destination)", dst, n)) return r;
	if (CUresult r = checkRange("cuMemcpyDtoD (source)", src, n)) return r;
	memmove((void *)dst, (const void *)src, n);
	return sticky;
}
CUresult cuMemsetD8Async(unsigned long long dst, unsigned char v, size_t n, void *) {
	std::lock_guard<std::mutex> l(mu);
	if (CUresult r = checkRange("cuMemsetD8", dst, n)) return r;
	memset((void *)dst, v, n);
	return sticky;
}

static int moduleToken;
CUresult cuModuleLoadData(void **m, const void *image) {
	if (!image) return 1;
	*m = &moduleToken;
	return 0;
}
CUresult cuModuleUnload(void *) { return 0; }
CUresult cuModuleGetFunction(void **f, void *, const char *name) {
	for (const Kernel &k : kernels) {
		if (strcmp(k.name, name) == 0) {
			*f = (void *)&k;
			return 0;
		}
	}
	return 500;  // CUDA_ERROR_NOT_FOUND
}

CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shmem, void *stream, void **params, void **extra) {
	const Kernel *k = (const Kernel *)f;
	if (!k || gx == 0 || gy == 0 || gz != 1 || by != 1 || bz != 1 || bx == 0 || bx > 1024 || bx % 32 != 0 || shmem != 0 || extra) {
		fprintf(stderr, "fakecuda: bad launch of %s: grid %u×%u×%u block %u×%u×%u\n", k ? k->name : "?", gx, gy, gz, bx, by, bz);
		return 1;
	}
	std::lock_guard<std::mutex> l(mu);  // one kernel at a time, in order
	blockDim = {bx, 1, 1};
	gridDim = {gx, gy, 1};
	for (unsigned y = 0; y < gy; y++) {
		for (unsigned x = 0; x < gx; x++) {
			blockIdx = {x, y, 0};
			if (!runBlock(bx, k->run, params)) {
				fprintf(stderr, "fakecuda: %s: deadlock at a barrier in block %u\n", k->name, x);
				return 719;  // CUDA_ERROR_LAUNCH_FAILED
			}
		}
	}
	return checkAll(k->name);
}

CUresult cuGetErrorName(CUresult r, const char **s) {
	switch (r) {
	case 1: *s = "CUDA_ERROR_INVALID_VALUE"; break;
	case 2: *s = "CUDA_ERROR_OUT_OF_MEMORY"; break;
	case 101: *s = "CUDA_ERROR_INVALID_DEVICE"; break;
	case 201: *s = "CUDA_ERROR_INVALID_CONTEXT"; break;
	case 500: *s = "CUDA_ERROR_NOT_FOUND"; break;
	case 700: *s = "CUDA_ERROR_ILLEGAL_ADDRESS"; break;
	case 719: *s = "CUDA_ERROR_LAUNCH_FAILED"; break;
	default: *s = "CUDA_ERROR_UNKNOWN"; break;
	}
	return 0;
}
CUresult cuGetErrorString(CUresult r, const char **s) {
	*s = r == 2 ? "out of memory" : "fakecuda error";
	return 0;
}

}  // extern "C"
