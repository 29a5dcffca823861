//go:build cuda

package cuda

// The CUDA driver API, cuBLAS and NVRTC, loaded at run time with dlopen:
// building needs a C compiler but no CUDA headers or libraries. The few
// types and functions used are declared here; each call goes through a
// function pointer resolved with dlsym, by a small C shim that first makes
// the device's context current on the calling thread (goroutines move
// between threads).

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext;
typedef void *CUmodule;
typedef void *CUfunction;
typedef void *CUstream;
typedef unsigned long long CUdeviceptr;

typedef void *cublasHandle_t;
typedef int cublasStatus_t;

typedef int nvrtcResult;
typedef void *nvrtcProgram;

// The functions used, a list per library: X(return type, pointer,
// symbol, parameter types). The pointers are declared from the lists and
// resolved from them by the bind functions below.

// Driver API.
#define DRIVER_FUNCS(X) \
	X(CUresult, p_cuInit, "cuInit", (unsigned int)) \
	X(CUresult, p_cuDriverGetVersion, "cuDriverGetVersion", (int *)) \
	X(CUresult, p_cuDeviceGetCount, "cuDeviceGetCount", (int *)) \
	X(CUresult, p_cuDeviceGet, "cuDeviceGet", (CUdevice *, int)) \
	X(CUresult, p_cuDeviceGetName, "cuDeviceGetName", (char *, int, CUdevice)) \
	X(CUresult, p_cuDeviceGetAttribute, "cuDeviceGetAttribute", (int *, int, CUdevice)) \
	X(CUresult, p_cuDeviceTotalMem, "cuDeviceTotalMem_v2", (size_t *, CUdevice)) \
	X(CUresult, p_cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", (CUcontext *, CUdevice)) \
	X(CUresult, p_cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", (CUdevice)) \
	X(CUresult, p_cuCtxSetCurrent, "cuCtxSetCurrent", (CUcontext)) \
	X(CUresult, p_cuCtxSynchronize, "cuCtxSynchronize", (void)) \
	X(CUresult, p_cuMemAlloc, "cuMemAlloc_v2", (CUdeviceptr *, size_t)) \
	X(CUresult, p_cuMemFree, "cuMemFree_v2", (CUdeviceptr)) \
	X(CUresult, p_cuMemGetInfo, "cuMemGetInfo_v2", (size_t *, size_t *)) \
	X(CUresult, p_cuMemcpyHtoD, "cuMemcpyHtoD_v2", (CUdeviceptr, const void *, size_t)) \
	X(CUresult, p_cuMemcpyDtoH, "cuMemcpyDtoH_v2", (void *, CUdeviceptr, size_t)) \
	X(CUresult, p_cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2", (CUdeviceptr, CUdeviceptr, size_t, CUstream)) \
	X(CUresult, p_cuMemsetD8Async, "cuMemsetD8Async", (CUdeviceptr, unsigned char, size_t, CUstream)) \
	X(CUresult, p_cuModuleLoadData, "cuModuleLoadData", (CUmodule *, const void *)) \
	X(CUresult, p_cuModuleUnload, "cuModuleUnload", (CUmodule)) \
	X(CUresult, p_cuModuleGetFunction, "cuModuleGetFunction", (CUfunction *, CUmodule, const char *)) \
	X(CUresult, p_cuLaunchKernel, "cuLaunchKernel", (CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream, void **, void **)) \
	X(CUresult, p_cuGetErrorName, "cuGetErrorName", (CUresult, const char **)) \
	X(CUresult, p_cuGetErrorString, "cuGetErrorString", (CUresult, const char **))

// cuBLAS.
#define CUBLAS_FUNCS(X) \
	X(cublasStatus_t, p_cublasCreate, "cublasCreate_v2", (cublasHandle_t *)) \
	X(cublasStatus_t, p_cublasDestroy, "cublasDestroy_v2", (cublasHandle_t)) \
	X(cublasStatus_t, p_cublasSetMathMode, "cublasSetMathMode", (cublasHandle_t, int)) \
	X(cublasStatus_t, p_cublasSgemm, "cublasSgemm_v2", (cublasHandle_t, int, int, int, int, int, const float *, const float *, int, const float *, int, const float *, float *, int)) \
	X(cublasStatus_t, p_cublasSgemmStridedBatched, "cublasSgemmStridedBatched", (cublasHandle_t, int, int, int, int, int, const float *, const float *, int, long long, const float *, int, long long, const float *, float *, int, long long, int)) \
	X(cublasStatus_t, p_cublasSgemmBatched, "cublasSgemmBatched", (cublasHandle_t, int, int, int, int, int, const float *, const float *const *, int, const float *const *, int, const float *, float *const *, int, int)) \
	X(cublasStatus_t, p_cublasGemmEx, "cublasGemmEx", (cublasHandle_t, int, int, int, int, int, const void *, const void *, int, int, const void *, int, int, const void *, void *, int, int, int, int))

// NVRTC.
#define NVRTC_FUNCS(X) \
	X(nvrtcResult, p_nvrtcVersion, "nvrtcVersion", (int *, int *)) \
	X(nvrtcResult, p_nvrtcCreateProgram, "nvrtcCreateProgram", (nvrtcProgram *, const char *, const char *, int, const char *const *, const char *const *)) \
	X(nvrtcResult, p_nvrtcDestroyProgram, "nvrtcDestroyProgram", (nvrtcProgram *)) \
	X(nvrtcResult, p_nvrtcCompileProgram, "nvrtcCompileProgram", (nvrtcProgram, int, const char *const *)) \
	X(nvrtcResult, p_nvrtcGetProgramLogSize, "nvrtcGetProgramLogSize", (nvrtcProgram, size_t *)) \
	X(nvrtcResult, p_nvrtcGetProgramLog, "nvrtcGetProgramLog", (nvrtcProgram, char *)) \
	X(nvrtcResult, p_nvrtcGetCUBINSize, "nvrtcGetCUBINSize", (nvrtcProgram, size_t *)) \
	X(nvrtcResult, p_nvrtcGetCUBIN, "nvrtcGetCUBIN", (nvrtcProgram, char *)) \
	X(const char *, p_nvrtcGetErrorString, "nvrtcGetErrorString", (nvrtcResult))

#define DECLARE(ret, var, name, params) static ret (*var) params;
DRIVER_FUNCS(DECLARE)
CUBLAS_FUNCS(DECLARE)
NVRTC_FUNCS(DECLARE)

static void *gf_dlopen(const char *path, int global) {
	return dlopen(path, RTLD_NOW | (global ? RTLD_GLOBAL : RTLD_LOCAL));
}

static const char *gf_dlerror(void) {
	const char *e = dlerror();
	return e ? e : "unknown dlopen error";
}

// gf_path returns the file a loaded library came from (for messages and
// to find its neighbours), or NULL.
static const char *gf_path(void *handle, const char *sym) {
	void *p = dlsym(handle, sym);
	Dl_info info;
	if (p == NULL || dladdr(p, &info) == 0) {
		return NULL;
	}
	return info.dli_fname;
}

#define BIND(ret, var, name, params) *(void **)(&var) = dlsym(h, name); if (var == NULL) return name;

// The bind functions resolve every symbol of a library, returning the
// name of the first one missing (NULL when all are found).
static const char *gf_bind_driver(void *h) { DRIVER_FUNCS(BIND) return NULL; }
static const char *gf_bind_cublas(void *h) { CUBLAS_FUNCS(BIND) return NULL; }
static const char *gf_bind_nvrtc(void *h) { NVRTC_FUNCS(BIND) return NULL; }

static const char *gf_cu_error(CUresult r) {
	const char *name = NULL;
	if (p_cuGetErrorName == NULL || p_cuGetErrorName(r, &name) != 0 || name == NULL) {
		return "unknown CUDA error";
	}
	return name;
}

static const char *gf_cu_error_string(CUresult r) {
	const char *s = NULL;
	if (p_cuGetErrorString == NULL || p_cuGetErrorString(r, &s) != 0 || s == NULL) {
		return "";
	}
	return s;
}

static CUresult gf_init(void) { return p_cuInit(0); }
static CUresult gf_driver_version(int *v) { return p_cuDriverGetVersion(v); }
static CUresult gf_device_count(int *n) { return p_cuDeviceGetCount(n); }

static CUresult gf_device(int ordinal, CUdevice *dev, char *name, int len, int *major, int *minor, size_t *total) {
	CUresult r = p_cuDeviceGet(dev, ordinal);
	if (r) return r;
	r = p_cuDeviceGetName(name, len, *dev);
	if (r) return r;
	r = p_cuDeviceGetAttribute(major, 75, *dev); // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
	if (r) return r;
	r = p_cuDeviceGetAttribute(minor, 76, *dev); // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
	if (r) return r;
	return p_cuDeviceTotalMem(total, *dev);
}

static CUresult gf_ctx_retain(CUdevice dev, CUcontext *ctx) {
	CUresult r = p_cuDevicePrimaryCtxRetain(ctx, dev);
	if (r) return r;
	return p_cuCtxSetCurrent(*ctx);
}

static CUresult gf_ctx_release(CUdevice dev) { return p_cuDevicePrimaryCtxRelease(dev); }

static CUresult gf_sync(CUcontext ctx) {
	CUresult r = p_cuCtxSetCurrent(ctx);
	if (r) return r;
	return p_cuCtxSynchronize();
}

static CUresult gf_alloc(CUcontext ctx, CUdeviceptr *p, size_t n) {
	CUresult r = p_cuCtxSetCurrent(ctx);
	if (r) return r;
	return p_cuMemAlloc(p, n);
}

static CUresult gf_free(CUcontext ctx, CUdeviceptr p) {
	CUresult r = p_cuCtxSetCurrent(ctx);
	if (r) return r;
	return p_cuMemFree(p);
}

static CUresult gf_mem_info(CUcontext ctx, size_t *free, size_t *total) {
	CUresult r = p_cuCtxSetCurrent(ctx);
	if (r) return r;
	return p_cuMemGetInfo(free, total);
}

static CUresult gf_htod(CUcontext ctx, CUdeviceptr dst, const void *src, size_t n) {
	CUresult r = p_cuCtxSetCurrent(ctx);
	if (r) return r;
	return p_cuMemcpyHtoD(dst, src, n);
}

static CUresult gf_dtoh(CUcontext ctx, void *dst, CUdeviceptr src, size_t n) {
	CUresult r = p_cuCtxSetCurrent(ctx);
	if (r) return r;
	return p_cuMemcpyDtoH(dst, src, n);
}

static CUresult gf_dtod(CUcontext ctx, CUdeviceptr dst, CUdeviceptr src, size_t n) {
	CUresult r = p_cuCtxSetCurrent(ctx);
	if (r) return r;
	return p_cuMemcpyDtoDAsync(dst, src, n, NULL);
}

static CUresult gf_memset0(CUcontext ctx, CUdeviceptr dst, size_t n) {
	CUresult r = p_cuCtxSetCurrent(ctx);
	if (r) return r;
	return p_cuMemsetD8Async(dst, 0, n, NULL);
}

static CUresult gf_module_load(CUcontext ctx, CUmodule *m, const void *image) {
	CUresult r = p_cuCtxSetCurrent(ctx);
	if (r) return r;
	return p_cuModuleLoadData(m, image);
}

static CUresult gf_module_unload(CUcontext ctx, CUmodule m) {
	CUresult r = p_cuCtxSetCurrent(ctx);
	if (r) return r;
	return p_cuModuleUnload(m);
}

static CUresult gf_module_function(CUmodule m, const char *name, CUfunction *f) {
	return p_cuModuleGetFunction(f, m, name);
}

// gf_launch launches f with nargs parameters stored in blob at offsets
// offs (the values, in the kernel's parameter layout), on the context's
// legacy default stream; with sync set it waits for the kernel (debug
// mode, so that a failing kernel is named).
static CUresult gf_launch(CUcontext ctx, CUfunction f, unsigned gx, unsigned gy, unsigned bx, unsigned shmem,
                          char *blob, const int *offs, int nargs, int sync) {
	void *params[48];
	if (nargs > 48) return 1; // CUDA_ERROR_INVALID_VALUE
	for (int i = 0; i < nargs; i++) params[i] = blob + offs[i];
	CUresult r = p_cuCtxSetCurrent(ctx);
	if (r) return r;
	r = p_cuLaunchKernel(f, gx, gy, 1, bx, 1, 1, shmem, NULL, params, NULL);
	if (r == 0 && sync) r = p_cuCtxSynchronize();
	return r;
}

static int gf_cublas_create(CUcontext ctx, cublasHandle_t *h) {
	if (p_cuCtxSetCurrent(ctx)) return -1;
	return p_cublasCreate(h);
}

static int gf_cublas_destroy(CUcontext ctx, cublasHandle_t h) {
	if (p_cuCtxSetCurrent(ctx)) return -1;
	return p_cublasDestroy(h);
}

static int gf_cublas_math_mode(cublasHandle_t h, int mode) { return p_cublasSetMathMode(h, mode); }

// The GEMMs take row-major-agnostic column-major arguments (the Go side
// maps row-major products onto them).
static int gf_sgemm(CUcontext ctx, cublasHandle_t h, int ta, int tb, int m, int n, int k, float alpha,
                    CUdeviceptr a, int lda, CUdeviceptr b, int ldb, float beta, CUdeviceptr c, int ldc) {
	if (p_cuCtxSetCurrent(ctx)) return -1;
	return p_cublasSgemm(h, ta, tb, m, n, k, &alpha, (const float *)a, lda, (const float *)b, ldb, &beta, (float *)c, ldc);
}

static int gf_sgemm_strided(CUcontext ctx, cublasHandle_t h, int ta, int tb, int m, int n, int k, float alpha,
                            CUdeviceptr a, int lda, long long sa, CUdeviceptr b, int ldb, long long sb,
                            float beta, CUdeviceptr c, int ldc, long long sc, int count) {
	if (p_cuCtxSetCurrent(ctx)) return -1;
	return p_cublasSgemmStridedBatched(h, ta, tb, m, n, k, &alpha, (const float *)a, lda, sa, (const float *)b, ldb, sb,
	                                   &beta, (float *)c, ldc, sc, count);
}

static int gf_sgemm_batched(CUcontext ctx, cublasHandle_t h, int ta, int tb, int m, int n, int k, float alpha,
                            CUdeviceptr a, int lda, CUdeviceptr b, int ldb, float beta, CUdeviceptr c, int ldc, int count) {
	if (p_cuCtxSetCurrent(ctx)) return -1;
	return p_cublasSgemmBatched(h, ta, tb, m, n, k, &alpha, (const float *const *)a, lda, (const float *const *)b, ldb,
	                            &beta, (float *const *)c, ldc, count);
}

static int gf_gemm_ex(CUcontext ctx, cublasHandle_t h, int ta, int tb, int m, int n, int k, float alpha,
                      CUdeviceptr a, int atype, int lda, CUdeviceptr b, int btype, int ldb, float beta,
                      CUdeviceptr c, int ctype, int ldc, int compute) {
	if (p_cuCtxSetCurrent(ctx)) return -1;
	return p_cublasGemmEx(h, ta, tb, m, n, k, &alpha, (const void *)a, atype, lda, (const void *)b, btype, ldb,
	                      &beta, (void *)c, ctype, ldc, compute, -1); // CUBLAS_GEMM_DEFAULT
}

static nvrtcResult gf_nvrtc_version(int *major, int *minor) { return p_nvrtcVersion(major, minor); }

static const char *gf_nvrtc_error(nvrtcResult r) {
	const char *s = p_nvrtcGetErrorString ? p_nvrtcGetErrorString(r) : NULL;
	return s ? s : "unknown NVRTC error";
}

// gf_compile compiles src with the options and returns the CUBIN in
// *image (malloc'd, *size bytes) or the compiler log in *log (malloc'd).
static nvrtcResult gf_compile(const char *src, const char *name, int nopt, const char **opts,
                              char **image, size_t *size, char **log) {
	nvrtcProgram prog;
	*image = NULL;
	*log = NULL;
	nvrtcResult r = p_nvrtcCreateProgram(&prog, src, name, 0, NULL, NULL);
	if (r) return r;
	nvrtcResult cr = p_nvrtcCompileProgram(prog, nopt, opts);
	size_t n = 0;
	if (p_nvrtcGetProgramLogSize(prog, &n) == 0 && n > 1) {
		*log = malloc(n);
		if (*log && p_nvrtcGetProgramLog(prog, *log) != 0) {
			free(*log);
			*log = NULL;
		}
	}
	if (cr == 0) {
		cr = p_nvrtcGetCUBINSize(prog, size);
		if (cr == 0) {
			*image = malloc(*size);
			if (*image == NULL) {
				cr = 1; // NVRTC_ERROR_OUT_OF_MEMORY
			} else {
				cr = p_nvrtcGetCUBIN(prog, *image);
			}
		}
	}
	p_nvrtcDestroyProgram(&prog);
	return cr;
}
*/
import "C"

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"github.com/goformer/goformer/tensor"
)

