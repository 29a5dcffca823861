// nvrtc.cpp: a stand-in for NVRTC that compiles nothing (the fake driver
// has the kernels built in). Test scaffolding only: see README.md.
#include <cstring>

extern "C" {

typedef int nvrtcResult;
static int progToken;

nvrtcResult nvrtcVersion(int *major, int *minor) { *major = 13; *minor = 0; return 0; }
nvrtcResult nvrtcCreateProgram(void **p, const char *src, const char *, int, const char *const *, const char *const *) {
	if (!src || !strstr(src, "extern \"C\"")) return 3;  // NVRTC_ERROR_INVALID_INPUT
	*p = &progToken;
	return 0;
}
nvrtcResult nvrtcDestroyProgram(void **p) { *p = 0; return 0; }
nvrtcResult nvrtcCompileProgram(void *, int n, const char *const *opts) {
	for (int i = 0; i < n; i++) {
		if (strncmp(opts[i], "--gpu-architecture=sm_90", 24) == 0) return 0;
	}
	return 5;  // NVRTC_ERROR_INVALID_OPTION: the fake device is sm_90
}
nvrtcResult nvrtcGetProgramLogSize(void *, size_t *n) { *n = 1; return 0; }
nvrtcResult nvrtcGetProgramLog(void *, char *log) { log[0] = 0; return 0; }
nvrtcResult nvrtcGetCUBINSize(void *, size_t *n) { *n = 16; return 0; }
nvrtcResult nvrtcGetCUBIN(void *, char *img) { memcpy(img, "fakecuda cubin\0", 16); return 0; }
const char *nvrtcGetErrorString(nvrtcResult r) { return r ? "NVRTC error (fake)" : "NVRTC_SUCCESS"; }

}  // extern "C"
