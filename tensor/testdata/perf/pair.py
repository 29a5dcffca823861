#!/usr/bin/env python3
"""Paired SGEMM comparison: PyTorch matmul and goformer's Sgemm benchmark
alternate in rounds (same sizes, 2 threads), so that load from other jobs
hits both alike. Prints per-round GFLOP/s and the median ratio."""
import re, statistics, subprocess, sys, time
import torch
torch.set_num_threads(2)
binary, sizes, rounds = sys.argv[1], [int(s) for s in sys.argv[2].split(",")], int(sys.argv[3])
for n in sizes:
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        a @ b
    ratios, ours_all, torch_all = [], [], []
    for r in range(rounds):
        reps = max(3, int(2e10 / (2 * n ** 3)))
        t0 = time.perf_counter()
        for _ in range(reps):
            a @ b
        tg = 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9
        out = subprocess.run([binary, "-test.run", "^$", "-test.bench", f"Sgemm$/{n}$", "-test.benchtime", f"{reps}x"],
                             capture_output=True, text=True).stdout
        og = float(re.search(r"([\d.]+) GFLOP/s", out).group(1))
        ratios.append(og / tg); ours_all.append(og); torch_all.append(tg)
    print(f"{n}: torch median {statistics.median(torch_all):.1f} GFLOP/s, goformer median {statistics.median(ours_all):.1f} GFLOP/s, "
          f"median ratio goformer/torch {statistics.median(ratios):.2f} (rounds: " +
          ", ".join(f"{o:.0f}/{t:.0f}" for o, t in zip(ours_all, torch_all)) + ")")