// CUDA driver result codes the package tells apart.
const (
	cuSuccess           = 0
	cuErrOutOfMemory    = 2
	cuErrNotInitialized = 3
	cuErrNoDevice       = 100
	cuErrInvalidDevice  = 101
)

// cuError is a failed driver call.
type cuError struct {
	op   string
	code C.CUresult
}

func (e *cuError) Error() string {
	msg := C.GoString(C.gf_cu_error(e.code))
	if s := C.GoString(C.gf_cu_error_string(e.code)); s != "" {
		msg += " (" + s + ")"
	}
	return fmt.Sprintf("cuda: %s: %s", e.op, msg)
}

func (e *cuError) Unwrap() error {
	if e.code == cuErrOutOfMemory {
		return ErrOutOfMemory
	}
	return tensor.ErrDevice
}

// check returns nil for success, else a *cuError naming op.
func check(op string, r C.CUresult) error {
	if r == cuSuccess {
		return nil
	}
	return &cuError{op: op, code: r}
}

// A library the package loads: its sonames in order of preference, and
// the environment variable naming its file.
type library struct {
	what    string   // for messages
	names   []string // sonames, preferred first
	env     string   // variable holding the library's path
	toolkit bool     // searched in GOFORMER_CUDA_LIB_DIR and the toolkit directories
}

