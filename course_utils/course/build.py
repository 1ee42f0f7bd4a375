"""`course build`: execute solutions/ and regenerate notebooks/ from them, never losing a learner's work."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_utils.course.execution import execute
from course_utils.course.notebook_files import (
    NotebookProblem,
    backup,
    dumps,
    exercise_notebook,
    is_backup,
    is_untouched,
    notebook_id,
    read_course_notebook,
)
from course_utils.course.setup_cell import repository_url, with_setup_cell


@dataclass(kw_only=True)
class BuildStep:
    """What build did (or would do) to one exercise notebook."""

    name: str
    action: str  # "unchanged", "written", "out of date", "refused", "backed up and written"
    detail: str = ""


def repo_root(start: Path | None = None) -> Path:
    """The course folder: the nearest parent holding both solutions/ and notebooks/ (or pyproject)."""
    here = (start or Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        if (folder / "solutions").is_dir() and (folder / "pyproject.toml").exists():
            return folder
    raise NotebookProblem(
        f"{here}: not inside the course folder (no solutions/ and pyproject.toml above it). "
        "Run `course` from the folder you cloned."
    )


def solution_paths(root: Path, names: list[str] | None = None) -> list[Path]:
    """The solution notebooks, all or those whose name starts with one of `names` (e.g. '02')."""
    paths = sorted(p for p in (root / "solutions").glob("*.ipynb") if not is_backup(p))
    if names:
        chosen = [p for p in paths if any(p.stem.startswith(n.removesuffix(".ipynb")) for n in names)]
        missing = [n for n in names if not any(p.stem.startswith(n.removesuffix(".ipynb")) for p in paths)]
        if missing:
            raise NotebookProblem(f"no solution notebook matches {', '.join(missing)}; see solutions/")
        return chosen
    return paths


def execute_solution(path: Path, *, timeout: float = 300) -> float:
    """Re-execute a solution notebook in place (strictly: every check must pass); return seconds.

    Its set-up cell is first rewritten with the repository address of pyproject.toml.
    """
    notebook = read_course_notebook(path)
    with_setup_cell(notebook, repository_url(repo_root(path.parent)))
    start = time.perf_counter()
    report = execute(notebook, cwd=path.parent, env={"COURSE_STRICT": "1"}, timeout=timeout)
    if not report.ok:
        raise NotebookProblem(f"{path}: {report.problem}")
    path.write_text(dumps(notebook), encoding="utf-8")
    return time.perf_counter() - start


def sync_exercise_notebook(solution_path: Path, root: Path, *, force: bool, check_only: bool) -> BuildStep:
    """Write notebooks/<name> from its solution, refusing to overwrite a learner's work unless forced."""
    solution = read_course_notebook(solution_path)
    if notebook_id(solution) != solution_path.stem:
        raise NotebookProblem(f"{solution_path}: its metadata course id is {notebook_id(solution)!r}, not {solution_path.stem!r}")
    target = root / "notebooks" / solution_path.name
    wanted = dumps(exercise_notebook(solution))
    if target.exists():
        current = target.read_text(encoding="utf-8")
        if current == wanted:
            return BuildStep(name=target.name, action="unchanged")
        if check_only:
            return BuildStep(name=target.name, action="out of date", detail=f"run `course build` to regenerate {target}")
        try:
            learner_work = not is_untouched(nbformat.reads(current, as_version=4))
        except Exception:
            learner_work = True
        if learner_work and not force:
            return BuildStep(
                name=target.name,
                action="refused",
                detail=f"{target} has changes that build did not write (a learner's work?); "
                "rerun with --force to replace it (a timestamped backup is kept)",
            )
        if learner_work:
            saved = backup(target)
            target.write_text(wanted, encoding="utf-8")
            return BuildStep(name=target.name, action="backed up and written", detail=f"your version is in {saved}")
    elif check_only:
        return BuildStep(name=target.name, action="out of date", detail=f"{target} is missing; run `course build`")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(wanted, encoding="utf-8")
    return BuildStep(name=target.name, action="written")
