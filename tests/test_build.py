"""`course build`: notebooks/ generated from solutions/, in sync, and a learner's work never lost."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from course_utils.course.build import sync_exercise_notebook
from course_utils.course.cli import main
from course_utils.course.notebook_files import (
    dumps,
    exercise_notebook,
    is_backup,
    read_course_notebook,
)

ROOT = Path(__file__).resolve().parents[1]


def test_committed_notebooks_are_in_sync_with_solutions(capsys, monkeypatch):
    """The repository invariant: `course build --check` passes on what is committed."""
    monkeypatch.chdir(ROOT)
    assert main(["build", "--check"]) == 0, capsys.readouterr().out


def test_every_solution_has_an_exercise_notebook_and_vice_versa():
    solutions = {p.name for p in (ROOT / "solutions").glob("*.ipynb") if not is_backup(p)}
    notebooks = {p.name for p in (ROOT / "notebooks").glob("*.ipynb") if not is_backup(p)}
    assert solutions == notebooks
    assert solutions, "the course has no notebooks"


@pytest.fixture
def course(tmp_path, monkeypatch):
    """A throwaway course folder holding a copy of one real solution notebook."""
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "solutions").mkdir()
    (tmp_path / "notebooks").mkdir()
    source = sorted((ROOT / "solutions").glob("*.ipynb"))[0]
    shutil.copy(source, tmp_path / "solutions" / source.name)
    monkeypatch.chdir(tmp_path)
    return tmp_path, source.name


def test_round_trip_writes_then_is_unchanged(course, capsys):
    root, name = course
    assert main(["build", "--no-execute"]) == 0
    written = (root / "notebooks" / name).read_text()
    solution = read_course_notebook(root / "solutions" / name)
    assert written == dumps(exercise_notebook(solution))
    assert "# YOUR CODE HERE" in written and "### BEGIN SOLUTION" not in written
    assert main(["build", "--no-execute"]) == 0
    assert "unchanged" in capsys.readouterr().out.splitlines()[-1]
    assert main(["build", "--check"]) == 0


def test_check_fails_when_solutions_changed(course, capsys):
    root, name = course
    main(["build", "--no-execute"])
    solution = nbformat.read(root / "solutions" / name, as_version=4)
    solution.cells.append(nbformat.v4.new_markdown_cell("A new paragraph."))
    nbformat.write(solution, root / "solutions" / name)
    capsys.readouterr()
    assert main(["build", "--check"]) == 1
    assert "out of date" in capsys.readouterr().out
    # An untouched generated notebook is simply regenerated: no --force needed, no backup.
    assert main(["build", "--no-execute"]) == 0
    assert main(["build", "--check"]) == 0
    assert not [p for p in (root / "notebooks").iterdir() if is_backup(p)]


def test_check_fails_on_a_missing_exercise_notebook(course, capsys):
    assert main(["build", "--check"]) == 1
    assert "missing" in capsys.readouterr().out


def test_refuses_to_overwrite_learners_work_then_force_keeps_a_backup(course, capsys):
    root, name = course
    main(["build", "--no-execute"])
    target = root / "notebooks" / name
    learner = nbformat.read(target, as_version=4)
    learner.cells.append(nbformat.v4.new_code_cell("my_answer = 42"))
    nbformat.write(learner, target)
    learner_bytes = target.read_bytes()

    step = sync_exercise_notebook(root / "solutions" / name, root, force=False, check_only=False)
    assert step.action == "refused" and "--force" in step.detail
    assert target.read_bytes() == learner_bytes
    assert main(["build", "--no-execute"]) == 1
    assert target.read_bytes() == learner_bytes

    assert main(["build", "--no-execute", "--force"]) == 0
    backups = [p for p in (root / "notebooks").iterdir() if is_backup(p)]
    assert len(backups) == 1 and backups[0].read_bytes() == learner_bytes
    assert "my_answer = 42" not in target.read_text()
    assert str(backups[0]) in capsys.readouterr().out


def test_outside_the_course_folder_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["build", "--check"]) == 2
    err = capsys.readouterr().err
    assert "not inside the course folder" in err and "Traceback" not in err


def test_unknown_notebook_name_is_a_clear_error(course, capsys):
    assert main(["build", "--no-execute", "99_nothing"]) == 2
    assert "no solution notebook matches 99_nothing" in capsys.readouterr().err
