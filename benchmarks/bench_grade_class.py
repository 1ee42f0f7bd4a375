"""Time `course grade` on a class: N copies of solutions/02 (all answers right), graded JOBS at a time.

Run from the course folder: python benchmarks/bench_grade_class.py [--copies 30] [--jobs 2]
Each copy is graded as a teacher's `course grade submissions/` would: rebuilt from the course's copy,
run in its own kernel and temporary folder, judged outside the kernel.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from course_utils.course.gradebook import find_submissions, grade_class, write_gradebook

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--notebook", default="02_antipodal_pair")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        folder = Path(tmp) / "submissions"
        for k in range(args.copies):
            (folder / f"student{k:02d}").mkdir(parents=True)
            shutil.copy2(ROOT / "solutions" / f"{args.notebook}.ipynb", folder / f"student{k:02d}" / f"{args.notebook}.ipynb")
        start = time.perf_counter()
        rows = grade_class(find_submissions([str(folder)]), jobs=args.jobs, notebook_timeout=600)
        write_gradebook(rows, Path(tmp) / "out")
        seconds = time.perf_counter() - start
    passed = sum(1 for row in rows if row.report is not None and row.report.all_passed)
    each = [row.report.seconds for row in rows if row.report is not None]
    print(f"{args.copies} copies of {args.notebook}, {args.jobs} at a time: {seconds:.1f} s in all, "
          f"{seconds / args.copies:.1f} s per notebook; each notebook took {statistics.median(each):.1f} s "
          f"(median; {min(each):.1f}-{max(each):.1f}); {passed} of {len(rows)} all passed; "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
