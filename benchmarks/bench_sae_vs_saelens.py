"""The course's SAE trainer side by side with SAELens's, on Sharkey et al.'s (2022) synthetic setup.

512 true features in 256 dimensions (about 5 active), 1024 latents. Six trainers, each in a fresh process
(so that peak memory, the process's maximum resident set, is its own), interleaved seed by seed:

    course-l1, course-topk          the course's recipes (benchmarks/bench_sae.py: `recipe`)
    saelens-standard-defaults       SAELens's ReLU + L1 SAE at its defaults (train_toy_sae: lr 3e-4,
    saelens-topk-defaults           constant, batch 1024; l1_coefficient 1.0; TopK at k = 5, the data's L0)
    saelens-standard-course         SAELens's trainers at the course's lr, batch, l1 coefficient / k and
    saelens-topk-course             schedule (linear decay to 0 over the second half)

Every trainer reads the same seeded stream (`synthetic_batches`, generator seeded by the seed; the batch
size sets how it is cut) and is scored with the course's `mmcs` on its decoder every 20 steps. Time counts
batch generation and evaluation, from the first step. Runs stop at MMCS 0.99, the cap or the schedule's end.
Every process sets glibc's allocator as a notebook kernel has it (`keep_freed_memory`), unless `--allocator
default`.

    python benchmarks/bench_sae_vs_saelens.py --seeds 3 --cap 60
    python benchmarks/bench_sae_vs_saelens.py --trainers course-l1 saelens-standard-lr3e-3   # and lr 3e-3
    python benchmarks/bench_sae_vs_saelens.py --table results.jsonl   # the table of an earlier run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from course_utils.data.synthetic import (
    SyntheticConfig,
    feature_directions,
    feature_probabilities,
    synthetic_batches,
)
from course_utils.metrics.dictionary import mmcs

sys.path.insert(0, str(Path(__file__).parent))
from bench_sae import TARGETS, machine, recipe  # noqa: E402

D_SAE = 1024
EVAL_EVERY = 20
TRAINERS = ("course-l1", "course-topk", "saelens-standard-defaults", "saelens-topk-defaults",
            "saelens-standard-course", "saelens-topk-course")
EXTRA = ("saelens-standard-lr3e-3", "saelens-topk-lr3e-3")
"""Not run by default: SAELens's defaults with lr 3e-3 (issue 19's first measurement)."""


def stream(seed: int, batch: int) -> tuple[torch.Tensor, Iterator[torch.Tensor]]:
    """The true features and the seeded batch stream every trainer reads."""
    syn = SyntheticConfig()
    directions = feature_directions(syn, generator=torch.Generator().manual_seed(1000 + seed))
    return directions, synthetic_batches(directions, feature_probabilities(syn), batch,
                                         generator=torch.Generator().manual_seed(seed))


class Clock:
    """Times to the MMCS targets, measured from the first step."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.hits: dict[str, tuple[float, int]] = {}
        self.last = (0.0, 0)

    def record(self, step: int, value: float) -> bool:
        now = time.perf_counter() - self.start
        self.last = (value, step)
        for target in TARGETS:
            if value >= target and str(target) not in self.hits:
                self.hits[str(target)] = (now, step)
        return value >= TARGETS[-1]


def run_course(kind: str, seed: int, cap: float) -> dict:
    from course_utils.sae import make_sae, train

    sae_cfg, train_cfg, batch = recipe(kind, D_SAE, None)
    directions, batches = stream(seed, batch)
    sae = make_sae(sae_cfg, generator=torch.Generator().manual_seed(10_000 + seed))
    assert train_cfg.log_every == EVAL_EVERY
    rss0 = _rss_mb()
    clock = Clock()

    def callback(step: int, sae, log) -> bool:
        return clock.record(step, float(log.mmcs[-1, 0])) or time.perf_counter() - clock.start > cap

    log = train(sae, train_cfg, batches, true_features=directions, callback=callback, progress=False)
    return dict(batch=batch, steps=int(log.step[-1]), seconds=time.perf_counter() - clock.start, hits=clock.hits,
                final_mmcs=clock.last[0], rss_setup_mb=rss0, l0=float(log.l0[-1, 0]))


