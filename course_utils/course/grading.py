"""`course grade`: execute a copy of a learner's notebook and collect each exercise's verdict."""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from course_utils.course.checks import RESULTS_ENV, CheckResult, exercises_for
from course_utils.course.contents import current_id
from course_utils.course.execution import execute
from course_utils.course.notebook_files import notebook_id, read_course_notebook


@dataclass(kw_only=True)
class GradeReport:
    """One notebook's grade: a row per exercise, and the problem that stopped execution, if any."""

    notebook: str
    path: str
    rows: list[CheckResult] = field(default_factory=list)
    problem: str = ""
    former_id: str | None = None
    """The id the notebook's file carries when it predates the course's renumbering (e.g. '05_sparse_autoencoders')."""

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
            "all_passed": self.all_passed,
            "counts": self.counts(),
            "problem": self.problem or None,
            "former_id": self.former_id,
            "exercises": [asdict(row) for row in self.rows],
        }


def grade(path: Path, *, timeout: float = 120) -> GradeReport:
    """Grade one notebook by executing a copy in a temporary folder; the learner's file is only read."""
    path = Path(path)
    notebook = read_course_notebook(path)
    stored_id = notebook_id(notebook)
    course_id = current_id(stored_id)
    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp:
        workdir = Path(tmp)
        results_file = workdir / "results.jsonl"
        results_file.touch()
        report = execute(
            notebook,
            cwd=workdir,
            env={RESULTS_ENV: str(results_file), "COURSE_STRICT": "0", "COURSE_STRICT_DIR": ""},
            timeout=timeout,
        )
        recorded = [CheckResult(**json.loads(line)) for line in results_file.read_text().splitlines() if line]
    by_name = {row.exercise: row for row in recorded}
    rows = []
    for exercise in exercises_for(course_id):
        row = by_name.get(exercise.name)
        if row is None:
            row = CheckResult(
                exercise=exercise.name,
                notebook=course_id,
                status="not reached",  # type: ignore[arg-type]
                message="execution stopped before its check ran" if not report.ok else "its check was never called",
            )
        rows.append(row)
    former = stored_id if stored_id != course_id else None
    return GradeReport(notebook=course_id, path=str(path), rows=rows, problem=report.problem, former_id=former)


def format_report(report: GradeReport) -> str:
    """A plain-text table: one row per exercise, then the totals."""
    name_width = max([len("exercise")] + [len(row.exercise) for row in report.rows])
    lines = [f"{report.notebook}  ({report.path}; a copy was executed, your file is unchanged)"]
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
    return "\n".join(lines)
