"""`course grade` on a class: many submissions in one call, each in isolation, into one gradebook.

A throwaway course folder with small synthetic solutions (one cell per exercise of notebook 01, the
reference as the answer) keeps each kernel cheap; the submissions cover what a teacher receives.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nbformat
import pytest
from processes import kernels_left_running

from course_utils.course.cli import main
from course_utils.course.contents import notebook_modules
from course_utils.course.gradebook import find_submissions, student_name
from course_utils.course.notebook_files import NotebookProblem, dumps, exercise_notebook
from course_utils.exercises import exercises_for

NOTEBOOK = list(notebook_modules())[0]
NAMES = [ex.name for ex in exercises_for(NOTEBOOK)]


def exercise_cell(name: str) -> str:
    return (
        f"def {name}(*args, **kwargs):\n"
        "    ### BEGIN SOLUTION\n"
        f"    return get_exercise({name!r}).reference(*args, **kwargs)\n"
        "    ### END SOLUTION\n\n"
        f'{name} = check("{name}", {name})'
    )


def synthetic_solution() -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["course"] = {"id": NOTEBOOK, "title": "synthetic"}
    notebook.cells = [nbformat.v4.new_code_cell("from course_utils.exercises import check, get_exercise")]
    notebook.cells += [nbformat.v4.new_code_cell(exercise_cell(name)) for name in NAMES]
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"
    return notebook


def submission(answers: dict[str, str]) -> str:
    """The exercise notebook with some answers' bodies replaced (by name); the others left unfilled."""
    notebook = exercise_notebook(synthetic_solution())
    for cell in notebook.cells[1:]:
        name = cell.source.split("(")[0].removeprefix("def ")
        if name in answers:
            cell.source = cell.source.replace("    # YOUR CODE HERE\n    raise NotImplementedError()", answers[name])
    return dumps(notebook)


RIGHT = "    return get_exercise({name!r}).reference(*args, **kwargs)"
CLASS = {
    # hanging; named to sort first, so that its time-out runs while the others are graded
    "abe/NB.ipynb": {NAMES[0]: RIGHT, NAMES[1]: "    while True:\n        pass"},
    "alice/NB.ipynb": {name: RIGHT for name in NAMES},  # solved
    "bob/NB.ipynb": {},  # unfilled
    "carol/NB.ipynb": {NAMES[0]: RIGHT, NAMES[1]: "    return 2 * get_exercise({name!r}).reference(*args, **kwargs)"},
    "dave/NB.ipynb": {NAMES[0]: "    raise ValueError('my bug')"},  # raising
    "frank/NB.ipynb": None,  # not JSON
    "grace.ipynb": {name: RIGHT for name in NAMES},  # the student named by the file
}


