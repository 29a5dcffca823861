// cublas.cpp: a CPU reference for the cuBLAS calls goformer's cuda
// package makes (column-major, cuBLAS's argument rules enforced). Test
// scaffolding only: see README.md.
#include <cstdio>
#include <cstring>

extern "C" {

typedef int cublasStatus_t;
enum { OK = 0, INVALID_VALUE = 7, NOT_SUPPORTED = 15 };
static int handleToken;

cublasStatus_t cublasCreate_v2(void **h) { *h = &handleToken; return OK; }
cublasStatus_t cublasDestroy_v2(void *h) { return h == &handleToken ? OK : INVALID_VALUE; }
cublasStatus_t cublasSetMathMode(void *, int mode) { return mode == 0 || mode == 3 ? OK : INVALID_VALUE; }

static float half(const void *p, long long i, int type) {
	unsigned short h;
	memcpy(&h, (const unsigned short *)p + i, 2);
	if (type == 14) {
		unsigned u = (unsigned)h << 16;
		float f;
		memcpy(&f, &u, 4);
		return f;
	}
	_Float16 x;
	memcpy(&x, &h, 2);
	return (float)x;
}

static float at(const void *p, long long i, int type) {
	return type == 0 ? ((const float *)p)[i] : half(p, i, type);
}

// gemm is C = alpha·op(A)·op(B) + beta·C, column-major.
static cublasStatus_t gemm(const char *who, int ta, int tb, int m, int n, int k, float alpha, const void *a, int atype, int lda,
                           const void *b, int btype, int ldb, float beta, float *c, int ldc) {
	if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1) || m < 0 || n < 0 || k < 0 ||
	    lda < (ta == 0 ? (m > 1 ? m : 1) : (k > 1 ? k : 1)) ||
	    ldb < (tb == 0 ? (k > 1 ? k : 1) : (n > 1 ? n : 1)) ||
	    ldc < (m > 1 ? m : 1)) {
		fprintf(stderr, "fakecuda: %s: invalid arguments ta=%d tb=%d m=%d n=%d k=%d lda=%d ldb=%d ldc=%d\n", who, ta, tb, m, n, k, lda, ldb, ldc);
		return INVALID_VALUE;
	}
	for (int j = 0; j < n; j++) {
		for (int i = 0; i < m; i++) {
			double s = 0;
			for (int p = 0; p < k; p++) {
				float x = ta == 0 ? at(a, i + (long long)p * lda, atype) : at(a, p + (long long)i * lda, atype);
				float y = tb == 0 ? at(b, p + (long long)j * ldb, btype) : at(b, j + (long long)p * ldb, btype);
				s += (double)x * y;
			}
			float *cp = c + i + (long long)j * ldc;
			*cp = beta == 0 ? alpha * (float)s : alpha * (float)s + beta * *cp;
		}
	}
	return OK;
}

cublasStatus_t cublasSgemm_v2(void *, int ta, int tb, int m, int n, int k, const float *alpha, const float *a, int lda,
                              const float *b, int ldb, const float *beta, float *c, int ldc) {
	return gemm("cublasSgemm", ta, tb, m, n, k, *alpha, a, 0, lda, b, 0, ldb, *beta, c, ldc);
}

cublasStatus_t cublasSgemmStridedBatched(void *, int ta, int tb, int m, int n, int k, const float *alpha, const float *a, int lda,
                                         long long sa, const float *b, int ldb, long long sb, const float *beta, float *c, int ldc,
                                         long long sc, int count) {
	if (count < 0) return INVALID_VALUE;
	for (int i = 0; i < count; i++) {
		cublasStatus_t s = gemm("cublasSgemmStridedBatched", ta, tb, m, n, k, *alpha, a + i * sa, 0, lda, b + i * sb, 0, ldb, *beta, c + i * sc, ldc);
		if (s) return s;
	}
	return OK;
}

cublasStatus_t cublasSgemmBatched(void *, int ta, int tb, int m, int n, int k, const float *alpha, const float *const a[], int lda,
                                  const float *const b[], int ldb, const float *beta, float *const c[], int ldc, int count) {
	if (count < 0) return INVALID_VALUE;
	for (int i = 0; i < count; i++) {
		cublasStatus_t s = gemm("cublasSgemmBatched", ta, tb, m, n, k, *alpha, a[i], 0, lda, b[i], 0, ldb, *beta, c[i], ldc);
		if (s) return s;
	}
	return OK;
}

cublasStatus_t cublasGemmEx(void *, int ta, int tb, int m, int n, int k, const void *alpha, const void *a, int atype, int lda,
                            const void *b, int btype, int ldb, const void *beta, void *c, int ctype, int ldc, int compute, int algo) {
	if (ctype != 0 || compute != 68 || algo != -1 || atype != btype || (atype != 0 && atype != 2 && atype != 14)) {
		fprintf(stderr, "fakecuda: cublasGemmEx: unsupported types A %d B %d C %d compute %d algo %d\n", atype, btype, ctype, compute, algo);
		return NOT_SUPPORTED;
	}
	return gemm("cublasGemmEx", ta, tb, m, n, k, *(const float *)alpha, a, atype, lda, b, btype, ldb, *(const float *)beta, (float *)c, ldc);
}

}  // extern "C"
