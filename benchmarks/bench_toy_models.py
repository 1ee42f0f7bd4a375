"""Training speed of the toy models: the batched trainer (plain, optionally compiled) against a per-instance loop.

    python benchmarks/bench_toy_models.py [--runs 5] [--compile] [--allocator both] [--compare-with DIR]

Every measurement runs in a fresh process with one torch thread; the runs are interleaved (run 1 of
every setting and trainer, then run 2, ...), and the table shows medians. `--allocator` sets glibc's
allocator as a notebook kernel has it (`keep_freed_memory`, which `setup_notebook` calls), as a bare
Python process has it, or both. `--compare-with DIR` also times the trainer of another checkout (e.g.
`git worktree add /tmp/main main`), interleaved with this one's: a before/after comparison under the
same load. Wall-clock steps/s is what a learner sees; CPU steps/s (the process's CPU time) is steadier
on a shared machine. The first step of a batched run is not timed (a compile, first page faults).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, kw_only=True)
class Setting:
    key: str
    name: str
    sizes: dict[str, int]
    steps: int
    """Timed steps of the batched trainer."""
    loop_steps: int
    """Timed steps of the per-instance loop (each step trains every instance once)."""


SETTINGS = [
    Setting(key="intro8", name="8 inst, 5 feats, 2 hidden", sizes=dict(n_instances=8), steps=2000, loop_steps=150),
    Setting(key="intro64", name="64 inst, 5 feats, 2 hidden", sizes=dict(n_instances=64), steps=400, loop_steps=20),
    Setting(key="wide", name="20 inst, 200 feats, 20 hidden", sizes=dict(n_features=200, d_hidden=20, n_instances=20),
            steps=40, loop_steps=8),
]
TRAINERS = {
    "loop": "per-instance loop (autograd, torch.optim.AdamW)",
    "plain": "batched, plain PyTorch",
    "compiled": "batched, torch.compile",
}


def child(setting_key: str, trainer: str, keep_freed: bool, batch_size: int) -> dict:
    """One timed run in this (fresh) process; returns its wall and CPU seconds."""
    import torch

    torch.set_num_threads(1)
    if keep_freed:
        from course_utils.course.notebook import keep_freed_memory

        if not keep_freed_memory():
            raise RuntimeError("keep_freed_memory() had no effect here (not glibc?)")
    from course_utils.toy_models import ToyModelConfig

    setting = next(s for s in SETTINGS if s.key == setting_key)
    cfg = ToyModelConfig(**setting.sizes)
    if trainer == "loop":
        wall, cpu = per_instance_loop(cfg, setting.loop_steps, batch_size)
        return dict(wall=wall / setting.loop_steps, cpu=cpu / setting.loop_steps, steps=1, backend="plain")
    return batched(cfg, setting.steps, batch_size, compile=trainer == "compiled")


def per_instance_loop(cfg, steps: int, batch_size: int) -> tuple[float, float]:
    """Seconds (wall, CPU) for `steps` steps of every instance, one model, optimiser and batch per instance."""
    import torch
    from torch import nn

    from course_utils.data.sparse import sparse_batch
    from course_utils.toy_models import ToyModel, importance_weighted_mse

    class SingleToyModel(nn.Module):
        """One instance, written the straightforward way (the baseline)."""

        def __init__(self, W: torch.Tensor, b: torch.Tensor):
            super().__init__()
            self.W = nn.Parameter(W.clone())
            self.b = nn.Parameter(b.clone())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu((x @ self.W.T) @ self.W + self.b)

    start_model = ToyModel(cfg, generator=torch.Generator().manual_seed(0))
    models = [SingleToyModel(start_model.W[i].detach(), start_model.b[i].detach()) for i in range(cfg.n_instances)]
    opts = [torch.optim.AdamW(m.parameters(), lr=1e-3) for m in models]
    density, importance = cfg.density_tensor(), cfg.importance_tensor()
    g = torch.Generator().manual_seed(1)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        for i, (model, opt) in enumerate(zip(models, opts, strict=True)):
            x = sparse_batch(batch_size, density[i : i + 1], generator=g)[:, 0]
            loss = importance_weighted_mse(model(x)[:, None], x[:, None], importance[i : i + 1]).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return time.perf_counter() - wall, time.process_time() - cpu


def batched(cfg, steps: int, batch_size: int, compile: bool) -> dict:
    """Wall and CPU seconds of the batched trainer: wall for `steps` steps after the first, CPU for all steps + 1.

    A compiled run is timed after an untimed run of the same length, which compiles (same length: a trainer
    that recompiles for a new step count would otherwise compile again in the timed run).
    """
    import torch

    from course_utils.data.sparse import sparse_batches
    from course_utils.toy_models import ToyModel, TrainConfig, train

    train_cfg = TrainConfig(steps=steps + 1, batch_size=batch_size, progress=False, compile=compile)
    batches = sparse_batches(cfg.density_tensor(), batch_size=batch_size, generator=torch.Generator().manual_seed(1))
    if compile:
        train(ToyModel(cfg, generator=torch.Generator().manual_seed(0)), train_cfg, batches)
    model = ToyModel(cfg, generator=torch.Generator().manual_seed(0))
    cpu = time.process_time()
    log = train(model, train_cfg, batches)
    cpu = time.process_time() - cpu
    return dict(wall=(log.seconds - log.first_step_seconds) / steps, cpu=cpu / (steps + 1), steps=1,
                backend=log.backend, final_loss=float(log.final_loss().sum()))


def recompile_check(batch_size: int) -> dict:
    """The compiled trainer's first step in two runs of different lengths: the second should not compile again."""
    import torch

    torch.set_num_threads(1)
    from course_utils.data.sparse import sparse_batches
    from course_utils.toy_models import ToyModel, ToyModelConfig, TrainConfig, train

    cfg = ToyModelConfig(n_instances=8)
    batches = sparse_batches(cfg.density_tensor(), batch_size=batch_size, generator=torch.Generator().manual_seed(1))
    firsts = {}
    for steps in (100, 200):
        model = ToyModel(cfg, generator=torch.Generator().manual_seed(0))
        log = train(model, TrainConfig(steps=steps, batch_size=batch_size, progress=False, compile=True), batches)
        firsts[steps] = (log.first_step_seconds, log.backend)
    return {str(k): v for k, v in firsts.items()}


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            cpu = next(line.split(":", 1)[1].strip() for line in file if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, Python {platform.python_version()}, one thread per process"


def load() -> str:
    return ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def run_child(code: Path, args: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(code), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"child {args} with PYTHONPATH={code} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement; the table shows medians")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--compile", action="store_true", help="also time the torch.compile trainer")
    parser.add_argument("--allocator", choices=["notebook", "default", "both"], default="notebook",
                        help="glibc's allocator as in a notebook kernel (keep_freed_memory), as in bare Python, or both")
    parser.add_argument("--compare-with", type=Path, help="another checkout whose batched trainer to time too")
    parser.add_argument("--only", choices=[s.key for s in SETTINGS], action="append", help="time these settings only")
    parser.add_argument("--child", nargs=4, metavar=("SETTING", "TRAINER", "KEEP_FREED", "BATCH"), help=argparse.SUPPRESS)
    parser.add_argument("--recompile-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        setting, trainer, keep_freed, batch = args.child
        print(json.dumps(child(setting, trainer, keep_freed == "1", int(batch))))
        return
    if args.recompile_child:
        print(json.dumps(recompile_check(args.recompile_child)))
        return

    codes = {"this checkout": REPO}
    if args.compare_with:
        codes[f"{args.compare_with}"] = args.compare_with.resolve()
    allocators = {"notebook": [True], "default": [False], "both": [True, False]}[args.allocator]
    settings = [s for s in SETTINGS if not args.only or s.key in args.only]
    trainers = ["plain", "compiled"] if args.compile else ["plain"]
    jobs = []  # (setting, trainer, keep_freed, code label)
    for setting in settings:
        for keep_freed in allocators:
            jobs.append((setting.key, "loop", keep_freed, "this checkout"))
            jobs += [(setting.key, t, keep_freed, label) for t in trainers for label in codes]
    print(f"{len(jobs)} measurements x {args.runs} runs, load average at the start {load()}", flush=True)
    results: dict[tuple, list[dict]] = {job: [] for job in jobs}
    for run in range(args.runs):
        for job in jobs:
            key, trainer, keep_freed, label = job
            setting = next(s for s in settings if s.key == key)
            r = run_child(codes[label], ["--child", key, trainer, str(int(keep_freed)), str(args.batch_size)])
            results[job].append(r)
            print(f"  run {run + 1} | {setting.name} | {label} | {TRAINERS[trainer]} | allocator "
                  f"{'notebook' if keep_freed else 'default'}: {r['steps'] / r['wall']:,.0f} steps/s "
                  f"({r['steps'] / r['cpu']:,.0f} CPU)", flush=True)

    end_load = load()
    print()
    print("| setting | code | allocator | trainer | steps/s | CPU steps/s | instance-steps/s | speed-up over the loop |")
    print("| --- | --- | --- | --- | ---: | ---: | ---: | ---: |")
    for setting in settings:
        n = setting.sizes["n_instances"]
        for keep_freed in allocators:
            base = None
            for job in jobs:
                if job[0] != setting.key or job[2] != keep_freed:
                    continue
                rs = results[job]
                rate = statistics.median(r["steps"] / r["wall"] for r in rs)
                cpu_rate = statistics.median(r["steps"] / r["cpu"] for r in rs)
                base = base or rate
                backend = rs[0]["backend"]
                trainer = TRAINERS[job[1]] if backend in ("plain", "compiled") else f"{TRAINERS[job[1]]}: {backend}"
                print(f"| {setting.name} | {job[3]} | {'notebook' if keep_freed else 'default'} | {trainer} | "
                      f"{rate:,.0f} | {cpu_rate:,.0f} | {rate * n:,.0f} | {rate / base:.1f}x |")
    print()
    print(f"Machine: {machine()}. Median of {args.runs} runs, batch {args.batch_size}; load average at the end {end_load}.")
    if args.compile:
        print()
        for label, code in codes.items():
            firsts = run_child(code, ["--recompile-child", str(args.batch_size)])
            print(f"Compiled trainer ({label}), first step of a 100-step run then of a 200-step run in one process: "
                  + ", ".join(f"{steps} steps: {s:.2f} s ({backend})" for steps, (s, backend) in firsts.items()))


if __name__ == "__main__":
    main()
