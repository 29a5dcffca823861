#!/usr/bin/env bash
# Compiles the cuda package's kernels to PTX with clang's CUDA front end
# (no CUDA toolkit needed: ptxcheck_prelude.h declares the few builtins
# NVRTC provides), as a check that the source is valid CUDA C++ for a
# CUDA compiler (device attributes, inline PTX, shared memory) beyond what
# the host build of build.sh sees. Needs clang (CLANG, default clang-14).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
clang="${CLANG:-clang-14}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
awk '/^const kernelSource = `/{on=1; next} on && /^`/{exit} on{print}' "$here/../../kernels.go" > "$dir/kernels.cu"
"$clang" -x cuda --cuda-device-only -nocudainc -nocudalib --cuda-gpu-arch=sm_80 -Xclang -target-feature -Xclang +ptx70 \
  -std=c++17 -O2 -S -Wall -Werror -Wno-unknown-pragmas -include "$here/ptxcheck_prelude.h" -D__CUDACC_RTC__ \
  "$dir/kernels.cu" -o "$dir/kernels.ptx"
entries=$(grep -c '\.entry' "$dir/kernels.ptx")
if grep -q '\.local' "$dir/kernels.ptx"; then
  echo "ptxcheck: a kernel uses local memory (spilled arrays):" >&2
  grep -B2 '\.local' "$dir/kernels.ptx" >&2
  exit 1
fi
echo "ptxcheck: $entries kernels compile to PTX (sm_80) with $clang, no local memory"
