"""The learner's workflow through the real CLI: work is never lost, bad input gets one clear message.

Small synthetic course notebooks (one cell per exercise, the reference as the answer) stand in for the
real ones where a notebook is executed; reset is also run on every real notebook (it executes nothing).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import nbformat
import pytest

from course_utils.course.cli import main
from course_utils.course.contents import former_names, notebook_modules
from course_utils.course.notebook_files import (
    dumps,
    exercise_notebook,
    is_backup,
    read_course_notebook,
)
from course_utils.exercises import exercises_for

ROOT = Path(__file__).resolve().parents[1]
COURSE_IDS = list(notebook_modules())
FIRST, SECOND = COURSE_IDS[0], COURSE_IDS[1]


def _exercise_cell(name: str) -> str:
    ident = re.sub(r"\W", "_", name)
    return (
        f"def {ident}(*args, **kwargs):\n"
        "    ### BEGIN SOLUTION\n"
        f"    return get_exercise({name!r}).reference(*args, **kwargs)\n"
        "    ### END SOLUTION\n\n"
        f'{ident} = check("{name}", {ident})'
    )


def synthetic_solution(course_id: str) -> nbformat.NotebookNode:
    """A tiny solution notebook for `course_id`: one cell per exercise that answers with the reference."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["course"] = {"id": course_id, "title": "synthetic"}
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# A synthetic course notebook"),
        nbformat.v4.new_code_cell("from course_utils.exercises import check, get_exercise"),
        *(nbformat.v4.new_code_cell(_exercise_cell(ex.name)) for ex in exercises_for(course_id)),
    ]
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"
    return notebook


def learner_notebook(
    course_id: str, *, solved: int = 0, broken: int = 0, extra_cell: str | None = None, in_answer: str | None = None
) -> str:
    """The exercise notebook with the first `solved` exercises answered right, the next `broken` wrong;
    `extra_cell` is a cell of the learner's own (grading does not run it), `in_answer` top-level code put
    into the first exercise's answer (grading runs it)."""
    solution = synthetic_solution(course_id)
    notebook = exercise_notebook(solution)
    for k in range(solved + broken):
        cell = notebook.cells[2 + k]
        if k < solved:
            cell.source = solution.cells[2 + k].source
        else:
            cell.source = cell.source.replace("raise NotImplementedError()", "raise ValueError('my bug')")
    if in_answer is not None:
        first = notebook.cells[2]
        check_line = first.source.split("\n")[-1]
        first.source = first.source.removesuffix(check_line) + in_answer + "\n\n" + check_line
    if extra_cell is not None:
        notebook.cells.insert(2, nbformat.v4.new_code_cell(extra_cell, id="extra"))
    return dumps(notebook)


@pytest.fixture
def course(tmp_path, monkeypatch):
    """A throwaway course folder: synthetic solutions of two notebooks, and a learner's first notebook."""
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "solutions").mkdir()
    (tmp_path / "notebooks").mkdir()
    for course_id in (FIRST, SECOND):
        (tmp_path / "solutions" / f"{course_id}.ipynb").write_text(dumps(synthetic_solution(course_id)))
    (tmp_path / "notebooks" / f"{FIRST}.ipynb").write_text(learner_notebook(FIRST, solved=1, broken=1))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file in a folder with its bytes and modification time."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def one_clear_error(capsys, *phrases: str) -> str:
    """The command printed exactly one line on stderr, no traceback, containing `phrases`."""
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    for phrase in phrases:
        assert phrase in err, err
    return err


# --- grade and progress only read the learner's files ----------------------------------------------


