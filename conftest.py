"""pytest set-up for the whole repository: offline kernels, strict solutions, nbval output rules."""

from __future__ import annotations

import os
from pathlib import Path

from course_utils.course.execution import REFERENCE_KERNEL_ENV

ROOT = Path(__file__).parent

# nbval's kernels inherit this environment: the one `course build` executes solutions/ in
# (offline, one thread), and solutions/ checked strictly (see course_utils.exercises).
os.environ.update(REFERENCE_KERNEL_ENV)
os.environ["COURSE_STRICT_DIR"] = str(ROOT / "solutions")

# Outputs that nbval must not compare: plotly figure JSON and widget views (random model ids, and
# figure JSON is checked by the plot unit tests instead).
UNCOMPARED_MIME_TYPES = ("application/vnd.plotly.v1+json", "application/vnd.jupyter.widget-view+json")


def _is_uncompared(output) -> bool:
    data = output.get("data", {})
    return any(mime in data for mime in UNCOMPARED_MIME_TYPES)


def pytest_configure(config):
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:
        return
    if getattr(IPyNbCell, "_course_patched", False):
        return
    original = IPyNbCell.compare_outputs

    def compare_outputs(self, test, ref, skip_compare=None):
        test = [out for out in test if not _is_uncompared(out)]
        ref = [out for out in ref if not _is_uncompared(out)]
        return original(self, test, ref, skip_compare)

    IPyNbCell.compare_outputs = compare_outputs
    IPyNbCell._course_patched = True


def pytest_ignore_collect(collection_path, config):
    # Backups that `course build --force` / `course reset` leave next to a notebook are not tests.
    if collection_path.suffix == ".ipynb" and ".backup-" in collection_path.name:
        return True
    if ".ipynb_checkpoints" in collection_path.parts:
        return True
    return None


# Seconds a test is expected to take, for the order below: rough, but enough to put the long files first.
EXPECTED_SECONDS = {"browser": 40.0, "slow": 4.0, "notebook cell": 0.7, "other": 0.2}


def _expected_seconds(item) -> float:
    for mark in ("browser", "slow"):
        if item.get_closest_marker(mark):
            return EXPECTED_SECONDS[mark]
    return EXPECTED_SECONDS["notebook cell" if item.nodeid.split("::")[0].endswith(".ipynb") else "other"]


def pytest_collection_modifyitems(config, items):
    """Longest files first (each file runs on one worker, --dist loadfile): no long file is left for the end.

    pytest-xdist would otherwise order files by their number of tests (--no-loadscope-reorder turns that
    off), which put the two browser tests, the longest file, last, with one worker idle while it ran.
    """
    files: dict[str, list] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::")[0], []).append(item)
    ordered = sorted(files.values(), key=lambda group: -sum(map(_expected_seconds, group)))
    items[:] = [item for group in ordered for item in group]
