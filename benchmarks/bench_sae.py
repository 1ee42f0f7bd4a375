"""Wall time for each SAE kind to recover Sharkey et al.'s (2022) synthetic features.

Setup: 512 true features in 256 dimensions, 5 active on average (P(i) ~ 0.99^i), coefficients U[0, 1];
dictionaries of 512 and 1024 latents. For each SAE kind and size, trains on a fresh stream (batch
generation included in the time) and records the wall time at which MMCS first reaches 0.9, 0.95 and
0.99, with L0 and FVU at that point (or the MMCS reached at the time cap). Prints a markdown table.

    python benchmarks/bench_sae.py                 # both kinds, 512 and 1024 latents, 3 seeds, 600 s cap
    python benchmarks/bench_sae.py --seeds 1 --kinds topk --d-sae 1024

glibc's allocator is set as in a notebook kernel (`keep_freed_memory`, which `setup_notebook` calls), unless
`--allocator default`: with glibc's defaults every step's fresh [batch, d_sae] tensors are mapped afresh and
page-faulted in (measured, the TopK recipe's training loop: 21.4 and 25.1 steps/s with glibc's defaults,
26.0 and 30.9 with the notebook's allocator).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from dataclasses import replace

import torch

from course_utils.course.notebook import keep_freed_memory
from course_utils.data.synthetic import (
    SyntheticConfig,
    feature_directions,
    feature_probabilities,
    synthetic_batches,
)
from course_utils.sae import SAEConfig, TrainConfig, init_b_dec_, make_sae, train

TARGETS = (0.9, 0.95, 0.99)


def recipe(kind: str, d_sae: int, steps: int | None) -> tuple[SAEConfig, TrainConfig, int]:
    """The fastest settings found on this setup (what mattered is in notebook 07's section 7)."""
    batch = 2048
    # Dead latents are resampled every 20 steps onto the residual x - x_hat of inputs drawn by squared loss:
    # each such residual points at a feature the dictionary is missing. The lr decays linearly to 0 over
    # the second half of the schedule: the last 0.01-0.03 of MMCS comes in the decay.
    if kind == "l1":
        # The encoder bias starts at -0.15, so that latents start selective (L0 ~ 20, not ~ 500), and a
        # resampled latent gets half the mean alive encoder norm and bias, so that it stays selective too;
        # with Bricken et al.'s bias 0 the revived latents fired on everything and MMCS stalled near 0.98.
        # A latent counts as dead after 5 silent batches. lr 1e-2 collapsed; l1_coeff 0.05 / 0.1 / 0.2: slower.
        sae = SAEConfig(d_in=256, d_sae=d_sae, kind="l1", l1_coeff=0.15, b_enc_init=-0.15)
        train_cfg = TrainConfig(steps=steps or 700, lr=3e-3, dead_after=5 * batch, resample_until=0.6,
                                resample_scale=0.5, resample_bias="alive_mean", resample_every=20)
    else:
        # Dead after 20 silent batches (5, as for the L1 SAE, stalled at MMCS 0.96), except with 512 latents
        # for 512 features, where no latent is spare: there 5 batches and resampling until 80% gave 0.93
        # instead of 0.88. AuxK on 4 dead latents, not d_in // 2 = 128: residual resampling already revives
        # dead latents, and aux_k 4 vs 16 took the same number of steps to MMCS 0.99. With 1024 latents the
        # rarest features (p ~ 0.0003, under one input a batch) are the last found: resampling every 20 steps
        # reached MMCS 0.99 on 5 of 8 seeds, every 10 steps on 11 of 14, and every 10 steps with a distinct
        # input for each dead latent (independent draws gave one residual to several) on 14 of 14 (README).
        tight = d_sae <= 512
        sae = SAEConfig(d_in=256, d_sae=d_sae, kind="topk", k=5, aux_k=4)
        train_cfg = TrainConfig(steps=steps or 800, lr=4e-3, dead_after=(5 if tight else 20) * batch,
                                resample_until=0.8 if tight else 0.6, resample_scale=1.0,
                                resample_every=20 if tight else 10, resample_distinct=not tight)
    train_cfg = replace(train_cfg, decay_start=0.5, log_every=20, resample_source="residual")
    return sae, train_cfg, batch


def run(kind: str, d_sae: int, seed: int, cap: float, steps: int, overrides: dict) -> dict:
    syn = SyntheticConfig()
    directions = feature_directions(syn, generator=torch.Generator().manual_seed(1000 + seed))
    probs = feature_probabilities(syn)
    sae_cfg, train_cfg, batch = recipe(kind, d_sae, steps)
    sae_cfg = replace(sae_cfg, **{k: v for k, v in overrides.items() if k in sae_cfg.__dataclass_fields__})
    train_cfg = replace(train_cfg, **{k: v for k, v in overrides.items() if k in train_cfg.__dataclass_fields__})
    batch = overrides.get("batch", batch)
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    sae = make_sae(sae_cfg, generator=gen)
    batches = synthetic_batches(directions, probs, batch, generator=gen)
    if overrides.get("init_b_dec", False):
        init_b_dec_(sae, next(batches))
    hits: dict[float, tuple[float, int, float, float]] = {}

    def record(step: int, sae, log) -> bool:
        mmcs = float(log.mmcs[-1, 0])
        for target in TARGETS:
            if mmcs >= target and target not in hits:
                hits[target] = (time.perf_counter() - start, step, float(log.l0[-1, 0]), float(log.fvu[-1, 0]))
        return mmcs >= TARGETS[-1] or time.perf_counter() - start > cap

    log = train(sae, train_cfg, batches, true_features=directions, callback=record, progress=False)
    return dict(kind=kind, d_sae=d_sae, seed=seed, hits=hits, final_mmcs=float(log.mmcs[-1, 0]),
                final_l0=float(log.l0[-1, 0]), final_fvu=float(log.fvu[-1, 0]), dead=float(log.dead_frac[-1, 0]),
                seconds=time.perf_counter() - start, steps=int(log.step[-1]))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} threads "
            f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), "
            f"load average {load:.1f} at the end")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", nargs="+", default=["l1", "topk"])
    parser.add_argument("--d-sae", nargs="+", type=int, default=[512, 1024])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cap", type=float, default=600.0, help="seconds per run")
    parser.add_argument("--steps", type=int, default=None, help="schedule length (default 700 (L1) and 800 (TopK); lr decays over its second half)")
    parser.add_argument("--set", nargs="*", default=[], help="overrides such as lr=0.01 k=8 batch=512")
    parser.add_argument("--allocator", choices=["notebook", "default"], default="notebook",
                        help="glibc's allocator as in a notebook kernel (keep_freed_memory), or as in bare Python")
    args = parser.parse_args()
    if args.allocator == "notebook" and not keep_freed_memory():
        raise SystemExit("keep_freed_memory() had no effect here (not glibc?); run with --allocator default")
    overrides = {}
    for item in args.set:
        key, value = item.split("=", 1)
        overrides[key] = eval(value, {}, {})  # numbers, tuples, None, True
    rows = []
    for kind in args.kinds:
        for d_sae in args.d_sae:
            results = [run(kind, d_sae, seed, args.cap, args.steps, overrides) for seed in range(args.seeds)]
            for r in results:
                print(f"# {kind} d_sae={d_sae} seed={r['seed']}: final MMCS {r['final_mmcs']:.3f}, L0 {r['final_l0']:.1f}, "
                      f"FVU {r['final_fvu']:.3f} after {r['steps']} steps, "
                      f"{r['seconds']:.1f} s; hits {{{', '.join(f'{t}: {h[0]:.1f} s @ step {h[1]} (L0 {h[2]:.1f}, FVU {h[3]:.3f})' for t, h in r['hits'].items())}}}",
                      flush=True)
            cells = []
            for target in TARGETS:
                times = [r["hits"][target][0] for r in results if target in r["hits"]]
                if len(times) == len(results):
                    best = sorted(results, key=lambda r: r["hits"][target][0])[len(results) // 2]["hits"][target]
                    cells.append(f"{statistics.median(times):.1f} s (L0 {best[2]:.1f}, FVU {best[3]:.3f})")
                else:
                    end = sorted(results, key=lambda r: r["final_mmcs"])[len(results) // 2]
                    cells.append(f"not reached by {len(results) - len(times)}/{len(results)}; at the end MMCS "
                                 f"{end['final_mmcs']:.3f} (L0 {end['final_l0']:.1f}, FVU {end['final_fvu']:.3f})")
            dead = statistics.median(r["dead"] for r in results)
            steps = statistics.median(r["steps"] for r in results)
            rate = statistics.median(r["steps"] / r["seconds"] for r in results)
            rows.append(f"| {kind} | {d_sae} | " + " | ".join(cells) + f" | {dead:.2f} | {steps:.0f} | {rate:.1f} |")
    print()
    print(f"Machine: {machine()}; allocator: {args.allocator}. Median over {args.seeds} seed(s); "
          f"overrides: {overrides or 'none'}.")
    print()
    print(f"The end: MMCS 0.99, the {args.cap:.0f} s cap or the end of the schedule "
          f"({args.steps or '700 (L1) / 800 (TopK)'} steps), whichever comes first.")
    print()
    print("| SAE | latents | MMCS 0.9 | MMCS 0.95 | MMCS 0.99 | dead at end | steps run | steps/s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
