#!/usr/bin/env bash
# Runs the cuda package's tests against the CPU stand-ins for the CUDA
# libraries (see README.md); extra arguments go to go test.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
"$here/build.sh" "$dir" >/dev/null
cd "$here/../../.."
GOFORMER_CUDA_DRIVER="$dir/libcuda.so.1" GOFORMER_CUDA_LIB_DIR="$dir" GOFORMER_REQUIRE_CUDA=1 \
  go test -tags cuda "$@" ./cuda
