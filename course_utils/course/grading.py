"""`course grade`: rebuild a learner's notebook from the course's own copy, run it, and judge outside it.

The kernel runs the course's cells with only the learner's answers transplanted (`transplant`); each
check there saves what the learner's function returned on the exercise's inputs (`records`). This
process, which never runs the learner's code, computes the reference's outputs itself and decides
every verdict with the exercise's own judge.
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nbformat import NotebookNode

from course_utils.course.checks import (
    STRICT_DIR_ENV,
    STRICT_ENV,
    CheckResult,
    Exercise,
    exercises_for,
    reference_record,
    verdict,
)
from course_utils.course.contents import current_id
from course_utils.course.execution import execute
from course_utils.course.notebook_files import (
    NotebookProblem,
    exercise_notebook,
    notebook_id,
    read_course_notebook,
)
from course_utils.course.records import NOT_SAVED, RECORD_DIR_ENV, load_record
from course_utils.course.transplant import rebuild


@dataclass(kw_only=True)
class GradeReport:
    """One notebook's grade: a row per exercise, what the rebuild left out, the problem that stopped it."""

    notebook: str
    path: str
    rows: list[CheckResult] = field(default_factory=list)
    problem: str = ""
    former_id: str | None = None
    """The id the notebook's file carries when it predates the course's renumbering (e.g. '05_sparse_autoencoders')."""
    notes: list[str] = field(default_factory=list)
    """What the rebuild did: the cells of the learner's that were not run, answers not found."""
    flags: list[str] = field(default_factory=list)
    """Answers that reach for the course's machinery (a note for the teacher; the verdict stands)."""
    seconds: float = 0.0

    @property
    def all_passed(self) -> bool:
        return not self.problem and all(row.status == "passed" for row in self.rows)

    def counts(self) -> dict[str, int]:
        counts = {"passed": 0, "failed": 0, "not attempted": 0, "not reached": 0}
        for row in self.rows:
            counts[row.status] = counts.get(row.status, 0) + 1
        return counts

    def to_dict(self) -> dict:
        return {
            "notebook": self.notebook,
            "path": self.path,
            "former_id": self.former_id,
            "all_passed": self.all_passed,
            "counts": self.counts(),
            "problem": self.problem or None,
            "notes": self.notes,
            "flags": self.flags,
            "exercises": [asdict(row) for row in self.rows],
        }


def course_copy(course_id: str, root: Path | None = None) -> NotebookNode:
    """The course's own exercise notebook `course_id`, generated from solutions/ (never the learner's file)."""
    from course_utils.course.build import repo_root

    roots = [root] if root else []
    if root is None:
        for start in (Path.cwd(), Path(__file__).resolve().parent):
            try:
                roots.append(repo_root(start))
            except NotebookProblem:
                continue
    for folder in roots:
        path = Path(folder) / "solutions" / f"{course_id}.ipynb"
        if path.exists():
            return exercise_notebook(read_course_notebook(path))
    raise NotebookProblem(
        f"the course's own copy of {course_id} (solutions/{course_id}.ipynb) was not found; "
        "run `course grade` inside the course folder you cloned"
    )


def grade(
    path: Path,
    *,
    timeout: float = 120,
    notebook_timeout: float | None = None,
    course: NotebookNode | None = None,
) -> GradeReport:
    """Grade one notebook: the course's copy with the learner's answers, judged here; the file is only read.

    `timeout` bounds each cell, `notebook_timeout` the whole run; `course` replaces the course's copy (tests).
    """
    start = time.perf_counter()
    path = Path(path)
    learner = read_course_notebook(path)
    stored_id = notebook_id(learner)
    course_id = current_id(stored_id)
    exercises = exercises_for(course_id)
    course = course if course is not None else course_copy(course_id)
    rebuilt, transplant = rebuild(learner, course)
    with tempfile.TemporaryDirectory(prefix="course-grade-", ignore_cleanup_errors=True) as tmp:
        records = Path(tmp) / "records"
        records.mkdir()
        env = {RECORD_DIR_ENV: str(records), STRICT_ENV: "0", STRICT_DIR_ENV: ""}
        deadline = None if notebook_timeout is None else time.monotonic() + notebook_timeout
        report = execute(rebuilt, cwd=Path(tmp), env=env, timeout=timeout, deadline=deadline)
        rows = [_judge(exercise, records, stopped=not report.ok) for exercise in exercises]
    former = stored_id if stored_id != course_id else None
    return GradeReport(notebook=course_id, path=str(path), rows=rows, problem=report.problem, former_id=former,
                       notes=transplant.notes(), flags=transplant.flags(), seconds=time.perf_counter() - start)


def _judge(exercise: Exercise, records: Path, *, stopped: bool) -> CheckResult:
    """The verdict on one exercise from the record its check saved, judged against our own reference."""
    row = CheckResult(exercise=exercise.name, notebook=exercise.notebook, status="failed")
    if not exercise.gradable:
        row.message = "the course gives this exercise no verifier that can judge outside the notebook (a course bug)"
        return row
    try:
        got = load_record(records, exercise.name)
    except ValueError as problem:
        row.message = str(problem)
        return row
    if got is NOT_SAVED:
        row.status = "not reached"  # type: ignore[assignment]
        row.message = ("execution stopped before its check ran" if stopped
                       else "its check saved no outputs (did code in the notebook stop it?)")
        return row
    return verdict(exercise, got, _reference(exercise))


_REFERENCES: dict[str, object] = {}
_LOCK = threading.Lock()


def _reference(exercise: Exercise) -> object:
    """The reference's record, computed once per process (which never runs a learner's code)."""
    with _LOCK:
        if exercise.name not in _REFERENCES:
            _REFERENCES[exercise.name] = reference_record(exercise)
        return _REFERENCES[exercise.name]


def format_report(report: GradeReport) -> str:
    """A plain-text table: one row per exercise, then the totals and what the rebuild left out."""
    name_width = max([len("exercise")] + [len(row.exercise) for row in report.rows])
    lines = [f"{report.notebook}  ({report.path}; graded from the course's copy, your file is unchanged)"]
    if report.former_id:
        lines.append(f"  (this notebook was {report.former_id} before the course was renumbered; it is {report.notebook} now)")
    lines.append(f"  {'exercise':<{name_width}}  {'status':<13}  message")
    lines.append(f"  {'-' * name_width}  {'-' * 13}  {'-' * 7}")
    for row in report.rows:
        message = row.message if row.status != "passed" else f"{row.cases} cases"
        if row.inputs:
            message += f" (on input: {row.inputs})"
        lines.append(f"  {row.exercise:<{name_width}}  {row.status:<13}  {message}")
    counts = report.counts()
    summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    lines.append(f"  {counts['passed']} of {len(report.rows)} passed ({summary})")
    if report.problem:
        lines.append(f"  stopped: {report.problem}")
    lines.extend(f"  note: {note}" for note in report.notes)
    lines.extend(f"  flag: {flag}" for flag in report.flags)
    return "\n".join(lines)
