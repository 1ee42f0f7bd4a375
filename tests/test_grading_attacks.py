"""Attacks on `course grade`: none turns an unfilled answer into a pass or a solved one into a fail.

The grader runs the course's own notebook with only the answer regions transplanted, and judges the
outputs the checks saved in this process (docs/GRADING.md). Each attack is a learner's notebook; all
are graded in one class run on a small copy of notebook 02 (its set-up and its exercise cells), which
keeps the kernels cheap.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from course_utils.course.gradebook import Submission, grade_class
from course_utils.course.grading import course_copy
from course_utils.course.notebook_files import exercise_notebook
from course_utils.exercises import exercises_for

pytestmark = pytest.mark.slow  # the module's fixture grades a class of notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "02_antipodal_pair"
EXERCISES = [exercise.name for exercise in exercises_for(NOTEBOOK)]


def small_course() -> nbformat.NotebookNode:
    """The course's copy of notebook 02 with only its imports and exercise cells (each needs only torch)."""
    course = course_copy(NOTEBOOK)
    keep = [c for c in course.cells if c.cell_type == "code" and ("YOUR CODE HERE" in c.source)]
    course.cells = [nbformat.v4.new_code_cell("import torch\nfrom course_utils.exercises import check")] + keep
    return course


def solved() -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "solutions" / f"{NOTEBOOK}.ipynb", as_version=4)


def unfilled() -> nbformat.NotebookNode:
    return exercise_notebook(solved())


def exercise_cell(notebook, name: str):
    return next(c for c in notebook.cells if c.cell_type == "code" and f'check("{name}"' in c.source)


def in_answer(notebook, name: str, code: str):
    """Top-level code placed in exercise `name`'s answer region (after its stub or solution)."""
    cell = exercise_cell(notebook, name)
    check_line = f'{name} = check("{name}", {name})'
    cell.source = cell.source.replace(check_line, code.strip() + "\n\n" + check_line)
    return notebook


FORGE_LOG = """
import json, os
for n in EXERCISE_NAMES:
    with open(os.environ.get("COURSE_RESULTS", "results.jsonl"), "a") as f:
        f.write(json.dumps({"exercise": n, "notebook": "02_antipodal_pair", "status": "passed", "cases": 9}) + "\\n")
""".replace("EXERCISE_NAMES", repr(EXERCISES))

PATCH_VERDICTS = """
import torch
import course_utils.course.checks as _checks
import course_utils.course.compare as _compare
_passed = lambda name, cand: _checks.CheckResult(exercise=name, notebook="02_antipodal_pair", status="passed", cases=1)
_checks.run_check = _passed
_checks.verdict = lambda exercise, got, expected: _passed(exercise.name, None)
_compare.compare_values = lambda *a, **k: None
torch.allclose = torch.isclose = torch.equal = lambda *a, **k: True
"""

REPLACE_REGISTRY = """
import dataclasses
import course_utils.course.checks as _checks
_checks.load_all()
for _n in EXERCISE_NAMES:
    _ex = _checks.REGISTRY[_n]
    _checks.REGISTRY[_n] = dataclasses.replace(_ex, verify=lambda c: 1, reference=lambda *a, **k: None)
""".replace("EXERCISE_NAMES", repr(EXERCISES))

FORGE_RECORDS = """
import os, pickle, torch
import course_utils.course.records as _records
import course_utils.course.checks as _checks
class _Boom:
    def __reduce__(self):
        return (os.system, ("touch " + os.path.abspath("pwned-by-record"),))
_folder = os.environ["COURSE_RECORD_DIR"]
torch.save([torch.zeros(())] * 4, os.path.join(_folder, "linear_loss.pt"))
with open(os.path.join(_folder, "relu_loss.pt"), "wb") as _f:
    pickle.dump(_Boom(), _f)
os.symlink("/etc/hostname", os.path.join(_folder, "descent_step.pt"))
torch.save({"__course_record__": "raised", "type": "X", "not_implemented": False}, os.path.join(_folder, "expected_loss.pt"))
_records.save_record = lambda *a, **k: None
_checks.save_record = lambda *a, **k: None
"""


def edited_checks(notebook):
    """Every check line replaced by a line that claims a pass; an extra cell that forges the log."""
    for name in EXERCISES:
        cell = exercise_cell(notebook, name)
        cell.source = cell.source.replace(f'{name} = check("{name}", {name})', f'print("✅ {name}: passed (9 cases).")')
    notebook.cells.append(nbformat.v4.new_code_cell(FORGE_LOG))
    return notebook


