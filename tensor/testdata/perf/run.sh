#!/bin/bash
# Runs every benchmark of tensor/PERFORMANCE.md back to back, from the
# repository root: tensor/testdata/perf/run.sh
# Needs Debian's python3-torch and libopenblas0-pthread for the PyTorch lines.
set -e
cd "$(dirname "$0")/../../.."
root=$PWD
out=${TMPDIR:-/tmp}/goformer-perf
mkdir -p $out
echo "start load: $(cat /proc/loadavg) $(date)"
for p in tensor vit clip whisper blip; do go test -c -o $out/$p.test ./$p; done
cd $root/tensor
OPENBLAS_NUM_THREADS=2 /usr/bin/python3 ../../shared/tools/torch_gemm.py 2 1024 2048
$out/tensor.test -test.run '^$' -test.bench 'Sgemm(Gonum)?$/(1024|2048)|PeakFMA|MemoryBandwidth' -test.benchtime 3x -peak 2>&1 | grep -E "^Bench"
OPENBLAS_NUM_THREADS=2 /usr/bin/python3 ../../shared/tools/torch_gemm.py 2 1024 2048
OPENBLAS_NUM_THREADS=2 /usr/bin/python3 testdata/perf/pair.py $out/tensor.test 1024,2048 5
$out/tensor.test -test.run '^$' -test.bench 'Sgemm$|SgemmRef|LinearShapes|SgemmSkinny' -test.benchtime 5x -peak 2>&1 | grep -E "^Bench"
$out/tensor.test -test.run '^$' -test.bench 'PackWeight' -test.benchtime 10x 2>&1 | grep -E "^Bench"
perf=$root/tensor/testdata/perf
echo "load: $(cat /proc/loadavg)"
$perf/cpu.sh $out/vit.test $root/vit 'ViTBase/batch1$' 6
$perf/cpu.sh $out/vit.test $root/vit 'ViTBase/batch8$' 3
$perf/cpu.sh $out/clip.test $root/clip 'ImageEmbed' 21
$perf/cpu.sh $out/clip.test $root/clip 'TextEmbed' 21
$perf/cpu.sh $out/whisper.test $root/whisper 'Encoder' 4
$perf/cpu.sh $out/whisper.test $root/whisper 'DecoderToken/kvcache$' 3
$perf/cpu.sh $out/whisper.test $root/whisper 'DecoderToken/kvcache-f16' 3
$perf/cpu.sh $out/blip.test $root/blip 'CaptionLarge' 2
$out/tensor.test -test.run '^$' -test.bench 'PeakFMA' -test.benchtime 3x 2>&1 | grep -E "^Bench"
echo "end load: $(cat /proc/loadavg) $(date)"
