#!/usr/bin/env bash
# Builds the fake CUDA libraries into $1 (default: a fresh temporary
# directory) and prints that directory. Needs g++ (C++20). See README.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$(mktemp -d)}"
mkdir -p "$out"
# The kernels: the body of the kernelSource constant of kernels.go.
awk '/^const kernelSource = `/{on=1; next} on && /^`/{exit} on{print}' "$here/../../kernels.go" > "$out/kernels.cu"
if ! grep -q 'attention_bf16' "$out/kernels.cu"; then
  echo "fakecuda: could not extract kernelSource from kernels.go" >&2; exit 1
fi
flags=(-std=c++20 -U_FORTIFY_SOURCE -O1 -g -fPIC -shared -pthread -Wall -Wno-unknown-pragmas -Wno-unused-function -Wno-narrowing -Wno-sign-compare)
g++ "${flags[@]}" -I"$here" -I"$out" -include "$here/emu.h" -o "$out/libcuda.so.1" "$here/driver.cpp"
g++ "${flags[@]}" -o "$out/libcublas.so.13" "$here/cublas.cpp"
g++ "${flags[@]}" -o "$out/libcublasLt.so.13" -x c++ /dev/null
g++ "${flags[@]}" -o "$out/libnvrtc.so.13" "$here/nvrtc.cpp"
echo "$out"
