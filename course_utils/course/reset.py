"""`course reset`: a fresh exercise notebook (or one fresh exercise cell), the old file backed up first."""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_utils.course.build import repo_root
from course_utils.course.checks import exercises_for
from course_utils.course.contents import current_id, former_names, notebook_modules
from course_utils.course.notebook_files import (
    NotebookProblem,
    backup,
    dumps,
    exercise_notebook,
    is_backup,
    notebook_id,
    read_course_notebook,
)


@dataclass(kw_only=True)
class ResetResult:
    """What reset did: the file written, the backup of the old one, the exercise cell reset if any."""

    path: Path
    solution: Path
    backup: Path | None = None
    exercise: str | None = None
    cell: int | None = None
    unchanged: bool = False
    former: Path | None = None
    """The learner's file when it still has its name from before the course was renumbered (left as it is)."""


def reset_notebook(path: Path, *, exercise: str | None = None) -> ResetResult:
    """Write a fresh exercise notebook at `path` (or reset one exercise's cell), backing up the old file."""
    path = Path(path)
    if path.is_dir():
        raise NotebookProblem(f"{path}: is a folder; give a notebook file, e.g. notebooks/01_polysemanticity.ipynb")
    if is_backup(path):
        raise NotebookProblem(f"{path}: is a backup; to use it again, copy it over the notebook it was made from")
    root = _course_root(path)
    if (root / "solutions").resolve() in path.resolve().parents:
        raise NotebookProblem(f"{path}: is a worked solution; reset works on the exercise notebooks in notebooks/")
    course_id = _course_id(path, root, exercise)
    solution_path = root / "solutions" / f"{course_id}.ipynb"
    solution = read_course_notebook(solution_path)
    fresh = exercise_notebook(solution)
    former = None
    if path.stem in former_names() and exercise is None:
        # A notebook under its old name: the fresh one gets today's name, the learner's file stays as it is.
        former, path = path, path.with_name(f"{course_id}.ipynb")
    result = ResetResult(path=path, solution=solution_path, exercise=exercise, former=former)
    if exercise is None:
        text = dumps(fresh)
    else:
        text, result.cell = _with_fresh_exercise_cell(path, solution, fresh, exercise)
    if path.exists() and path.read_bytes() == text.encode("utf-8"):
        result.unchanged = True
        return result
    if path.exists():
        try:
            result.backup = backup(path)
        except OSError as error:
            raise NotebookProblem(
                f"{path.parent}: cannot write the backup there ({error.strerror or error}); nothing was changed. "
                "Make the folder writable, or copy the notebook to a folder you can write to."
            ) from error
    _write_atomically(path, text, kept=result.backup)
    return result


def format_reset(result: ResetResult) -> str:
    """What the learner reads after a reset: where the old work is, what was written."""
    if result.unchanged:
        what = f"exercise {result.exercise} is" if result.exercise else "it is"
        return f"{result.path}: {what} already as the course wrote it; nothing to reset, no backup made."
    lines = []
    if result.former is not None:
        lines.append(f"{result.former} is the notebook now called {result.path.name}; it was left as it is.")
    if result.backup is not None:
        lines.append(f"Your previous notebook is saved as {result.backup}")
    if result.exercise is not None:
        lines.append(f"{result.path}: exercise {result.exercise} (cell {result.cell + 1}) reset; every other cell is as it was.")
        renamed = former_names().get(result.path.stem)
        if renamed:
            lines.append(f"This notebook is now called {renamed}.ipynb; rename your file when you like (its work is kept).")
    else:
        lines.append(f"{result.path}: a fresh exercise notebook was written (from {result.solution}).")
    lines.append("If the notebook is open in JupyterLab, use File > Reload Notebook from Disk before you save it there.")
    return "\n".join(lines)


def _course_root(path: Path) -> Path:
    """The course folder above the notebook, else the one above the working folder."""
    for start in (path.parent, Path.cwd()):
        if start.is_dir():
            try:
                return repo_root(start)
            except NotebookProblem:
                continue
    raise NotebookProblem(
        f"{path}: neither it nor the working folder is inside the course folder (no solutions/ and "
        "pyproject.toml above it). Run `course reset` from the folder you cloned."
    )