def test_grade_leaves_the_learners_file_byte_identical(course, capsys):
    path = course / "notebooks" / f"{FIRST}.ipynb"
    before = snapshot(course / "notebooks")
    assert main(["grade", str(path), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    statuses = [row["status"] for row in report["exercises"]]
    assert statuses[:2] == ["passed", "failed"]
    assert set(statuses[2:]) == {"not attempted"}
    assert snapshot(course / "notebooks") == before


def test_progress_tabulates_the_course_and_leaves_files_byte_identical(course, capsys):
    (course / "notebooks" / "scratch.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))
    before = snapshot(course / "notebooks")
    assert main(["progress", "--json"]) == 1
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert "grading" in captured.err  # the progress bar
    rows = {row["notebook"]: row for row in result["notebooks"]}
    n_first = len(exercises_for(FIRST))
    assert rows[FIRST]["state"] == "graded"
    assert rows[FIRST]["counts"] == {"passed": 1, "failed": 1, "not attempted": n_first - 2, "not reached": 0}
    assert rows[SECOND]["state"] == "missing" and "course reset" in rows[SECOND]["problem"]
    assert result["total"]["passed"] == 1 and result["exercises"] == n_first
    assert result["not_course_notebooks"] == ["scratch.ipynb"]
    assert snapshot(course / "notebooks") == before


def test_progress_table_has_a_row_per_notebook_and_a_total(course, capsys):
    (course / "notebooks" / f"{SECOND}.ipynb").write_text("{ not json")
    assert main(["progress"]) == 2  # a notebook could not be graded
    out = capsys.readouterr().out
    first_row = next(line for line in out.splitlines() if line.strip().startswith(FIRST))
    assert first_row.split()[1:] == ["1", "1", str(len(exercises_for(FIRST)) - 2), "0"]
    assert re.search(rf"^\s+{SECOND}(\s+-){{4}}$", out, re.MULTILINE)
    assert re.search(r"^\s+total\s+1\s+1\s", out, re.MULTILINE)
    assert f"{SECOND}: unusable:" in out and "invalid JSON" in out and "course reset" in out


def test_progress_outside_the_course_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["progress"]) == 2
    one_clear_error(capsys, "not inside the course folder")


# --- a kernel that dies ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["grade", "progress"])
def test_a_kernel_that_dies_mid_run_is_one_clear_message(course, capsys, command):
    path = course / "notebooks" / f"{FIRST}.ipynb"
    path.write_text(learner_notebook(FIRST, solved=1, in_answer="import os\nos._exit(1)"))
    before = snapshot(course / "notebooks")
    assert main([command] + ([str(path)] if command == "grade" else [])) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    stopped = [line for line in captured.out.splitlines() if "stopped" in line and "kernel" in line]
    assert len(stopped) == 1 and "cell 3" in stopped[0], captured.out
    assert "not reached" in captured.out
    assert snapshot(course / "notebooks") == before


# --- bad input -----------------------------------------------------------------------------------------


def test_a_notebook_that_is_not_json_is_one_clear_message(course, capsys):
    path = course / "notebooks" / f"{FIRST}.ipynb"
    path.write_text('{"cells": [')
    assert main(["grade", str(path)]) == 2
    one_clear_error(capsys, "invalid JSON", "course reset")
    assert main(["reset", str(path), "--exercise", exercises_for(FIRST)[0].name]) == 2
    one_clear_error(capsys, "invalid JSON", "without --exercise")
    assert path.read_text() == '{"cells": ['


def test_a_notebook_from_elsewhere_is_one_clear_message(course, capsys):
    path = course / "notebooks" / "downloaded.ipynb"
    path.write_text(nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])))
    before = path.read_bytes()
    assert main(["grade", str(path)]) == 2
    one_clear_error(capsys, "not one of the course's notebooks")
    assert main(["reset", str(path)]) == 2
    one_clear_error(capsys, "not one of the course's notebooks")
    assert path.read_bytes() == before
    assert not [p for p in path.parent.iterdir() if is_backup(p)]


def test_a_missing_path_is_one_clear_message(course, capsys):
    assert main(["grade", "notebooks/nothing_here.ipynb"]) == 2
    one_clear_error(capsys, "no such file")
    assert main(["reset", "notebooks/01_polysemanticty.ipynb"]) == 2  # a typo
    one_clear_error(capsys, "no such file", "not one of the course's notebooks")
    assert main(["reset", "notebooks"]) == 2
    one_clear_error(capsys, "is a folder")
    assert main(["progress", "no_such_folder"]) == 2
    one_clear_error(capsys, "no such folder")


def test_reset_of_a_deleted_course_notebook_writes_it_again(course, capsys):
    path = course / "notebooks" / f"{SECOND}.ipynb"
    assert main(["reset", str(path)]) == 0
    assert path.read_text() == dumps(exercise_notebook(read_course_notebook(course / "solutions" / path.name)))
    assert "saved as" not in capsys.readouterr().out


