#!/bin/bash
# usage: cpu.sh <test binary> <dir> <bench regexp> <N>
# Prints wall ns/op lines and CPU seconds per op = (CPU(N x) - CPU(1 x)) / (N-1).
bin=$1; dir=$2; re=$3; n=$4
cd $dir
TIMEFORMAT="%U %S"
c1=$( { time $bin -test.run '^$' -test.bench "$re" -test.benchtime 1x > ${TMPDIR:-/tmp}/goformer-o1.txt 2>&1; } 2>&1 )
cN=$( { time $bin -test.run '^$' -test.bench "$re" -test.benchtime ${n}x > ${TMPDIR:-/tmp}/goformer-oN.txt 2>&1; } 2>&1 )
grep -E "^Bench" ${TMPDIR:-/tmp}/goformer-oN.txt
awk -v a="$c1" -v b="$cN" -v n=$n 'BEGIN{split(a,x," "); split(b,y," "); printf "  CPU per op: %.3f s (2 threads => ideal wall %.3f s)\n", ((y[1]+y[2])-(x[1]+x[2]))/(n-1), ((y[1]+y[2])-(x[1]+x[2]))/(n-1)/2}'
