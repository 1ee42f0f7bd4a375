"""Notebook 06's memorization sweep at a larger scale than the notebook can afford (Henighan et al. 2023).

The paper's own scale (n = 10,000 features, T up to 10^5, 50,000 full-batch steps) needs ~10^9 floats a
step and is out of reach of a CPU; this runs 4x the notebook's features at a 5x sparser density, datasets
up to T = 512 and 6,000 steps, and prints the test loss, the datapoint dominance and the peak:

    OMP_NUM_THREADS=1 python benchmarks/bench_memorization.py [--d-hidden 2] [--steps 6000]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from course_utils.course.notebook import keep_freed_memory
from course_utils.toy_models.memorization import MemorizationConfig, peak_index, train_memorization

LARGE = MemorizationConfig(
    n_features=256,  # notebook: 64; paper: 10,000
    density=1 / 64,  # notebook: 0.08; paper: 0.001 (4 active features a point here, 10 in the paper)
    dataset_sizes=(4, 8, 16, 32, 64, 128, 256, 512),
    seeds=4,  # paper: 4
    steps=6_000,  # notebook: 2,500; paper: 50,000
    lr=2e-3,  # paper: 1e-3 over 50,000 steps
    warmup_steps=300,  # 5%, as the paper's 2,500 of 50,000
    test_size=4_000,
    progress=True,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d-hidden", type=int, default=2)
    parser.add_argument("--steps", type=int, default=LARGE.steps)
    args = parser.parse_args()
    from dataclasses import replace

    cfg = replace(LARGE, d_hidden=args.d_hidden, steps=args.steps, warmup_steps=max(1, args.steps // 20))
    keep_freed_memory()
    start = time.perf_counter()
    run = train_memorization(cfg, generator=torch.Generator().manual_seed(0))
    seconds = time.perf_counter() - start
    test, train = run.by_size(run.test_loss), run.by_size(run.train_loss)
    dominated = run.by_size(run.dominated().float())
    print(f"n={cfg.n_features} density={cfg.density:.4g} m={cfg.d_hidden} steps={cfg.steps} seeds={cfg.seeds}: "
          f"{seconds:.0f} s, load average {os.getloadavg()[0]:.1f}")
    print("| T | T(1-S) | train loss | test loss (mean of seeds) | test loss range | datapoint-dominated |")
    print("| ---: | ---: | ---: | ---: | --- | ---: |")
    for k, t in enumerate(cfg.dataset_sizes):
        print(f"| {t} | {t * cfg.density:.2f} | {train[k].mean():.3f} | {test[k].mean():.3f} | "
              f"{test[k].min():.3f}-{test[k].max():.3f} | {dominated[k].sum():.0f}/{cfg.seeds} |")
    i = peak_index(test.mean(1))
    print(f"peak at T = {cfg.dataset_sizes[i]} (T(1-S) = {cfg.dataset_sizes[i] * cfg.density:.2f}); "
          f"interior: {0 < i < len(cfg.dataset_sizes) - 1}")


if __name__ == "__main__":
    main()
