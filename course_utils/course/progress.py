"""`course progress`: grade every notebook of the course (copies only) and tabulate the verdicts."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.course.contents import former_names, notebook_modules
from course_utils.course.grading import GradeReport, grade
from course_utils.course.notebook_files import NotebookProblem, is_backup

STATUSES = ("passed", "failed", "not attempted", "not reached")


@dataclass(kw_only=True)
class NotebookProgress:
    """One row of the table: a graded notebook, or why it could not be graded."""

    notebook: str
    path: str
    state: str  # "graded", "missing", "unusable"
    report: GradeReport | None = None
    problem: str = ""
    renamed: str = ""
    """Set when the file still has its name from before the course was renumbered: what to do."""

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        if self.report is not None:
            counts.update(self.report.counts())
        return counts

    def to_dict(self) -> dict:
        if self.report is not None:
            return {"state": self.state, **self.report.to_dict(), "renamed": self.renamed or None}
        return {"state": self.state, "notebook": self.notebook, "path": self.path, "all_passed": False,
                "counts": self.counts(), "problem": self.problem, "exercises": []}


@dataclass(kw_only=True)
class CourseProgress:
    """Every course notebook's row, plus the notebooks found that are not the course's."""

    rows: list[NotebookProgress] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        totals = dict.fromkeys(STATUSES, 0)
        for row in self.rows:
            for status, n in row.counts().items():
                totals[status] = totals.get(status, 0) + n
        return totals

    @property
    def all_passed(self) -> bool:
        return bool(self.rows) and all(r.report is not None and r.report.all_passed for r in self.rows)

    def exit_code(self) -> int:
        """0 when every exercise passes, 2 when a notebook could not be graded, 1 otherwise."""
        if any(row.state == "unusable" for row in self.rows):
            return 2
        return 0 if self.all_passed else 1

    def to_dict(self) -> dict:
        totals = self.totals()
        return {
            "all_passed": self.all_passed,
            "total": totals,
            "exercises": sum(totals.values()),
            "notebooks": [row.to_dict() for row in self.rows],
            "not_course_notebooks": self.ignored,
        }


def course_notebook_paths(folder: Path, solutions: Path | None = None) -> tuple[list[tuple[str, Path]], list[str]]:
    """(course id, path) for each course notebook that exists in `folder` or in `solutions`, and the
    names of the other notebooks in `folder`. A notebook still under its name from before the course was
    renumbered (e.g. 05_sparse_autoencoders.ipynb) stands for its notebook when no file has the new name."""
    renamed = {new: old for old, new in former_names().items()}
    chosen = []
    for course_id in notebook_modules():
        path = folder / f"{course_id}.ipynb"
        old = folder / f"{renamed[course_id]}.ipynb" if course_id in renamed else None
        if not path.exists() and old is not None and old.exists():
            path = old
        if path.exists() or (solutions and (solutions / f"{course_id}.ipynb").exists()):
            chosen.append((course_id, path))
    names = {path.name for _, path in chosen}
    others = sorted(p.name for p in folder.glob("*.ipynb") if p.name not in names and not is_backup(p))
    return chosen, others


def course_progress(folder: Path, *, timeout: float = 120, show_bar: bool = True) -> CourseProgress:
    """Grade a copy of every course notebook in `folder` (the learner's files are only read)."""
    from tqdm.auto import tqdm

    folder = Path(folder)
    if not folder.is_dir():
        raise NotebookProblem(f"{folder}: no such folder. Run `course progress` inside the course folder.")
    solutions = folder.parent / "solutions"
    chosen, others = course_notebook_paths(folder, solutions if solutions.is_dir() else None)
    if not chosen:
        raise NotebookProblem(f"{folder}: holds none of the course's notebooks; `course reset notebooks/NAME.ipynb` writes one")
    progress = CourseProgress(ignored=others)
    bar = tqdm(chosen, desc="grading", unit="notebook", file=sys.stderr, leave=False, disable=not show_bar)
    for course_id, path in bar:
        bar.set_postfix_str(course_id)
        shown = _shown(path)
        if not path.exists():
            progress.rows.append(NotebookProgress(
                notebook=course_id, path=shown, state="missing",
                problem=f"no {shown}; `course reset {shown}` writes a fresh one",
            ))
            continue
        try:
            report = grade(path, timeout=timeout)
        except NotebookProblem as problem:
            progress.rows.append(NotebookProgress(notebook=course_id, path=shown, state="unusable", problem=str(problem)))
            continue
        report.path = shown
        row = NotebookProgress(notebook=course_id, path=shown, state="graded", report=report, problem=report.problem)
        if path.stem != course_id:
            row.renamed = f"{shown} is now called {course_id}.ipynb; rename it (`mv {shown} {path.with_name(course_id + '.ipynb').name}` in its folder)"
        progress.rows.append(row)
    bar.close()
    return progress


def format_progress(progress: CourseProgress) -> str:
    """The course table: one row per notebook, then the totals; notes for the rows that need them."""
    width = max([len("notebook"), len("total")] + [len(row.notebook) for row in progress.rows])
    header = f"  {'notebook':<{width}}" + "".join(f"  {status:>{max(6, len(status))}}" for status in STATUSES)
    lines = ["Course progress (your answers were graded in the course's own copies; your files are unchanged)", "", header]
    lines.append("  " + "-" * (len(header) - 2))
    for row in progress.rows:
        counts = row.counts()
        cells = "".join(f"  {counts[s] if row.report else '-':>{max(6, len(s))}}" for s in STATUSES)
        lines.append(f"  {row.notebook:<{width}}{cells}")
    lines.append("  " + "-" * (len(header) - 2))
    totals = progress.totals()
    lines.append(f"  {'total':<{width}}" + "".join(f"  {totals[s]:>{max(6, len(s))}}" for s in STATUSES))
    exercises = sum(totals.values())
    lines.append("")
    lines.append(f"{totals['passed']} of {exercises} exercises passed.")
    for row in progress.rows:
        if row.renamed:
            lines.append(f"{row.notebook}: {row.renamed}")
    for row in progress.rows:
        if row.problem:
            lines.append(f"{row.notebook}: {row.state if row.state != 'graded' else 'stopped'}: {row.problem}")
    if progress.ignored:
        lines.append(f"Not course notebooks, not graded: {', '.join(progress.ignored)}")
    if not progress.all_passed:
        lines.append("`course grade notebooks/NAME.ipynb` lists one notebook's exercises with their messages.")
    return "\n".join(lines)


def _shown(path: Path) -> str:
    """The path relative to the working folder when it lies inside it (what the learner typed)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