var (
	libDriver = library{"the NVIDIA driver", []string{"libcuda.so.1", "libcuda.so"}, "GOFORMER_CUDA_DRIVER", false}
	// cuBLASLt is loaded before cuBLAS from the same place, so that
	// cuBLAS's dependency on it is met even outside the linker's path.
	libCublasLt = library{"cuBLASLt", []string{"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"}, "GOFORMER_CUBLASLT", true}
	libCublas   = library{"cuBLAS", []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so"}, "GOFORMER_CUBLAS", true}
	libNVRTC    = library{"NVRTC", []string{"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"}, "GOFORMER_NVRTC", true}
)

// toolkitDirs are where CUDA toolkit libraries are looked for after the
// dynamic linker's own search: the usual installation directories.
func toolkitDirs() []string {
	dirs := []string{"/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/local/cuda/targets/sbsa-linux/lib"}
	for _, pat := range []string{"/usr/local/cuda-*/targets/x86_64-linux/lib", "/usr/local/cuda-*/targets/sbsa-linux/lib", "/usr/local/cuda-*/lib64"} {
		m, _ := filepath.Glob(pat)
		sort.Sort(sort.Reverse(sort.StringSlice(m))) // newest version first
		dirs = append(dirs, m...)
	}
	return append(dirs, "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib")
}

// candidates returns the files or sonames to try for lib, in order, and
// whether they are only those an override named. GOFORMER_CUDA_LIB_DIR
// (directories separated by ':') replaces the search for toolkit
// libraries; a library's own variable replaces everything.
func candidates(lib library, getenv func(string) string) (paths []string, override string) {
	if p := getenv(lib.env); p != "" {
		return []string{p}, lib.env + "=" + p
	}
	if dirs := getenv("GOFORMER_CUDA_LIB_DIR"); dirs != "" && lib.toolkit {
		for _, dir := range filepath.SplitList(dirs) {
			for _, n := range lib.names {
				paths = append(paths, filepath.Join(dir, n))
			}
		}
		return paths, "GOFORMER_CUDA_LIB_DIR=" + dirs
	}
	paths = append(paths, lib.names...) // the dynamic linker's search
	if lib.toolkit {
		for _, dir := range toolkitDirs() {
			for _, n := range lib.names {
				paths = append(paths, filepath.Join(dir, n))
			}
		}
	}
	return paths, ""
}

// open loads the first candidate of lib that exists; the error names the
// library and what was tried.
func open(lib library, getenv func(string) string, global bool) (unsafe.Pointer, string, error) {
	paths, override := candidates(lib, getenv)
	var first string
	for _, p := range paths {
		if strings.ContainsRune(p, '/') {
			if _, err := os.Stat(p); err != nil {
				continue
			}
		}
		cp := C.CString(p)
		h := C.gf_dlopen(cp, boolInt(global))
		C.free(unsafe.Pointer(cp))
		if h != nil {
			return h, p, nil
		}
		if msg := C.GoString(C.gf_dlerror()); first == "" && !strings.Contains(msg, "No such file") && !strings.Contains(msg, "cannot open shared object file") {
			first = msg // a library that exists but does not load
		}
	}
	where := "searched " + strings.Join(lib.names, ", ") + " on the dynamic linker's path"
	if lib.toolkit {
		where += " and the CUDA toolkit directories"
	}
	if override != "" {
		where = "searched " + strings.Join(paths, ", ") + " (" + override + ")"
	}
	msg := fmt.Sprintf("%s: %s (%s) not found: %s", ErrNotAvailable, lib.names[0], lib.what, where)
	if first != "" {
		msg += "; " + first
	}
	if lib.toolkit {
		msg += "; install the CUDA toolkit libraries or set GOFORMER_CUDA_LIB_DIR (or " + lib.env + ")"
	} else {
		msg += "; install the NVIDIA driver or set " + lib.env
	}
	return nil, "", &notAvailable{msg: msg}
}

// notAvailable is the error of a missing library, driver or device.
type notAvailable struct{ msg string }

func (e *notAvailable) Error() string { return e.msg }
func (e *notAvailable) Unwrap() error { return ErrNotAvailable }

func unavailable(format string, args ...any) error {
	return &notAvailable{msg: ErrNotAvailable.Error() + ": " + fmt.Sprintf(format, args...)}
}

func boolInt(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// libs records what loadLibraries found.
type libs struct {
	driver, cublas, nvrtc string // paths (for Info)
	driverVersion         int
	nvrtcMajor, nvrtcMin  int
}

var (
	loadMu   sync.Mutex
	loaded   *libs
	loadFail error
)

// loadLibraries loads and binds the driver, cuBLAS and NVRTC once per
// process (a failure is remembered too: the environment is read once).
func loadLibraries() (*libs, error) {
	loadMu.Lock()
	defer loadMu.Unlock()
	if loaded == nil && loadFail == nil {
		loaded, loadFail = load(os.Getenv)
	}
	return loaded, loadFail
}

// load finds, loads and binds the libraries, reading the environment
// through getenv, and initialises the driver.
func load(getenv func(string) string) (*libs, error) {
	l := &libs{}
	h, p, err := open(libDriver, getenv, false)
	if err != nil {
		return nil, err
	}
	if missing := C.gf_bind_driver(h); missing != nil {
		return nil, unavailable("%s (the NVIDIA driver at %s) lacks %s: the driver is too old", libDriver.names[0], p, C.GoString(missing))
	}
	l.driver = p
	if r := C.gf_init(); r != cuSuccess {
		if r == cuErrNoDevice {
			return nil, unavailable("no CUDA device: the driver (%s) reports none (%s)", p, C.GoString(C.gf_cu_error(r)))
		}
		return nil, unavailable("the NVIDIA driver (%s) did not initialise: %s %s", p, C.GoString(C.gf_cu_error(r)), C.GoString(C.gf_cu_error_string(r)))
	}
	var v C.int
	C.gf_driver_version(&v)
	l.driverVersion = int(v)

	lt, ltPath, err := open(libCublasLt, getenv, true)
	if err != nil {
		return nil, err
	}
	_ = lt
	// Prefer cuBLAS from the directory cuBLASLt came from (same version).
	blas := libCublas
	if getenv(libCublas.env) == "" && strings.ContainsRune(ltPath, '/') {
		dir := filepath.Dir(ltPath)
		suffix := strings.TrimPrefix(filepath.Base(ltPath), "libcublasLt")
		blas.names = append([]string{filepath.Join(dir, "libcublas"+suffix)}, blas.names...)
	}
	h, p, err = open(blas, getenv, false)
	if err != nil {
		return nil, err
	}
	if missing := C.gf_bind_cublas(h); missing != nil {
		return nil, unavailable("%s (cuBLAS at %s) lacks %s", libCublas.names[0], p, C.GoString(missing))
	}
	l.cublas = p

	h, p, err = open(libNVRTC, getenv, false)
	if err != nil {
		return nil, err
	}
	if missing := C.gf_bind_nvrtc(h); missing != nil {
		return nil, unavailable("%s (NVRTC at %s) lacks %s", libNVRTC.names[0], p, C.GoString(missing))
	}
	l.nvrtc = p
	// NVRTC loads its builtins library at compile time: load it now from
	// NVRTC's own directory, so that it is found outside the linker's path.
	sym := C.CString("nvrtcVersion")
	if src := C.gf_path(h, sym); src != nil {
		dir := filepath.Dir(C.GoString(src))
		if m, _ := filepath.Glob(filepath.Join(dir, "libnvrtc-builtins.so*")); len(m) > 0 {
			sort.Sort(sort.Reverse(sort.StringSlice(m)))
			for _, f := range m {
				cf := C.CString(f)
				ok := C.gf_dlopen(cf, 1) != nil
				C.free(unsafe.Pointer(cf))
				if ok {
					break
				}
			}
		}
	}
	C.free(unsafe.Pointer(sym))
	var maj, mnr C.int
	if r := C.gf_nvrtc_version(&maj, &mnr); r != 0 {
		return nil, unavailable("NVRTC (%s) does not work: %s", p, C.GoString(C.gf_nvrtc_error(r)))
	}
	l.nvrtcMajor, l.nvrtcMin = int(maj), int(mnr)
	return l, nil
}

// deviceInfo describes one GPU.
type deviceInfo struct {
	dev          C.CUdevice
	name         string
	major, minor int
	total        int64
}

func deviceCount() (int, error) {
	var n C.int
	if err := check("cuDeviceGetCount", C.gf_device_count(&n)); err != nil {
		return 0, err
	}
	return int(n), nil
}

func getDevice(ordinal int) (deviceInfo, error) {
	var info deviceInfo
	var name [256]C.char
	var major, minor C.int
	var total C.size_t
	if err := check("cuDeviceGet", C.gf_device(C.int(ordinal), &info.dev, &name[0], C.int(len(name)), &major, &minor, &total)); err != nil {
		return info, err
	}
	info.name = C.GoString(&name[0])
	info.major, info.minor, info.total = int(major), int(minor), int64(total)
	return info, nil
}

// ctx is a device's primary context.
type ctx struct {
	c   C.CUcontext
	dev C.CUdevice
}

func retainContext(dev C.CUdevice) (ctx, error) {
	var c C.CUcontext
	if err := check("cuDevicePrimaryCtxRetain", C.gf_ctx_retain(dev, &c)); err != nil {
		return ctx{}, err
	}
	return ctx{c: c, dev: dev}, nil
}

func (c ctx) release() error { return check("cuDevicePrimaryCtxRelease", C.gf_ctx_release(c.dev)) }

func (c ctx) sync() error { return check("cuCtxSynchronize", C.gf_sync(c.c)) }

func (c ctx) memAlloc(n int64) (uintptr, error) {
	var p C.CUdeviceptr
	if err := check("cuMemAlloc", C.gf_alloc(c.c, &p, C.size_t(n))); err != nil {
		return 0, err
	}
	return uintptr(p), nil
}

func (c ctx) memFree(p uintptr) error {
	return check("cuMemFree", C.gf_free(c.c, C.CUdeviceptr(p)))
}

func (c ctx) memInfo() (free, total int64, err error) {
	var f, t C.size_t
	err = check("cuMemGetInfo", C.gf_mem_info(c.c, &f, &t))
	return int64(f), int64(t), err
}

// htod copies n bytes of host memory src to device address dst.
func (c ctx) htod(dst uintptr, src unsafe.Pointer, n int) error {
	if n == 0 {
		return nil
	}
	return check("cuMemcpyHtoD", C.gf_htod(c.c, C.CUdeviceptr(dst), src, C.size_t(n)))
}

// dtoh copies n bytes from device address src into host memory dst,
// waiting for the work queued before it.
func (c ctx) dtoh(dst unsafe.Pointer, src uintptr, n int) error {
	if n == 0 {
		return nil
	}
	return check("cuMemcpyDtoH", C.gf_dtoh(c.c, dst, C.CUdeviceptr(src), C.size_t(n)))
}

func (c ctx) dtod(dst, src uintptr, n int) error {
	if n == 0 {
		return nil
	}
	return check("cuMemcpyDtoDAsync", C.gf_dtod(c.c, C.CUdeviceptr(dst), C.CUdeviceptr(src), C.size_t(n)))
}

func (c ctx) memsetZero(dst uintptr, n int) error {
	if n == 0 {
		return nil
	}
	return check("cuMemsetD8Async", C.gf_memset0(c.c, C.CUdeviceptr(dst), C.size_t(n)))
}

// module is a loaded CUBIN.
type module struct{ m C.CUmodule }

func (c ctx) loadModule(image []byte) (module, error) {
	var m C.CUmodule
	err := check("cuModuleLoadData", C.gf_module_load(c.c, &m, unsafe.Pointer(&image[0])))
	return module{m}, err
}

func (c ctx) unloadModule(m module) error {
	return check("cuModuleUnload", C.gf_module_unload(c.c, m.m))
}

type function struct{ f C.CUfunction }

func (m module) function(name string) (function, error) {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	var f C.CUfunction
	err := check("cuModuleGetFunction "+name, C.gf_module_function(m.m, cn, &f))
	return function{f}, err
}

// launch runs f on a grid of gx×gy blocks of bx threads with the
// parameters p.
func (c ctx) launch(f function, gx, gy, bx, shmem int, p *params, sync bool) C.CUresult {
	return C.gf_launch(c.c, f.f, C.uint(gx), C.uint(gy), C.uint(bx), C.uint(shmem),
		(*C.char)(unsafe.Pointer(&p.buf[0])), (*C.int)(unsafe.Pointer(&p.offs[0])), C.int(p.n), boolInt(sync))
}

// cuBLAS.

type blasHandle struct{ h C.cublasHandle_t }

// blasError is a failed cuBLAS call.
type blasError struct {
	op     string
	status int
}

func (e *blasError) Error() string {
	name := map[int]string{1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED", 7: "CUBLAS_STATUS_INVALID_VALUE",
		8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR", 13: "CUBLAS_STATUS_EXECUTION_FAILED",
		14: "CUBLAS_STATUS_INTERNAL_ERROR", 15: "CUBLAS_STATUS_NOT_SUPPORTED", 16: "CUBLAS_STATUS_LICENSE_ERROR", -1: "cuCtxSetCurrent failed"}[e.status]
	if name == "" {
		name = fmt.Sprintf("status %d", e.status)
	}
	return fmt.Sprintf("cuda: %s: %s", e.op, name)
}

func (e *blasError) Unwrap() error {
	if e.status == 3 {
		return ErrOutOfMemory
	}
	return tensor.ErrDevice
}

func blasCheck(op string, s C.int) error {
	if s == 0 {
		return nil
	}
	return &blasError{op: op, status: int(s)}
}

func (c ctx) blasCreate() (blasHandle, error) {
	var h C.cublasHandle_t
	err := blasCheck("cublasCreate", C.gf_cublas_create(c.c, &h))
	return blasHandle{h}, err
}

func (c ctx) blasDestroy(h blasHandle) error {
	return blasCheck("cublasDestroy", C.gf_cublas_destroy(c.c, h.h))
}

func (h blasHandle) setMathMode(mode int) error {
	return blasCheck("cublasSetMathMode", C.gf_cublas_math_mode(h.h, C.int(mode)))
}

// cuBLAS enumerations.
const (
	opN = 0
	opT = 1

	cudaR32F  = 0
	cudaR16F  = 2
	cudaR16BF = 14

	computeF32 = 68

	mathDefault = 0
	mathTF32    = 3
)

func (c ctx) sgemm(h blasHandle, ta, tb, m, n, k int, alpha float32, a uintptr, lda int, b uintptr, ldb int, beta float32, cc uintptr, ldc int) error {
	return blasCheck("cublasSgemm", C.gf_sgemm(c.c, h.h, C.int(ta), C.int(tb), C.int(m), C.int(n), C.int(k), C.float(alpha),
		C.CUdeviceptr(a), C.int(lda), C.CUdeviceptr(b), C.int(ldb), C.float(beta), C.CUdeviceptr(cc), C.int(ldc)))
}

func (c ctx) sgemmStrided(h blasHandle, ta, tb, m, n, k int, alpha float32, a uintptr, lda int, sa int64, b uintptr, ldb int, sb int64, beta float32, cc uintptr, ldc int, sc int64, count int) error {
	return blasCheck("cublasSgemmStridedBatched", C.gf_sgemm_strided(c.c, h.h, C.int(ta), C.int(tb), C.int(m), C.int(n), C.int(k), C.float(alpha),
		C.CUdeviceptr(a), C.int(lda), C.longlong(sa), C.CUdeviceptr(b), C.int(ldb), C.longlong(sb), C.float(beta),
		C.CUdeviceptr(cc), C.int(ldc), C.longlong(sc), C.int(count)))
}

// sgemmBatched takes device arrays of count matrix addresses.
func (c ctx) sgemmBatched(h blasHandle, ta, tb, m, n, k int, alpha float32, a uintptr, lda int, b uintptr, ldb int, beta float32, cc uintptr, ldc int, count int) error {
	return blasCheck("cublasSgemmBatched", C.gf_sgemm_batched(c.c, h.h, C.int(ta), C.int(tb), C.int(m), C.int(n), C.int(k), C.float(alpha),
		C.CUdeviceptr(a), C.int(lda), C.CUdeviceptr(b), C.int(ldb), C.float(beta), C.CUdeviceptr(cc), C.int(ldc), C.int(count)))
}

func (c ctx) gemmEx(h blasHandle, ta, tb, m, n, k int, alpha float32, a uintptr, atype, lda int, b uintptr, btype, ldb int, beta float32, cc uintptr, ctype, ldc, compute int) error {
	return blasCheck("cublasGemmEx", C.gf_gemm_ex(c.c, h.h, C.int(ta), C.int(tb), C.int(m), C.int(n), C.int(k), C.float(alpha),
		C.CUdeviceptr(a), C.int(atype), C.int(lda), C.CUdeviceptr(b), C.int(btype), C.int(ldb), C.float(beta),
		C.CUdeviceptr(cc), C.int(ctype), C.int(ldc), C.int(compute)))
}

// compile compiles CUDA C source with NVRTC for compute capability
// major.minor and returns the CUBIN.
func compile(src, name string, major, minor int) ([]byte, error) {
	opts := []string{
		fmt.Sprintf("--gpu-architecture=sm_%d%d", major, minor),
		"--std=c++17",
		"-default-device",
	}
	copts := make([]*C.char, len(opts))
	for i, o := range opts {
		copts[i] = C.CString(o)
	}
	csrc, cname := C.CString(src), C.CString(name)
	defer func() {
		for _, o := range copts {
			C.free(unsafe.Pointer(o))
		}
		C.free(unsafe.Pointer(csrc))
		C.free(unsafe.Pointer(cname))
	}()
	// copts is Go memory holding C pointers only: allowed.
	var image, log *C.char
	var size C.size_t
	r := C.gf_compile(csrc, cname, C.int(len(opts)), &copts[0], &image, &size, &log)
	var logText string
	if log != nil {
		logText = strings.TrimSpace(C.GoString(log))
		C.free(unsafe.Pointer(log))
	}
	if r != 0 {
		if image != nil {
			C.free(unsafe.Pointer(image))
		}
		return nil, fmt.Errorf("%w: cuda: compiling the kernels with NVRTC for sm_%d%d: %s\n%s", tensor.ErrDevice, major, minor, C.GoString(C.gf_nvrtc_error(r)), logText)
	}
	out := C.GoBytes(unsafe.Pointer(image), C.int(size))
	C.free(unsafe.Pointer(image))
	return out, nil
}