def saelens_settings(name: str) -> tuple[dict, dict]:
    """(SAE config kwargs, trainer kwargs) for a SAELens trainer name."""
    arch, settings = name.split("-", 2)[1:]
    if settings == "lr3e-3":
        return saelens_settings(f"saelens-{arch}-defaults")[0], dict(lr=3e-3, batch=1024, steps=None, decay=0)
    if settings == "defaults":  # sae_lens.synthetic.train_toy_sae's defaults; the SAE configs' own defaults
        sae = dict(l1_coefficient=1.0) if arch == "standard" else dict(k=5)
        return sae, dict(lr=3e-4, batch=1024, steps=None, decay=0)
    course_sae, course_train, batch = recipe("l1" if arch == "standard" else "topk", D_SAE, None)
    sae = dict(l1_coefficient=float(course_sae.l1_coeff)) if arch == "standard" else dict(k=int(course_sae.k))
    steps = course_train.steps
    return sae, dict(lr=course_train.lr, batch=batch, steps=steps, decay=steps - int(course_train.decay_start * steps))


def run_saelens(name: str, seed: int, cap: float) -> dict:
    import sae_lens
    from sae_lens import (
        LoggingConfig,
        SAETrainer,
        StandardTrainingSAE,
        StandardTrainingSAEConfig,
        TopKTrainingSAE,
        TopKTrainingSAEConfig,
    )
    from sae_lens.config import SAETrainerConfig

    sae_kwargs, tr = saelens_settings(name)
    directions, batches = stream(seed, tr["batch"])
    torch.manual_seed(10_000 + seed)  # SAELens initialises from the global generator
    if "standard" in name:
        sae = StandardTrainingSAE(StandardTrainingSAEConfig(d_in=256, d_sae=D_SAE, **sae_kwargs))
    else:
        sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=256, d_sae=D_SAE, **sae_kwargs))
    steps = tr["steps"] or 10**9
    cfg = SAETrainerConfig(total_training_samples=steps * tr["batch"], train_batch_size_samples=tr["batch"],
                           lr=tr["lr"], lr_end=tr["lr"], lr_scheduler_name="constant", lr_decay_steps=tr["decay"],
                           device="cpu", dead_feature_window=1000, feature_sampling_window=2000,
                           logger=LoggingConfig(log_to_wandb=False))
    trainer = SAETrainer(cfg=cfg, sae=sae, data_provider=batches)
    rss0 = _rss_mb()
    clock = Clock()
    l0 = float("nan")
    sae.to("cpu")
    for step in range(1, steps + 1):  # SAETrainer.fit's loop, with the evaluation added
        trainer.maybe_reset_sparsity()
        out = trainer.step(next(batches))
        trainer.n_training_steps += 1
        if step % EVAL_EVERY == 0 or step == steps:
            with torch.no_grad():
                l0 = float((out.feature_acts > 0).float().sum(-1).mean())
                done = clock.record(step, float(mmcs(sae.W_dec, directions)[0]))
            if done or time.perf_counter() - clock.start > cap:
                break
    return dict(batch=tr["batch"], steps=step, seconds=time.perf_counter() - clock.start, hits=clock.hits,
                final_mmcs=clock.last[0], rss_setup_mb=rss0, l0=l0, saelens=sae_lens.__version__)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def run_one(name: str, seed: int, cap: float, allocator: str = "notebook") -> dict:
    """One trainer, in this process."""
    torch.set_num_threads(1)
    if allocator == "notebook":
        from course_utils.course.notebook import keep_freed_memory

        if not keep_freed_memory():
            raise RuntimeError("keep_freed_memory() had no effect here (not glibc?); run with --allocator default")
    result = run_course(name.split("-")[1], seed, cap) if name.startswith("course-") else run_saelens(name, seed, cap)
    return dict(name=name, seed=seed, peak_rss_mb=_rss_mb(), torch=torch.__version__, threads=torch.get_num_threads(),
                allocator=allocator, **result)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(results: list[dict]) -> str:
    """Medians per trainer, and the ratio to the course's recipe of the same kind."""
    names = [n for n in TRAINERS + EXTRA if any(r["name"] == n for r in results)]
    by = {n: [r for r in results if r["name"] == n] for n in names}

    def time_to(rs: list[dict], target: float) -> float:
        """The median time to `target`, a run that never reached it counting as infinitely long."""
        return statistics.median([r["hits"][str(target)][0] if str(target) in r["hits"] else float("inf") for r in rs])

    lines = ["| trainer | runs | MMCS 0.9 | MMCS 0.95 | MMCS 0.99 | MMCS at the end | batch | steps/s | peak RSS (setup) |"
             " time to 0.99 / course's | steps/s / course's |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for n in names:
        rs = by[n]
        cells = []
        for target in TARGETS:
            reached = sum(str(target) in r["hits"] for r in rs)
            median = time_to(rs, target)
            cells.append(f"not reached ({reached}/{len(rs)})" if median == float("inf")
                         else f"{median:.1f} s" + ("" if reached == len(rs) else f" ({reached}/{len(rs)} reached)"))
        rate = _median([r["steps"] / r["seconds"] for r in rs])
        course = by.get("course-l1" if "l1" in n or "standard" in n else "course-topk", [])
        ours, theirs = time_to(course, TARGETS[-1]) if course else float("nan"), time_to(rs, TARGETS[-1])
        longest = max(r["seconds"] for r in rs)
        t_cell = ("no course run here" if not course
                  else f"> {longest / ours:.1f}x (not reached in {longest:.0f} s)" if theirs == float("inf") and ours < float("inf")
                  else f"{theirs / ours:.2f}x")
        ratio_r = rate / _median([r["steps"] / r["seconds"] for r in course]) if course else float("nan")
        lines.append(f"| {n} | {len(rs)} | " + " | ".join(cells)
                     + f" | {_median([r['final_mmcs'] for r in rs]):.3f} (L0 {_median([r['l0'] for r in rs]):.1f})"
                     f" | {rs[0]['batch']} | {rate:.1f} | {_median([r['peak_rss_mb'] for r in rs]):.0f} MB"
                     f" ({_median([r['rss_setup_mb'] for r in rs]):.0f}) | {t_cell} | {ratio_r:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trainers", nargs="+", default=list(TRAINERS), choices=TRAINERS + EXTRA)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cap", type=float, default=60.0, help="seconds per run")
    parser.add_argument("--out", type=Path, default=Path("bench_sae_vs_saelens.jsonl"),
                        help="one JSON line per run, appended as each finishes")
    parser.add_argument("--table", type=Path, default=None, help="print the table of an earlier --out file and exit")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--allocator", choices=["notebook", "default"], default="notebook",
                        help="glibc's allocator as in a notebook kernel (keep_freed_memory), or as in bare Python")
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print("RESULT " + json.dumps(run_one(args.one, args.seed, args.cap, args.allocator)), flush=True)
        return
    if args.table:
        print(table([json.loads(line) for line in args.table.read_text().splitlines() if line.strip()]))
        return
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")  # for the trainers' processes, and so says machine()
    torch.set_num_threads(1)
    env = dict(os.environ)
    results = []
    for seed in range(args.seeds):  # interleaved: every trainer once per seed, in turn
        for name in args.trainers:
            proc = subprocess.run([sys.executable, __file__, "--one", name, "--seed", str(seed), "--cap", str(args.cap),
                                   "--allocator", args.allocator],
                                  capture_output=True, text=True, env=env, check=False)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if line is None:
                raise RuntimeError(f"{name} seed {seed} failed:\n{proc.stderr[-3000:]}")
            r = json.loads(line[len("RESULT "):])
            results.append(r)
            with args.out.open("a") as f:
                f.write(json.dumps(r) + "\n")
            hits = ", ".join(f"{t}: {h[0]:.1f} s @ {h[1]}" for t, h in r["hits"].items())
            print(f"# {name} seed {seed}: MMCS {r['final_mmcs']:.3f} after {r['steps']} steps, {r['seconds']:.1f} s, "
                  f"{r['steps'] / r['seconds']:.1f} steps/s, peak RSS {r['peak_rss_mb']:.0f} MB; {{{hits}}}; "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
    print()
    print(f"Machine: {machine()}; allocator: {args.allocator}. Median over {args.seeds} seed(s), cap {args.cap:.0f} s.")
    print()
    print(table(results))


if __name__ == "__main__":
    main()
