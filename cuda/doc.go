// Package cuda is goformer's CUDA backend: a tensor.Device whose tensors
// live in the memory of an NVIDIA GPU and whose operations (every method
// of tensor.Backend) run there.
//
// It exists only in builds with the build tag cuda:
//
//	go build -tags cuda ./...
//
// Without the tag (the default, pure Go) Open returns an error wrapping
// ErrNotAvailable that says so. With it, the package uses cgo but needs no
// CUDA headers or libraries to build: the driver API (libcuda.so.1), cuBLAS
// (libcublas.so.13 with libcublasLt.so.13, or .so.12) and NVRTC
// (libnvrtc.so.13, or .so.12) are loaded with dlopen at the first Open,
// from the dynamic linker's path and the usual CUDA toolkit directories
// (/usr/local/cuda/lib64, /usr/local/cuda-*/targets/*/lib, ...). The
// environment overrides the search: GOFORMER_CUDA_DRIVER names the driver
// library's file; GOFORMER_CUDA_LIB_DIR (directories separated by ':')
// replaces the search for the toolkit libraries; GOFORMER_CUBLAS,
// GOFORMER_CUBLASLT and GOFORMER_NVRTC name their files. Anything missing
// — a library, the driver, a device — is one error wrapping
// ErrNotAvailable that names it.
//
// # Using it
//
//	d, err := cuda.Open(0) // "cuda:0"
//	if err != nil { ... }
//	defer cuda.Close(d)
//	x, err := d.FromHost(data, 1, 1500, 1280) // upload
//	y, err := tensor.Linear(x, w, b)          // runs on the GPU
//	h, err := tensor.HostData(y)              // download
//
// Each device retains its GPU's primary context and has its own loaded
// kernels, cuBLAS handle and caching allocator; several devices (of one
// GPU or of several) work in one process, their tensors do not mix, and a
// device is safe for concurrent use. All of a device's work runs in order
// on the context's default stream.
//
// # Memory
//
// Device memory comes from a caching allocator: blocks freed by
// tensor.Release return to free lists by size class and are reused
// without calling the driver. Weights packed on the device (PackWeightAs,
// PackWeightHalfOn) go back to the driver when freed with PackedB.Free,
// which a model's Close calls for every weight it packed; packed keys and
// values (PackKV) go back to the cache with PackedKV.Free, once no
// reordered copy (PackedKV.Reorder) refers to them. Freeing twice does
// nothing. Packed weights and keys/values dropped without Free are freed
// when garbage collected. Device tensors are not seen by the garbage
// collector: an intermediate that is not released stays allocated until
// Close of the device, which frees all of the device's memory (release
// intermediates, as package nn does). An allocation that fails even after
// the cache is handed back to the driver is an error wrapping
// ErrOutOfMemory; the device remains usable. Operations of tensor.Backend
// without an error result (Clone, Scale, Activate, Zeros, ArgmaxRows)
// panic with such an error, as the tensor package's device operations do.
//
// # Precision
//
// By default every product runs in float32 (cuBLAS SGEMM): F16 and BF16
// weights stay 16-bit in device memory and are widened exactly, as the
// host does — products with up to 32 rows (decoding) read them directly
// in a GEMV kernel, larger ones widen the weight into scratch memory for
// SGEMM. Options.TensorCores instead rounds activations to the weight's
// 16-bit type and multiplies on tensor cores (FP32 accumulation), and
// lets float32 products use TF32. Activations are computed in float64 as
// the host's formulas are; softmax and layer norm accumulate in float64.
// Int8 weights (tensor.WeightQ8) are not supported on cuda (ErrUnsupported).
//
// # Kernels
//
// The kernels are CUDA C in this package (kernels.go), compiled once per
// process and GPU architecture with NVRTC when a device is opened, and
// launched with cuLaunchKernel. They cover every operation of
// tensor.Backend, the family operations of tensor.ModelOps included
// (bicubic resizing, the channel norms of wav2vec2, RMS norm, rotary
// embeddings, the gated product): those follow their host kernels step
// for step, rounding each operation as the host does (the _rn intrinsics
// keep products and sums from fusing into FMAs), so that they agree with
// the host bit for bit where the order of a sum is the same. Setting
// GOFORMER_CUDA_SYNC=1 (or Options.Sync) waits for every kernel and
// cuBLAS call, so that an error names the kernel that caused it.
//
// # Testing
//
// The tests compare every Backend operation on the device with the host
// kernels (parity_test.go and models_test.go document the bounds). Where
// no GPU is present they skip, saying why, unless GOFORMER_REQUIRE_CUDA=1.
// Two checks run without a GPU: testdata/fakecuda/run.sh runs all of the
// tests against CPU stand-ins for the driver, cuBLAS and NVRTC that
// execute this package's own kernels (built with g++), and
// testdata/fakecuda/ptxcheck.sh compiles the kernels to PTX with clang's
// CUDA front end. Whole models are compared with the host by the root
// package's TestGPUMatchesHost, which runs on the device named by
// GOFORMER_TEST_DEVICE (default cuda:0): every fixture's tasks, greedy
// and beam ids and texts identical, floats within 1e-4 normwise, in
// float32 and F16 weights, device memory back after Close. It runs on the
// stand-ins too (slowly), from the root of the checkout:
//
//	d=$(cuda/testdata/fakecuda/build.sh)
//	GOFORMER_CUDA_DRIVER=$d/libcuda.so.1 GOFORMER_CUDA_LIB_DIR=$d \
//	    go test -tags cuda -run TestGPUMatchesHost .
//
// # The device check
//
// On a machine with Go (no GPU needed), from the root of the checkout:
//
//	cuda/devicecheck.sh           # PART=1 (the default), 2 or 3
//
// builds the cuda-tagged test binaries (this package's tests and
// benchmarks, the root package's TestGPUMatchesHost, the model
// benchmarks BenchmarkCUDA_* of vit, clip and whisper at the real configs
// with random weights) into devicecheck/ (ignored by git), copies the
// shared test data they read there, and writes devicecheck/run.sh. What
// travels to the GPU machine is limited to 64 MiB, so the fixtures are
// split into three parts (see the script). On the GPU machine, from the
// root of the checkout that carries devicecheck/ — the device tool's
// run with carry ["devicecheck"] —
//
//	bash devicecheck/run.sh
//
// runs every test with GOFORMER_REQUIRE_CUDA=1 and every benchmark, and
// prints a summary: failures, whole-model parity per fixture and weight
// type, the largest measured differences against the host, and the
// benchmark table of issue 20; full logs go to $OUT (or devicecheck/logs).
// RUN, BENCH and BENCHTIME narrow it. Parts 2 and 3 (PART=2
// cuda/devicecheck.sh, then the same run) check the remaining fixtures.
package cuda
