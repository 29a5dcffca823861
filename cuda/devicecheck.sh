#!/usr/bin/env bash
# The device check of the CUDA backend (see the cuda package doc).
#
# On a machine with Go (no GPU, no CUDA needed), from anywhere in the
# checkout:
#
#   cuda/devicecheck.sh            # part 1 (PART=1)
#
# builds cuda-tagged test binaries into devicecheck/ at the root of the
# checkout (ignored by git), copies the shared test data they read into
# devicecheck/shared, and writes devicecheck/run.sh. On the GPU machine,
# from the root of the checkout that carries devicecheck/ (the device
# tool: carry ["devicecheck"]):
#
#   bash devicecheck/run.sh
#
# runs the tests (GOFORMER_REQUIRE_CUDA=1: nothing skips for want of a
# device) and the benchmarks, and prints a summary: failures, whole-model
# parity against the host, the largest measured differences, and the
# benchmark table of issue 20. Full logs go to $OUT (the device tool's
# output folder) or devicecheck/logs.
#
# What travels with the device tool is limited to 64 MiB, the tracked
# files of the checkout included, and the fixture models alone are larger:
# the check comes in parts, each a device call of its own.
#   PART=1  the backend's tests and benchmarks (./cuda), the model
#           benchmarks (ViT-B/16, CLIP B/32, Whisper-base at their real
#           configs, random weights) and whole-model parity on the fixtures
#           vit clip wav2vec2 hubert llava blip2;
#   PART=2  whole-model parity on whisper blip-caption;
#   PART=3  whole-model parity on blip-vqa vit-gpt2.
# FIXTURES overrides a part's fixtures; RUN, BENCH and BENCHTIME narrow
# what run.sh runs (go test -run/-bench patterns, -benchtime).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="$root/devicecheck"
part="${PART:-1}"

# Each entry: package;tests to run;benchmarks to run (go test patterns;
# ^$ runs none).
gpu_parity='.;^(TestGPUMatchesHost|TestResultComparison)$;^$'
case "$part" in
1)
  entries=("./cuda;.;." "$gpu_parity" './vit;^$;^BenchmarkCUDA_' './clip;^$;^BenchmarkCUDA_' './whisper;^$;^BenchmarkCUDA_')
  fixtures="vit clip wav2vec2 hubert llava blip2"
  ;;
2)
  entries=("$gpu_parity")
  fixtures="whisper blip-caption"
  ;;
3)
  entries=("$gpu_parity")
  fixtures="blip-vqa vit-gpt2"
  ;;
*)
  echo "devicecheck: PART=$part: want 1, 2 or 3" >&2
  exit 2
  ;;
esac
fixtures="${FIXTURES:-$fixtures}"
# Shared test data beyond the fixtures' models: the inputs of the
# whole-model check and the configs of the model benchmarks.
data="media/images/chelsea.png media/audio/jfk16k.wav"
if [ "$part" = 1 ]; then
  data="$data configs/vit-base-patch16-224 configs/clip-vit-base-patch32 configs/whisper-base"