def _course_id(path: Path, root: Path, exercise: str | None) -> str:
    """Which course notebook `path` is: its metadata id, or for a missing or broken file its name."""
    known = [i for i in notebook_modules() if (root / "solutions" / f"{i}.ipynb").exists()]
    stem = former_names().get(path.stem, path.stem)
    by_name = stem if stem in known else None
    if not path.exists():
        if by_name is None:
            raise NotebookProblem(
                f"{path}: no such file, and {path.stem!r} is not one of the course's notebooks "
                f"({', '.join(known) or 'none found in solutions/'})."
            )
        if exercise is not None:
            raise NotebookProblem(f"{path}: no such file; `course reset {path}` (without --exercise) writes a fresh one")
        return by_name
    try:
        course_id = current_id(notebook_id(read_course_notebook(path)))
    except NotebookProblem as problem:
        if by_name is None or exercise is not None:
            hint = f" `course reset {path}` (without --exercise) replaces the whole file." if by_name else ""
            raise NotebookProblem(f"{problem}{hint}") from problem
        return by_name  # a broken notebook of the course: a full reset is exactly what it needs
    if course_id not in known:
        raise NotebookProblem(f"{path}: is notebook {course_id}, but solutions/{course_id}.ipynb is missing")
    return course_id


def _check_call(name: str) -> re.Pattern[str]:
    return re.compile(r"""\bcheck\(\s*(["'])""" + re.escape(name) + r"\1")


def _with_fresh_exercise_cell(path: Path, solution, fresh, name: str) -> tuple[str, int]:
    """The learner's notebook text with exercise `name`'s cell replaced by its fresh stub cell."""
    course_id = notebook_id(solution)
    names = [e.name for e in exercises_for(course_id)]
    if name not in names:
        raise NotebookProblem(f"{course_id} has no exercise {name!r}; its exercises are: {', '.join(names)}")
    pattern = _check_call(name)
    in_solution = [i for i, c in enumerate(solution.cells) if c.cell_type == "code" and pattern.search(c.source)]
    if len(in_solution) != 1:
        raise NotebookProblem(f"solutions/{course_id}.ipynb: {len(in_solution)} cells call check({name!r}, ...), expected 1")
    fresh_cell = json.loads(dumps(fresh))["cells"][in_solution[0]]

    raw = json.loads(path.read_text(encoding="utf-8"))
    cells = raw["cells"]
    found = [j for j, c in enumerate(cells) if c.get("cell_type") == "code" and pattern.search(_source(c))]
    if not found and fresh_cell.get("id"):
        found = [j for j, c in enumerate(cells) if c.get("id") == fresh_cell["id"]]
    if len(found) != 1:
        where = f"cells {', '.join(str(j + 1) for j in found)} all call" if found else "no cell calls"
        raise NotebookProblem(
            f"{path}: {where} check({name!r}, ...), so the exercise's cell is ambiguous; nothing was changed. "
            f"`course reset {path}` (without --exercise) writes a fresh notebook after backing yours up."
        )
    j = found[0]
    if "id" in cells[j]:
        fresh_cell["id"] = cells[j]["id"]
    else:
        fresh_cell.pop("id", None)
    cells[j] = fresh_cell
    text = json.dumps(raw, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    nbformat.validate(nbformat.reads(text, as_version=4))
    return text, j


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _write_atomically(path: Path, text: str, *, kept: Path | None) -> None:
    """Replace `path` by `text` in one step: a failure leaves the old file as it was."""
    saved = f" (your backup is {kept})" if kept else ""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise NotebookProblem(
            f"{path.parent}: cannot write there ({error.strerror or error}); {path} was not changed{saved}. "
            "Make the folder writable, or copy the notebook to a folder you can write to."
        ) from error
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(text.encode("utf-8"))
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        raise NotebookProblem(f"{path}: could not be written ({error.strerror or error}); it was not changed{saved}") from error


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
