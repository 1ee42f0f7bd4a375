"""How long each solution notebook takes as a learner runs it: a fresh `python3` kernel with default
settings (no thread variables set), started by nbclient as JupyterLab starts one, kernel start included,
every cell in order. Prints one row per notebook with the median of --runs runs and its budget.

    python benchmarks/bench_notebooks.py                 # every notebook, 3 runs each (interleaved)
    python benchmarks/bench_notebooks.py 03 09 --runs 5  # some of them
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = {"09": 90.0, "10": 90.0}
"""The transformer chapters' budget; every other notebook has 45 s (README, "The course map")."""
DEFAULT_BUDGET_S = 45.0
LEARNER_UNSET = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "COURSE_STRICT", "COURSE_STRICT_DIR")
"""Variables the course's own tools set for their kernels and a learner's JupyterLab does not."""


def run_once(path: Path) -> float:
    """Seconds from asking for a kernel to the last cell's end."""
    notebook = nbformat.read(path, as_version=4)
    env = {key: value for key, value in os.environ.items() if key not in LEARNER_UNSET}
    env["HF_HUB_OFFLINE"] = "1"
    client = NotebookClient(notebook, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute(env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="notebook numbers or names (default: all)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each notebook, interleaved (default 3)")
    args = parser.parse_args()
    paths = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
    if args.names:
        paths = [p for p in paths if any(p.stem == n or p.stem.startswith(n + "_") for n in args.names)]
    if not paths:
        raise SystemExit("no such notebooks in solutions/")
    times: dict[Path, list[float]] = {p: [] for p in paths}
    load_start = os.getloadavg()[0]
    for _ in range(args.runs):
        for path in paths:
            times[path].append(run_once(path))
    load_end = os.getloadavg()[0]
    print(f"{len(paths)} notebooks, {args.runs} runs each; load average {load_start:.1f} at the start, {load_end:.1f} at the end")
    print("| notebook | median | range | budget | under half |\n| --- | ---: | --- | ---: | --- |")
    for path, runs in times.items():
        budget = BUDGET_S.get(path.stem[:2], DEFAULT_BUDGET_S)
        median = statistics.median(runs)
        print(f"| `{path.stem}` | {median:.1f} s | {min(runs):.1f}-{max(runs):.1f} s | {budget:.0f} s | "
              f"{'yes' if median < budget / 2 else 'NO'} |")


if __name__ == "__main__":
    main()
