"""Training speed of the toy models: the batched trainer (plain and compiled) against a per-instance loop.

    python benchmarks/bench_toy_models.py [--steps 2000] [--runs 5] [--no-compile]

Prints a markdown table (median of several runs) and the machine. Instance-steps/s counts one
optimisation step of one instance; steps/s counts steps of the whole batched model.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn

from course_utils.data.sparse import sparse_batch, sparse_batches
from course_utils.toy_models import (
    ToyModel,
    ToyModelConfig,
    TrainConfig,
    importance_weighted_mse,
    train,
)


@dataclass(frozen=True, kw_only=True)
class Setting:
    name: str
    model: ToyModelConfig


SETTINGS = [
    Setting(name="intro (issue 3's target): 8 inst, 5 feats, 2 hidden", model=ToyModelConfig(n_instances=8)),
    Setting(name="intro (notebook 03's sweep): 10 inst, 5 feats, 2 hidden", model=ToyModelConfig()),
    Setting(name="wide: 20 inst, 200 feats, 20 hidden", model=ToyModelConfig(n_features=200, d_hidden=20, n_instances=20)),
]


class SingleToyModel(nn.Module):
    """One instance, written the straightforward way (the baseline)."""

    def __init__(self, W: torch.Tensor, b: torch.Tensor):
        super().__init__()
        self.W = nn.Parameter(W.clone())
        self.b = nn.Parameter(b.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu((x @ self.W.T) @ self.W + self.b)


def per_instance_loop(cfg: ToyModelConfig, steps: int, batch_size: int) -> float:
    """Seconds for `steps` steps of every instance, one model, optimiser and batch per instance."""
    start_model = ToyModel(cfg, generator=torch.Generator().manual_seed(0))
    models = [SingleToyModel(start_model.W[i].detach(), start_model.b[i].detach()) for i in range(cfg.n_instances)]
    opts = [torch.optim.AdamW(m.parameters(), lr=1e-3) for m in models]
    density, importance = cfg.density_tensor(), cfg.importance_tensor()
    g = torch.Generator().manual_seed(1)
    start = time.perf_counter()
    for _ in range(steps):
        for i, (model, opt) in enumerate(zip(models, opts, strict=True)):
            x = sparse_batch(batch_size, density[i : i + 1], generator=g)[:, 0]
            loss = importance_weighted_mse(model(x)[:, None], x[:, None], importance[i : i + 1]).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return time.perf_counter() - start


def batched(cfg: ToyModelConfig, steps: int, batch_size: int, compile: bool) -> tuple[float, str]:
    """Seconds for `steps` steps of the batched trainer (the first, compiling step excluded)."""
    model = ToyModel(cfg, generator=torch.Generator().manual_seed(0))
    batches = sparse_batches(cfg.density_tensor(), batch_size=batch_size, generator=torch.Generator().manual_seed(1))
    log = train(model, TrainConfig(steps=steps + 1, batch_size=batch_size, progress=False, compile=compile), batches)
    return log.seconds - log.first_step_seconds, log.backend


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            cpu = next(line.split(":", 1)[1].strip() for line in file if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"Python {platform.python_version()}, load average {load}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="timed steps per run of the batched trainer")
    parser.add_argument("--loop-steps", type=int, default=200, help="timed steps per run of the per-instance loop")
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement; the table shows the median")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile trainer")
    parser.add_argument("--only", choices=["intro", "wide"], help="time one kind of setting only")
    args = parser.parse_args()

    rows = []
    for setting in SETTINGS:
        if args.only and not setting.name.startswith(args.only):
            continue
        cfg, n = setting.model, setting.model.n_instances
        trainers = [("per-instance loop (autograd, torch.optim.AdamW)", lambda c=cfg: (per_instance_loop(c, args.loop_steps, args.batch_size), "plain"), args.loop_steps),
                    ("batched, plain PyTorch", lambda c=cfg: batched(c, args.steps, args.batch_size, False), args.steps)]
        if not args.no_compile:
            warm_start = time.perf_counter()
            _, backend = batched(cfg, 10, args.batch_size, True)  # compiles (or fails) once
            print(f"{setting.name}: torch.compile warm-up {time.perf_counter() - warm_start:.1f} s -> {backend}", flush=True)
            trainers.append(("batched, torch.compile", lambda c=cfg: batched(c, args.steps, args.batch_size, True), args.steps))
        base = None
        for label, run, steps in trainers:
            results = [run() for _ in range(args.runs)]
            seconds = statistics.median(r[0] for r in results)
            rate = steps / seconds
            base = base or rate
            backend = results[0][1]
            rows.append((setting.name, label if backend in ("plain", "compiled") else f"{label}: {backend}", rate, rate * n, rate / base))
            print(f"  {setting.name} | {label}: {rate:,.0f} steps/s", flush=True)

    print()
    print("| setting | trainer | steps/s | instance-steps/s | speed-up |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, label, rate, inst_rate, speedup in rows:
        print(f"| {name} | {label} | {rate:,.0f} | {inst_rate:,.0f} | {speedup:.1f}x |")
    print()
    print(f"Machine: {machine()}. Median of {args.runs} runs, batch {args.batch_size}.")


if __name__ == "__main__":
    main()