def test_reset_refuses_the_solutions_and_backups(course, capsys):
    solution = course / "solutions" / f"{FIRST}.ipynb"
    before = solution.read_bytes()
    assert main(["reset", str(solution)]) == 2
    one_clear_error(capsys, "worked solution")
    assert solution.read_bytes() == before
    backup = course / "notebooks" / f"{FIRST}.backup-2026-01-01T00-00-00.ipynb"
    backup.write_text("{}")
    assert main(["reset", str(backup)]) == 2
    one_clear_error(capsys, "is a backup")


def test_reset_of_an_unknown_exercise_names_the_real_ones(course, capsys):
    path = course / "notebooks" / f"{FIRST}.ipynb"
    before = path.read_bytes()
    assert main(["reset", str(path), "--exercise", "no_such_exercise"]) == 2
    err = one_clear_error(capsys, "no exercise 'no_such_exercise'")
    assert all(ex.name in err for ex in exercises_for(FIRST))
    assert path.read_bytes() == before


@pytest.fixture
def read_only(monkeypatch):
    """Make a folder refuse new files: chmod, else (as root) chattr +i, else the OS's refusal simulated."""
    made: list[Path] = []

    def make(folder: Path) -> str:
        folder.chmod(0o555)
        made.append(folder)
        if not _writable(folder):
            return "chmod"
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0 and not _writable(folder):
            return "chattr"
        _refuse_writes_in(folder, monkeypatch)  # root without chattr: simulate what the OS would say
        return "simulated"

    yield make
    for folder in made:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
        folder.chmod(0o755)


def _writable(folder: Path) -> bool:
    probe = folder / ".probe"
    try:
        probe.write_text("")
    except OSError:
        return False
    probe.unlink()
    return True


def _refuse_writes_in(folder: Path, monkeypatch) -> None:
    import builtins

    real_open, real_os_open = builtins.open, os.open

    def inside(path) -> bool:
        try:
            return Path(path).resolve().parent == folder.resolve()
        except TypeError:
            return False

    def guarded_open(file, mode="r", *args, **kwargs):
        if inside(file) and any(c in mode for c in "wax+"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path, flags, *args, **kwargs):
        if inside(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise PermissionError(13, "Permission denied", str(path))
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)


def test_reset_in_a_read_only_folder_changes_nothing(course, capsys, read_only):
    folder = course / "notebooks"
    path = folder / f"{FIRST}.ipynb"
    before = snapshot(folder)
    how = read_only(folder)
    assert main(["reset", str(path)]) == 2, how
    one_clear_error(capsys, "cannot write", "nothing was changed")
    assert main(["reset", str(path), "--exercise", exercises_for(FIRST)[0].name]) == 2, how
    one_clear_error(capsys, "cannot write", "nothing was changed")
    assert snapshot(folder) == before


# --- notebooks under their names from before the renumbering (six notebooks -> ten) -------------------

OLD_ID, NEW_ID = "05_sparse_autoencoders", "07_sparse_autoencoders"


@pytest.fixture
def old_clone(tmp_path, monkeypatch):
    """A course folder of today, and a learner's notebook from a clone made before the renumbering:
    its file name and its metadata carry the old id."""
    assert former_names()[OLD_ID] == NEW_ID
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "solutions").mkdir()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "solutions" / f"{NEW_ID}.ipynb").write_text(dumps(synthetic_solution(NEW_ID)))
    old = exercise_notebook(synthetic_solution(NEW_ID))
    old.metadata["course"]["id"] = OLD_ID
    (tmp_path / "notebooks" / f"{OLD_ID}.ipynb").write_text(dumps(old))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_progress_grades_an_old_named_notebook_as_its_new_one_and_says_so(old_clone, capsys):
    before = snapshot(old_clone / "notebooks")
    assert main(["progress", "--json"]) == 1
    rows = json.loads(capsys.readouterr().out)["notebooks"]
    assert [row["notebook"] for row in rows] == [NEW_ID]
    row = rows[0]
    assert row["state"] == "graded" and row["path"].endswith(f"{OLD_ID}.ipynb")
    assert row["former_id"] == OLD_ID and f"now called {NEW_ID}.ipynb" in row["renamed"]
    assert {ex["status"] for ex in row["exercises"]} == {"not attempted"}
    assert len(row["exercises"]) == len(exercises_for(NEW_ID))
    assert main(["progress"]) == 1
    table = capsys.readouterr().out
    assert f"{OLD_ID}.ipynb is now called {NEW_ID}.ipynb" in table
    assert snapshot(old_clone / "notebooks") == before


