"""Solution notebooks stay small: figures keep what the eye can see (coarse grids, rounded float32)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_BYTES = 1_000_000
SOLUTIONS = sorted(p.name for p in (ROOT / "solutions").glob("[0-9][0-9]_*.ipynb") if ".backup-" not in p.name)


def test_there_are_solution_notebooks():
    assert len(SOLUTIONS) >= 6


@pytest.mark.parametrize("name", SOLUTIONS)
def test_solution_notebook_is_under_1_mb(name):
    size = (ROOT / "solutions" / name).stat().st_size
    assert size < MAX_BYTES, (
        f"solutions/{name} is {size / 1e6:.2f} MB (limit 1 MB): thin its figures (fewer grid points, "
        "values rounded to 3 decimals) or show fewer of them"
    )