@pytest.fixture
def course(tmp_path, monkeypatch):
    """A course folder (synthetic solutions of notebook 01) with a class's submissions in it."""
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / f"{NOTEBOOK}.ipynb").write_text(dumps(synthetic_solution()))
    for where, answers in CLASS.items():
        path = tmp_path / "submissions" / where.replace("NB", NOTEBOOK)
        path.parent.mkdir(parents=True, exist_ok=True)
        if answers is None:
            path.write_text('{"cells": [')
        else:
            path.write_text(submission({name: code.format(name=name) for name, code in answers.items()}))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_a_class_is_graded_in_one_call_into_a_gradebook(course, capsys):
    before = files_of(course / "submissions")
    code = main(["grade", "submissions", "--out", "marks", "--feedback", "feedback", "--notebook-timeout", "20"])
    captured = capsys.readouterr()
    assert code == 0, captured
    assert files_of(course / "submissions") == before  # the learners' files are byte-identical
    assert not kernels_left_running()  # abe's endless loop included
    assert "grading" in captured.err  # the progress bar

    book = json.loads((course / "marks" / "gradebook.json").read_text())
    rows = {row["student"]: row for row in book["rows"]}
    assert sorted(rows) == ["abe", "alice", "bob", "carol", "dave", "frank", "grace"]
    status = {student: [e["status"] for e in row["exercises"]] for student, row in rows.items()}
    rest = len(NAMES) - 2
    assert status["alice"] == status["grace"] == ["passed"] * len(NAMES)
    assert status["bob"] == ["not attempted"] * len(NAMES)
    assert status["carol"] == ["passed", "failed"] + ["not attempted"] * rest
    assert status["dave"] == ["failed"] + ["not attempted"] * (len(NAMES) - 1)
    assert status["abe"] == ["passed"] + ["not reached"] * (len(NAMES) - 1)
    assert rows["frank"]["state"] == "unusable" and "invalid JSON" in rows["frank"]["problem"]
    assert rows["abe"]["state"] == "stopped" and "did not finish within 20 s" in rows["abe"]["problem"]
    assert "values differ" in rows["carol"]["exercises"][1]["message"] and rows["carol"]["exercises"][1]["inputs"]
    assert "raised ValueError: my bug" in rows["dave"]["exercises"][0]["message"]
    assert [rows[s]["passed"] for s in ("abe", "alice", "bob", "carol", "dave", "frank")] == [1, len(NAMES), 0, 1, 0, 0]
    assert book["passed_by_exercise"][NAMES[0]] == 4

    with (course / "marks" / "gradebook.csv").open(newline="") as file:
        table = list(csv.DictReader(file))
    assert [r["student"] for r in table] == sorted(rows)
    carol = next(r for r in table if r["student"] == "carol")
    assert (carol["passed"], carol["total"], carol[f"{NAMES[1]} status"]) == ("1", str(len(NAMES)), "failed")
    assert "values differ" in carol[f"{NAMES[1]} message"]
    assert "looks up a course exercise" in carol["flags"]  # the synthetic answers call get_exercise(...).reference

    feedback = {p.name: p.read_text() for p in (course / "feedback").glob("*.md")}
    assert sorted(feedback) == [f"{s}.md" for s in sorted(rows)]
    assert f"1 of {len(NAMES)} exercises passed" in feedback["carol.md"] and "on input:" in feedback["carol.md"]
    assert "not graded" in feedback["frank.md"] and "invalid JSON" in feedback["frank.md"]
    assert "did not finish" in feedback["abe.md"]


def test_students_are_named_by_folder_or_file():
    assert student_name(Path("class/alice/01_polysemanticity.ipynb")) == "alice"
    assert student_name(Path("class/alice/05_sparse_autoencoders.ipynb")) == "alice"  # a former name
    assert student_name(Path("class/bob_smith.ipynb")) == "bob_smith"


def test_folders_and_globs_find_the_notebooks_but_not_backups(tmp_path):
    for name in ("a/01_polysemanticity.ipynb", "a/01_polysemanticity.backup-2025-01-01T00-00-00.ipynb",
                 "a/.ipynb_checkpoints/01_polysemanticity-checkpoint.ipynb", "b/01_polysemanticity.ipynb"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    found = find_submissions([str(tmp_path)])
    assert [(s.student, s.path.name) for s in found] == [("a", "01_polysemanticity.ipynb"), ("b", "01_polysemanticity.ipynb")]
    assert find_submissions([str(tmp_path / "*" / "01_*.ipynb")]) == found
    with pytest.raises(NotebookProblem, match="matches no file"):
        find_submissions([str(tmp_path / "*" / "09_*.ipynb")])


@pytest.mark.parametrize(("args", "fragment"), [
    (["grade", "nowhere/", "--out", "x"], "no such file or folder"),
    (["grade", "empty", "--out", "x"], "holds no notebook"),
    (["grade", "empty", "--jobs", "0"], "at least one notebook at a time"),
])
def test_a_bad_class_gives_one_clear_line(tmp_path, monkeypatch, capsys, args, fragment):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()