def test_grade_of_an_old_named_notebook_says_what_it_is_called_now(old_clone, capsys):
    assert main(["grade", f"notebooks/{OLD_ID}.ipynb"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(NEW_ID) and f"was {OLD_ID} before the course was renumbered" in out


def test_reset_of_an_old_named_notebook_writes_the_new_one_and_keeps_the_old(old_clone, capsys):
    old = old_clone / "notebooks" / f"{OLD_ID}.ipynb"
    mine = old.read_bytes()
    assert main(["reset", str(old)]) == 0
    out = capsys.readouterr().out
    new = old_clone / "notebooks" / f"{NEW_ID}.ipynb"
    assert new.read_text() == dumps(exercise_notebook(read_course_notebook(old_clone / "solutions" / new.name)))
    assert old.read_bytes() == mine  # the learner's work, untouched
    assert f"now called {NEW_ID}.ipynb" in out and "left as it is" in out


def test_reset_of_one_exercise_in_an_old_named_notebook_keeps_its_work(old_clone, capsys):
    old = old_clone / "notebooks" / f"{OLD_ID}.ipynb"
    first = exercises_for(NEW_ID)[0].name
    raw = json.loads(old.read_text())
    edited = next(c for c in raw["cells"] if f'check("{first}"' in "".join(c["source"]))
    edited["source"] = "".join(edited["source"]).replace("raise NotImplementedError()", "return 42")
    old.write_text(json.dumps(raw, indent=1))
    mine = old.read_bytes()
    assert main(["reset", str(old), "--exercise", first]) == 0
    out = capsys.readouterr().out
    backups = [p for p in old.parent.iterdir() if is_backup(p)]
    assert len(backups) == 1 and backups[0].read_bytes() == mine
    assert "return 42" not in old.read_text() and f"now called {NEW_ID}.ipynb" in out
    assert not (old_clone / "notebooks" / f"{NEW_ID}.ipynb").exists()


# --- reset keeps the learner's work --------------------------------------------------------------------


def test_reset_backs_up_the_learners_file_byte_identical(course, capsys):
    path = course / "notebooks" / f"{FIRST}.ipynb"
    mine = path.read_bytes()
    assert main(["reset", str(path)]) == 0
    out = capsys.readouterr().out
    backups = [p for p in path.parent.iterdir() if is_backup(p)]
    assert len(backups) == 1 and backups[0].read_bytes() == mine
    assert str(backups[0]) in out
    fresh = dumps(exercise_notebook(read_course_notebook(course / "solutions" / path.name)))
    assert path.read_text() == fresh
    assert main(["reset", str(path)]) == 0  # already fresh: nothing to back up
    assert "nothing to reset" in capsys.readouterr().out
    assert len([p for p in path.parent.iterdir() if is_backup(p)]) == 1


def test_reset_restores_a_broken_notebook_and_keeps_the_broken_file(course, capsys):
    path = course / "notebooks" / f"{FIRST}.ipynb"
    path.write_text('{"cells": [ half a notebook')
    assert main(["reset", str(path)]) == 0
    backups = [p for p in path.parent.iterdir() if is_backup(p)]
    assert [b.read_text() for b in backups] == ['{"cells": [ half a notebook']
    read_course_notebook(path)


def _cells(path: Path) -> list[str]:
    return [json.dumps(cell, sort_keys=True) for cell in json.loads(path.read_text())["cells"]]


def test_reset_of_one_exercise_leaves_every_other_cell_byte_identical(course, capsys):
    path = course / "notebooks" / f"{FIRST}.ipynb"
    path.write_text(learner_notebook(FIRST, solved=2, extra_cell="notes = 'my own cell'"))
    second = exercises_for(FIRST)[1].name
    before_cells, before = _cells(path), json.loads(path.read_text())
    mine = path.read_bytes()
    assert main(["reset", str(path), "--exercise", second]) == 0
    out = capsys.readouterr().out
    backup = next(p for p in path.parent.iterdir() if is_backup(p))
    assert backup.read_bytes() == mine and str(backup) in out
    after_cells, after = _cells(path), json.loads(path.read_text())
    changed = [k for k, (a, b) in enumerate(zip(before_cells, after_cells, strict=True)) if a != b]
    assert changed == [4]  # markdown, import, my extra cell, exercise 1, exercise 2
    assert after["metadata"] == before["metadata"] and after["nbformat_minor"] == before["nbformat_minor"]
    fresh = exercise_notebook(synthetic_solution(FIRST)).cells[3]
    assert "".join(after["cells"][4]["source"]) == fresh.source
    assert after["cells"][4]["outputs"] == [] and after["cells"][4]["id"] == before["cells"][4]["id"]
    # Byte for byte: each other cell's text in the file (as Jupyter writes it) is still there, unchanged.
    for k, cell in enumerate(before["cells"]):
        text = textwrap.indent(json.dumps(cell, sort_keys=True, indent=1, ensure_ascii=False), "  ")
        assert text in mine.decode()
        assert (text in path.read_text()) == (k != 4)
    nbformat.validate(nbformat.read(path, as_version=4))


@pytest.mark.parametrize("solution", sorted(p.name for p in (ROOT / "solutions").glob("*.ipynb") if not is_backup(p)))
def test_reset_of_one_exercise_in_each_real_notebook(solution, tmp_path, monkeypatch, capsys):
    """Every real notebook: a learner's answers everywhere, one exercise reset, the rest untouched."""
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "solutions").mkdir()
    (tmp_path / "notebooks").mkdir()
    shutil.copy(ROOT / "solutions" / solution, tmp_path / "solutions" / solution)
    monkeypatch.chdir(tmp_path)
    solved = read_course_notebook(tmp_path / "solutions" / solution)
    names = [ex.name for ex in exercises_for(solved.metadata["course"]["id"])]
    learner = exercise_notebook(solved)
    for cell, done in zip(learner.cells, solved.cells, strict=True):
        cell.source = done.source  # the learner solved everything (solution blocks included)
    path = tmp_path / "notebooks" / solution
    path.write_text(dumps(learner))
    called = [n for n in names if any(f'check("{n}"' in c.source or f"check('{n}'" in c.source for c in solved.cells)]
    assert called, f"solutions/{solution}: no exercise has a check(...) line"
    before_cells = _cells(path)
    assert main(["reset", str(path), "--exercise", called[-1]]) == 0, capsys.readouterr().err
    after_cells = _cells(path)
    changed = [k for k, (a, b) in enumerate(zip(before_cells, after_cells, strict=True)) if a != b]
    assert len(changed) == 1
    assert "# YOUR CODE HERE" in "".join(json.loads(after_cells[changed[0]])["source"])
    assert f"{called[-1]}" in "".join(json.loads(after_cells[changed[0]])["source"])


NOTEBOOK_FILES = sorted(
    str(p.relative_to(ROOT)) for folder in ("solutions", "notebooks") for p in (ROOT / folder).glob("*.ipynb")
    if not is_backup(p)
)


@pytest.mark.parametrize("name", NOTEBOOK_FILES)
def test_every_notebook_starts_with_the_set_up_cell(name):
    """The first code cell works in JupyterLab, VS Code and Colab (installs there) and prints the device."""
    notebook = read_course_notebook(ROOT / name)
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    lines = first.source.splitlines()
    colab = next(k for k, line in enumerate(lines) if line.strip() == 'if "google.colab" in sys.modules:')
    assert lines[colab + 1].strip().startswith("%pip install") and "git+https://" in lines[colab + 1]
    assert "import sys" in lines[:colab]
    assert lines[-1].strip() == "device = setup_notebook()"
    if name.startswith("solutions/"):
        printed = "".join(o.get("text", "") for o in first.outputs if o.output_type == "stream")
        assert printed.startswith("Using device: cpu")