fi
# The limit on what travels: 64 MiB, less the checkout's tracked files.
tracked=$(git ls-files -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
limit=$(((64 << 20) - ${tracked:-0}))

rm -rf "$out"
mkdir -p "$out/bin"
names=()
for e in "${entries[@]}"; do
  IFS=';' read -r pkg tests benches <<<"$e"
  name="$(echo "${pkg#./}" | tr / _)"
  [ "$pkg" = . ] && name=goformer
  names+=("$(printf '%q' "$name;$tests;$benches")")
  echo "devicecheck: building $pkg"
  CGO_ENABLED=1 go test -c -tags cuda -ldflags='-s -w' -o "$out/bin/$name.test" "$pkg"
  # Compressed for the trip (gzip: present everywhere); run.sh unpacks.
  gzip -9 "$out/bin/$name.test"
done

shared="$root/../shared"
copy() { # copy a path under ../shared into devicecheck/shared
  local p="$1"
  if [ ! -e "$shared/$p" ]; then
    echo "devicecheck: test data $shared/$p is missing" >&2
    exit 1
  fi
  mkdir -p "$out/shared/$(dirname "$p")"
  cp -r "$shared/$p" "$out/shared/$p"
}
for p in $data; do copy "$p"; done
for f in $fixtures; do
  src="$shared/fixtures/$f/model"
  if [ ! -d "$src" ]; then
    echo "devicecheck: fixture model $src is missing" >&2
    exit 1
  fi
  dst="$out/shared/fixtures/$f/model"
  mkdir -p "$dst"
  # The model folder as the loaders read it, less a PyTorch copy of
  # weights also present as safetensors.
  for file in "$src"/*; do
    base="$(basename "$file")"
    case "$base" in
    pytorch_model.bin | *.pt) ls "$src"/*.safetensors >/dev/null 2>&1 && continue ;;
    esac
    cp -r "$file" "$dst/$base"
  done
done

cat >"$out/run.sh" <<RUN
#!/usr/bin/env bash
# Written by cuda/devicecheck.sh (part $part): runs the CUDA device check
# on a GPU machine (from the checkout's root or anywhere). RUN and BENCH
# narrow tests and benchmarks (go test -run/-bench patterns), BENCHTIME
# sets the benchmarks' time.
set -uo pipefail
here="\$(cd "\$(dirname "\$0")" && pwd)"
logs="\${OUT:-\$here/logs}"
mkdir -p "\$logs"
rm -f "\$logs/bench.all"
bin="\$(mktemp -d)"
trap 'rm -rf "\$bin"' EXIT
export GOFORMER_REQUIRE_CUDA=1 GOFORMER_TEST_DEVICE=cuda:0
export GOFORMER_TESTDATA="\$here/shared"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
echo "device check part $part: fixtures $fixtures"
status=0
for entry in ${names[*]}; do
  IFS=';' read -r name tests benches <<<"\$entry"
  gzip -dc "\$here/bin/\$name.test.gz" >"\$bin/\$name.test" && chmod +x "\$bin/\$name.test"
  # Each binary runs in a folder of its own.
  mkdir -p "\$bin/\$name.dir" && cd "\$bin/\$name.dir"
  if [ "\$tests" != '^\$' ]; then
    echo "== \$name: tests"
    if "\$bin/\$name.test" -test.v -test.count=1 -test.timeout=20m -test.run="\${RUN:-\$tests}" >"\$logs/\$name.tests.log" 2>&1; then
      echo "PASS"
    else
      echo "FAIL (log: \$logs/\$name.tests.log)"; status=1
    fi
    grep -m1 -o 'cuda:0 (.*' "\$logs/\$name.tests.log"
    grep -E '^(--- FAIL|panic|fatal)' "\$logs/\$name.tests.log" | head -40
    grep -E -A3 '^ *--- FAIL' "\$logs/\$name.tests.log" | grep -v -- '--- FAIL' | head -40
    echo "passed \$(grep -c -- '--- PASS' "\$logs/\$name.tests.log"), failed \$(grep -c -- '--- FAIL' "\$logs/\$name.tests.log"), skipped \$(grep -c -- '--- SKIP' "\$logs/\$name.tests.log") (subtests included)"
    if grep -q 'TestGPUMatchesHost/' "\$logs/\$name.tests.log"; then
      echo "whole-model parity (host against cuda:0; ids and texts identical, floats within 1e-4 normwise):"
      grep -E -- '^ +--- (PASS|FAIL|SKIP): TestGPUMatchesHost/' "\$logs/\$name.tests.log" | sed 's/^ *//'
      echo "per call on cuda:0 (time, copies between host and device):"
      grep -o '[A-Za-z0-9]* [a-z0-9]*/[a-z]*: [0-9.hmµns]* on cuda:0; .* for the call' "\$logs/\$name.tests.log" | head -60
      grep -o 'Close left .*' "\$logs/\$name.tests.log" | head -10
    fi
    if grep -q 'max|Δ|/max|want|' "\$logs/\$name.tests.log"; then
      echo "largest measured differences (max|Δ|/max|want|, bound):"
      grep -o '[A-Za-z].*max|Δ|/max|want| = .*' "\$logs/\$name.tests.log" | sed 's/ *max|Δ|\/max|want| = / /' |
        awk '{v=\$(NF-2); print v "\t" \$0}' | sort -g -r | head -15 | cut -f2-
    fi
  fi
  if [ "\$benches" != '^\$' ]; then
    echo "== \$name: benchmarks"
    "\$bin/\$name.test" -test.run='^\$' -test.bench="\${BENCH:-\$benches}" -test.benchtime="\${BENCHTIME:-1s}" -test.timeout=20m >"\$logs/\$name.bench.log" 2>&1 || { echo "benchmarks FAILED (log: \$logs/\$name.bench.log)"; status=1; }
    grep -E '^(Benchmark|--- FAIL|panic)|FAIL|skipping' "\$logs/\$name.bench.log" | sed -E 's/^(Benchmark[^ ]*)-[0-9]+ /\1 /' | head -80
    cat "\$logs/\$name.bench.log" >>"\$logs/bench.all"
  fi
done
if [ -s "\$logs/bench.all" ]; then
  echo "== issue 20's table (measured here; goals from the issue, PyTorch eager fp16 there)"
  printf '%-36s %-40s %s\n' "workload" "measured" "goal"
  row() { # pattern, workload, unit, goal
    local line
    line=\$(grep -E "^\$1(-[0-9]+)? " "\$logs/bench.all" | head -1)
    [ -z "\$line" ] && return
    printf '%-36s %-40s %s\n' "\$2" "\$(echo "\$line" | grep -o "[0-9.e+]* \$3" | head -1)" "\$4"
  }
  for wt in F32 F16; do
    row "BenchmarkCUDA_ViTBase/\$wt/batch1" "ViT-B/16 224, batch 1 \$wt" "ms/batch" "≤ 1.5 ms"
    row "BenchmarkCUDA_ViTBase/\$wt/batch256" "ViT-B/16 224, batch 256 \$wt" "images/s" "≥ 12,000 images/s"
    row "BenchmarkCUDA_CLIP/\$wt/image/batch1024" "CLIP B/32 image, batch 1024 \$wt" "images/s" "≥ 42,000 images/s"
    row "BenchmarkCUDA_CLIP/\$wt/text/1024x77" "CLIP B/32 text, 1024 × 77 \$wt" "ms/batch" "≤ 20 ms"
    row "BenchmarkCUDA_WhisperBaseEncoder/\$wt" "Whisper-base encoder, 30 s \$wt" "ms/window" "≤ 2.5 ms"
    row "BenchmarkCUDA_WhisperBaseDecoding/\$wt" "Whisper-base decoding \$wt" "ms/token" "≤ 1.0 ms/token"
  done
  echo "(not measured: Whisper-large-v3 whole model, BLIP-large caption; the cuda benchmarks above time their operations at Whisper-large sizes)"
fi
exit \$status
RUN
chmod +x "$out/run.sh"

size=$(du -sb "$out" | cut -f1)
if [ "$size" -gt "$limit" ]; then
  echo "devicecheck: $out is $((size >> 20)) MiB, over the $((limit >> 20)) MiB that travel beside the checkout's tracked files" >&2
  exit 1
fi
echo "devicecheck: part $part ready in $out ($((size >> 20)) MiB of the $((limit >> 20)) MiB that travel): on the GPU machine run 'bash devicecheck/run.sh' (device tool: carry [\"devicecheck\"])"
