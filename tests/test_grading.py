"""`course grade`: a table of verdicts from an executed copy; the learner's file is never touched."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from processes import kernels_left_running

from course_utils.course.cli import main
from course_utils.exercises import exercises_for

pytestmark = pytest.mark.slow  # every grade runs notebook 01 in a fresh kernel

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "01_polysemanticity"  # the fastest notebook; its grade runs are the slow part of this file


def snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def grade_json(path: Path, capsys, *extra: str) -> tuple[int, dict]:
    code = main(["grade", str(path), "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def planted(tmp_path: Path, new_source, name: str = "planted.ipynb") -> Path:
    """A copy of the solution notebook with one cell changed by `new_source(cells) -> None`."""
    notebook = nbformat.read(ROOT / "solutions" / f"{NOTEBOOK}.ipynb", as_version=4)
    new_source(notebook.cells)
    path = tmp_path / name
    nbformat.write(notebook, path)
    return path


def first_exercise_cell(cells) -> int:
    return next(i for i, c in enumerate(cells) if c.cell_type == "code" and "### BEGIN SOLUTION" in c.source)


def test_solved_notebook_passes_every_exercise_and_is_unchanged(tmp_path, capsys):
    path = tmp_path / f"{NOTEBOOK}.ipynb"
    shutil.copy2(ROOT / "solutions" / f"{NOTEBOOK}.ipynb", path)
    before = snapshot(path)
    code, report = grade_json(path, capsys)
    assert code == 0, report
    names = [row["exercise"] for row in report["exercises"]]
    assert names == [ex.name for ex in exercises_for(NOTEBOOK)] and len(names) >= 3
    assert {row["status"] for row in report["exercises"]} == {"passed"}
    assert snapshot(path) == before
    assert not kernels_left_running()


def test_unfilled_notebook_is_not_attempted_and_untouched(capsys):
    path = ROOT / "notebooks" / f"{NOTEBOOK}.ipynb"
    before = snapshot(path)
    code = main(["grade", str(path)])
    out = capsys.readouterr().out
    assert code == 1
    rows = [line for line in out.splitlines() if "not attempted" in line and "passed (" not in line]
    assert len(rows) == len(exercises_for(NOTEBOOK))
    assert re.search(r"0 of \d+ passed", out)
    assert snapshot(path) == before


def test_planted_wrong_answer_fails_with_its_message(tmp_path, capsys):
    def plant(cells):
        index = first_exercise_cell(cells)
        cells[index].source = re.sub(
            r"### BEGIN SOLUTION\n(.*?)### END SOLUTION",
            lambda m: 'raise ValueError("planted bug")\n',
            cells[index].source,
            flags=re.DOTALL,
        )

    code, report = grade_json(planted(tmp_path, plant), capsys)
    assert code == 1
    failed = [row for row in report["exercises"] if row["status"] == "failed"]
    assert len(failed) == 1 and "planted bug" in failed[0]["message"]
    assert report["counts"]["passed"] == len(report["exercises"]) - 1


@pytest.mark.parametrize(
    ("bad_code", "fragment", "extra"),
    [
        ("undefined_name + 1", "raised NameError: name 'undefined_name' is not defined", []),
        ("while True:\n    pass", "did not finish within 6 s", ["--timeout", "6"]),
        ("import os\nos._exit(1)", "crashed the Python kernel", []),
    ],
)
def test_an_answer_that_breaks_stops_grading_clearly(tmp_path, capsys, bad_code, fragment, extra):
    """Code in an answer region runs (at the cell's top level here); what stops the run is reported."""
    index = first_exercise_cell(nbformat.read(ROOT / "solutions" / f"{NOTEBOOK}.ipynb", as_version=4).cells)

    def plant(cells):
        cells[index].source = cells[index].source.replace("### END SOLUTION\n", "### END SOLUTION\n\n" + bad_code + "\n", 1)

    code = main(["grade", str(planted(tmp_path, plant)), *extra])
    out = capsys.readouterr().out
    assert code == 1
    assert f"stopped: cell {index + 1} " in out and fragment in out
    assert "not reached" in out and "Traceback" not in out
    assert not kernels_left_running()  # a kernel stopped by a time-out would go on spinning


def test_a_cell_outside_the_answers_is_not_run_and_is_reported(tmp_path, capsys):
    """The grader runs the course's own cells: a learner's extra cell (here one that kills the kernel) is left out."""
    path = planted(tmp_path, lambda cells: cells.insert(2, nbformat.v4.new_code_cell("import os\nos._exit(1)")))
    code, report = grade_json(path, capsys)
    assert code == 0 and {row["status"] for row in report["exercises"]} == {"passed"}
    assert any("your code cells 3 " in note and "not run" in note for note in report["notes"]), report["notes"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "no such file"),
        ("{oops", "invalid JSON"),
        (json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}), "not one of the course's notebooks"),
    ],
)
def test_bad_input_gives_one_clear_line_and_exit_2(tmp_path, capsys, content, fragment):
    path = tmp_path / "x.ipynb"
    if content is not None:
        path.write_text(content)
    assert main(["grade", str(path)]) == 2
    captured = capsys.readouterr()
    assert fragment in captured.err and len(captured.err.strip().splitlines()) == 1
    assert captured.out == ""


def test_grade_leaves_a_read_only_notebook_alone(tmp_path, capsys):
    path = tmp_path / "ro.ipynb"
    shutil.copy2(ROOT / "notebooks" / f"{NOTEBOOK}.ipynb", path)
    os.chmod(path, 0o444)
    before = snapshot(path)
    main(["grade", str(path)])
    assert snapshot(path) == before