ATTACKS = {
    "extra-cell-forges-the-log": lambda nb: (nb.cells.append(nbformat.v4.new_code_cell(FORGE_LOG)), nb)[1],
    "edited-check-lines": edited_checks,
    "answer-forges-the-log": lambda nb: in_answer(nb, "linear_loss", FORGE_LOG),
    "answer-patches-the-verdicts": lambda nb: in_answer(nb, "linear_loss", PATCH_VERDICTS),
}
"""Attacks tried on an unfilled and on a solved notebook: nothing passes, or everything does."""

SABOTAGE = {
    "unfilled-replaces-the-registry": lambda: in_answer(unfilled(), "linear_loss", REPLACE_REGISTRY),
    "unfilled-forges-records": lambda: in_answer(unfilled(), "linear_loss", FORGE_RECORDS),
}
"""Attacks that also stop the checks after them from saving outputs: tried on an unfilled notebook only
(on a solved one they lower the grade, which is no gain)."""


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every attack on an unfilled and on a solved notebook, plus the record forgeries, graded in one run."""
    folder = tmp_path_factory.mktemp("attacks")
    submissions, snapshots = [], {}
    for attack, apply in ATTACKS.items():
        for start, make in (("unfilled", unfilled), ("solved", solved)):
            path = folder / f"{start}-{attack}.ipynb"
            nbformat.write(apply(make()), path)
            submissions.append(Submission(student=f"{start}-{attack}", path=path))
    for name, make in {**SABOTAGE, "solved-calls-the-reference": reference_caller}.items():
        path = folder / f"{name}.ipynb"
        nbformat.write(make(), path)
        submissions.append(Submission(student=name, path=path))
    snapshots = {s.path: s.path.read_bytes() for s in submissions}
    rows = grade_class(submissions, jobs=2, notebook_timeout=120, show_bar=False, courses={NOTEBOOK: small_course()})
    assert {s.path: s.path.read_bytes() for s in submissions} == snapshots
    return {row.student: row for row in rows}


def reference_caller():
    """The documented limit: an answer that calls the course's reference passes, and is flagged."""
    notebook = unfilled()
    cell = exercise_cell(notebook, "linear_loss")
    cell.source = cell.source.replace(
        "    # YOUR CODE HERE\n    raise NotImplementedError()",
        "    from course_utils.toy_models.antipodal import linear_loss as reference\n    return reference(f1, f2)",
    )
    return notebook


def statuses(row) -> dict[str, str]:
    assert row.report is not None, row.problem
    return {r.exercise: r.status for r in row.report.rows}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_attack_leaves_an_unfilled_notebook_with_nothing_passed(graded, attack):
    row = graded[f"unfilled-{attack}"]
    assert list(statuses(row)) == EXERCISES
    assert "passed" not in statuses(row).values(), row.report.to_dict()


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_attack_leaves_a_solved_notebook_with_everything_passed(graded, attack):
    row = graded[f"solved-{attack}"]
    assert set(statuses(row).values()) == {"passed"}, row.report.to_dict()


@pytest.mark.parametrize("name", sorted(SABOTAGE))
def test_sabotage_leaves_an_unfilled_notebook_with_nothing_passed(graded, name):
    assert "passed" not in statuses(graded[name]).values(), graded[name].report.to_dict()


def test_extra_and_edited_cells_are_reported_as_not_run(graded):
    notes = " ".join(graded["unfilled-extra-cell-forges-the-log"].report.notes)
    assert re.search(r"your code cells [\d, ]+.* not run", notes), notes
    notes = " ".join(graded["unfilled-edited-check-lines"].report.notes)
    assert "replaced by the course's" in notes and "print(" in notes, notes


def test_forged_records_are_refused_and_unpickle_no_code(graded, tmp_path):
    row = graded["unfilled-forges-records"]
    assert "passed" not in statuses(row).values()
    messages = {r.exercise: r.message for r in row.report.rows}
    assert "could not be read safely" in messages["relu_loss"]
    assert "symbolic link" in messages["descent_step"]
    assert not list(Path.cwd().glob("pwned-by-record")) and not list(tmp_path.glob("pwned-by-record"))


def test_an_answer_that_calls_the_reference_passes_but_is_flagged(graded):
    row = graded["solved-calls-the-reference"]
    assert statuses(row)["linear_loss"] == "passed"
    assert any("linear_loss" in flag and "course_utils" in flag for flag in row.report.flags), row.report.flags
