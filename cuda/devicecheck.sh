#!/usr/bin/env bash
# The device check of the CUDA backend (see the cuda package doc).
#
# On a machine with Go (no GPU, no CUDA needed) it builds the cuda-tagged
# test binaries of $PACKAGES into devicecheck/ at the root of the checkout
# (ignored by git), copies the shared test data they need ($DATA, paths
# under ../shared) into devicecheck/shared, and writes devicecheck/run.sh.
# On the GPU machine, `bash devicecheck/run.sh` runs every test (parity
# against the host kernels, GOFORMER_REQUIRE_CUDA=1 so nothing skips for
# want of a device) and every benchmark, printing a summary; full logs go
# to $OUT (the device tool's output folder) or devicecheck/logs.
#
# What travels with the device tool is limited to 64 MiB: the script
# fails when devicecheck/ is larger.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="$root/devicecheck"

# Packages whose tests and benchmarks run on the GPU: the backend, and the
# model families as their device tests land (e.g. "./cuda ./whisper").
PACKAGES="${PACKAGES:-./cuda}"
# Test data those tests read, as paths under ../shared (for example
# "fixtures/whisper vocab/gpt2"); found there by GOFORMER_TESTDATA.
DATA="${DATA:-}"
limit=$((64 << 20))

rm -rf "$out"
mkdir -p "$out"
names=()
for pkg in $PACKAGES; do
  name="$(echo "${pkg#./}" | tr / _)"
  names+=("$name")
  mkdir -p "$out/$name"
  echo "devicecheck: building $pkg"
  CGO_ENABLED=1 go test -c -tags cuda -ldflags='-s -w' -o "$out/$name/$name.test" "$pkg"
  # Tests that read their package's testdata run from a copy of it
  # (the CUDA emulation sources of cuda/testdata are not needed).
  if [ -d "$pkg/testdata" ] && [ "$pkg" != "./cuda" ]; then
    cp -r "$pkg/testdata" "$out/$name/testdata"
  fi
done
shared="$root/../shared"
for p in $DATA; do
  if [ ! -e "$shared/$p" ]; then
    echo "devicecheck: test data $shared/$p is missing" >&2
    exit 1
  fi
  mkdir -p "$out/shared/$(dirname "$p")"
  cp -r "$shared/$p" "$out/shared/$p"
done

cat > "$out/run.sh" <<RUN
#!/usr/bin/env bash
# Written by cuda/devicecheck.sh: runs the CUDA device check on a GPU
# machine (from the checkout's root or anywhere). RUN and BENCH select
# tests and benchmarks (go test -run/-bench patterns), BENCHTIME their time.
set -uo pipefail
here="\$(cd "\$(dirname "\$0")" && pwd)"
logs="\${OUT:-\$here/logs}"
mkdir -p "\$logs"
export GOFORMER_REQUIRE_CUDA=1
[ -d "\$here/shared" ] && export GOFORMER_TESTDATA="\$here/shared"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
status=0
for name in ${names[*]}; do
  cd "\$here/\$name"
  echo "== \$name: tests"
  if ./\$name.test -test.v -test.count=1 -test.timeout=20m -test.run="\${RUN:-.}" > "\$logs/\$name.tests.log" 2>&1; then
    echo "PASS"
  else
    echo "FAIL (log: \$logs/\$name.tests.log)"; status=1
  fi
  grep -m1 -o 'cuda:0 (.*' "\$logs/\$name.tests.log"
  grep -E '^(--- FAIL|--- SKIP|panic|fatal)' "\$logs/\$name.tests.log" | head -40
  grep -E -A3 '^--- FAIL' "\$logs/\$name.tests.log" | grep -v '^--- FAIL' | head -40
  echo "passed \$(grep -c '^--- PASS' "\$logs/\$name.tests.log"), failed \$(grep -c '^--- FAIL' "\$logs/\$name.tests.log"), skipped \$(grep -c '^--- SKIP' "\$logs/\$name.tests.log")"
  if grep -q 'max|Δ|/max|want|' "\$logs/\$name.tests.log"; then
    echo "largest measured differences (max|Δ|/max|want|, bound):"
    grep -o '[A-Za-z].*max|Δ|/max|want| = .*' "\$logs/\$name.tests.log" | sed 's/ *max|Δ|\/max|want| = / /' |
      awk '{v=\$(NF-2); print v "\t" \$0}' | sort -g -r | head -15 | cut -f2-
  fi
  echo "== \$name: benchmarks"
  ./\$name.test -test.run='^\$' -test.bench="\${BENCH:-.}" -test.benchtime="\${BENCHTIME:-1s}" -test.timeout=20m > "\$logs/\$name.bench.log" 2>&1 || { echo "benchmarks FAILED"; status=1; }
  grep -E '^(Benchmark|--- FAIL|panic)' "\$logs/\$name.bench.log" | sed -E 's/^(Benchmark[^ ]*)-[0-9]+ /\1 /'
done
exit \$status
RUN
chmod +x "$out/run.sh"

size=$(du -sb "$out" | cut -f1)
if [ "$size" -gt "$limit" ]; then
  echo "devicecheck: $out is $((size >> 20)) MiB, over the 64 MiB that travel" >&2
  exit 1
fi
echo "devicecheck: $out ready ($((size >> 20)) MiB): run 'bash devicecheck/run.sh' on the GPU machine (device tool: carry [\"devicecheck\"])"
