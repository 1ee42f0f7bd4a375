"""Reading course notebooks safely, and turning a solution notebook into an exercise notebook."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from datetime import datetime
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from course_utils.course.contents import current_id

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
EXERCISE_STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]
BACKUP_INFIX = ".backup-"


class NotebookProblem(Exception):
    """A notebook that cannot be used, with one line saying why and what to do."""


def read_course_notebook(path: Path) -> NotebookNode:
    """Read a notebook of this course, or raise NotebookProblem with a clear reason."""
    path = Path(path)
    if not path.exists():
        raise NotebookProblem(f"{path}: no such file. Give the path of a notebook, e.g. notebooks/01_polysemanticity.ipynb")
    if path.is_dir():
        raise NotebookProblem(f"{path}: is a folder, not a notebook file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise NotebookProblem(f"{path}: cannot be read ({error})") from error
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotebookProblem(
            f"{path}: is not a notebook (invalid JSON at line {error.lineno}, column {error.colno}). "
            "Restore it from a backup or with `course reset`."
        ) from error
    if not isinstance(raw, dict) or raw.get("nbformat") != 4 or "cells" not in raw:
        raise NotebookProblem(f"{path}: is not a Jupyter notebook in format 4 (no nbformat 4 'cells' found)")
    try:
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook)
    except Exception as error:
        raise NotebookProblem(f"{path}: is not a valid notebook ({str(error).splitlines()[0]})") from error
    if current_id(notebook_id(notebook)) is None:
        raise NotebookProblem(
            f"{path}: is not one of the course's notebooks (its metadata has no known course id). "
            "Use a notebook from notebooks/ or solutions/."
        )
    return notebook


def notebook_id(notebook: NotebookNode) -> str | None:
    """The course id stored in a notebook's metadata (e.g. '02_antipodal_pair'), if any."""
    course = notebook.get("metadata", {}).get("course", {})
    return course.get("id") if isinstance(course, dict) else None


def strip_solutions(source: str) -> str:
    """Replace each BEGIN/END SOLUTION block by the exercise stub, kept at the block's indentation."""
    lines = source.split("\n")
    out: list[str] = []
    inside = False
    for line in lines:
        stripped = line.strip()
        if stripped == BEGIN_SOLUTION:
            if inside:
                raise ValueError("nested '### BEGIN SOLUTION'")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + stub for stub in EXERCISE_STUB)
        elif stripped == END_SOLUTION:
            if not inside:
                raise ValueError("'### END SOLUTION' without a BEGIN")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError("'### BEGIN SOLUTION' without an END")
    return "\n".join(out)


def content_hash(notebook: NotebookNode) -> str:
    """A hash of the cells' types and sources: what a learner edits (outputs are ignored)."""
    cells = [[cell.cell_type, cell.source] for cell in notebook.cells]
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()[:16]


def exercise_notebook(solution: NotebookNode) -> NotebookNode:
    """The exercise version of a solution notebook: solutions stripped, outputs cleared."""
    notebook = nbformat.from_dict(json.loads(json.dumps(solution)))
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source)
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    notebook.metadata.pop("widgets", None)
    notebook.metadata["course"] = {
        **notebook.metadata.get("course", {}),
        "version": "exercises",
        "generated_from": f"solutions/{notebook_id(solution)}.ipynb",
        "content_hash": content_hash(notebook),
    }
    return notebook


def is_untouched(notebook: NotebookNode) -> bool:
    """True when an exercise notebook's cells are exactly as `course build` wrote them."""
    stored = notebook.get("metadata", {}).get("course", {}).get("content_hash")
    return stored is not None and stored == content_hash(notebook)


def has_solutions(notebook: NotebookNode) -> bool:
    """True when any code cell still holds a solution block."""
    return any(BEGIN_SOLUTION in cell.source for cell in notebook.cells if cell.cell_type == "code")


def dumps(notebook: NotebookNode) -> str:
    """Serialise a notebook the way the course commits it (stable, one trailing newline)."""
    return nbformat.writes(notebook) + "\n"


def backup(path: Path) -> Path:
    """Copy a file to a timestamped backup next to it and return the backup's path."""
    stamp = datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
    target = path.with_name(f"{path.stem}{BACKUP_INFIX}{stamp}{path.suffix}")
    counter = 1
    while target.exists():
        target = path.with_name(f"{path.stem}{BACKUP_INFIX}{stamp}-{counter}{path.suffix}")
        counter += 1
    shutil.copy2(path, target)
    return target


def is_backup(path: Path) -> bool:
    """True for the timestamped backups that build and reset leave next to a notebook."""
    return BACKUP_INFIX in path.name


def code_cell_sources_with_exercise(notebook: NotebookNode) -> list[int]:
    """Indices of code cells that hold an exercise (a solution block or its stub)."""
    marker = re.compile(r"^\s*(### BEGIN SOLUTION|# YOUR CODE HERE)\s*$", re.MULTILINE)
    return [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code" and marker.search(cell.source)]
