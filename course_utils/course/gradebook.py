"""Grading a class: many submissions, each in isolation, a few at a time, into one gradebook.

A submission is a notebook file; the student is the folder it sits in when the file keeps the course's
name (`alice/02_antipodal_pair.ipynb`), else the file's own name (`alice.ipynb`). Each is graded by
`grading.grade` in its own temporary folder and kernel, with a deadline for the whole notebook.
"""

from __future__ import annotations

import csv
import glob
import json
import re
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from nbformat import NotebookNode

from course_utils.course.contents import current_id, load_all, notebook_modules
from course_utils.course.grading import GradeReport, course_copy, grade
from course_utils.course.notebook_files import NotebookProblem, is_backup

STATUS_MARKS = {"passed": "✅", "failed": "❌", "not attempted": "⏳", "not reached": "⛔"}


@dataclass(frozen=True, kw_only=True)
class Submission:
    """One notebook handed in: who, and where the file is."""

    student: str
    path: Path


@dataclass(kw_only=True)
class GradebookRow:
    """One student's notebook: its grade, or why it could not be graded."""

    student: str
    path: str
    notebook: str
    report: GradeReport | None = None
    problem: str = ""

    @property
    def state(self) -> str:
        if self.report is None:
            return "unusable"
        return "stopped" if self.report.problem else "graded"

    def counts(self) -> dict[str, int]:
        counts = {"passed": 0, "failed": 0, "not attempted": 0, "not reached": 0}
        if self.report is not None:
            counts.update(self.report.counts())
        return counts

    def to_dict(self) -> dict:
        counts = self.counts()
        return {
            "student": self.student,
            "notebook": self.notebook,
            "path": self.path,
            "state": self.state,
            "passed": counts["passed"],
            "total": sum(counts.values()),
            "counts": counts,
            "problem": self.problem or None,
            "notes": self.report.notes if self.report else [],
            "flags": self.report.flags if self.report else [],
            "seconds": round(self.report.seconds, 2) if self.report else None,
            "exercises": [
                {"exercise": r.exercise, "status": r.status, "message": r.message, "inputs": r.inputs, "cases": r.cases}
                for r in (self.report.rows if self.report else [])
            ],
        }


def find_submissions(paths: list[str]) -> list[Submission]:
    """The notebooks named by files, folders (searched recursively) or glob patterns, with their students."""
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found.extend(p for p in sorted(path.rglob("*.ipynb")) if _is_submission(p))
        elif path.exists():
            found.append(path)
        elif glob.has_magic(given):
            matches = [Path(p) for p in sorted(glob.glob(given, recursive=True))]
            files = [p for m in matches for p in (sorted(m.rglob("*.ipynb")) if m.is_dir() else [m])]
            if not files:
                raise NotebookProblem(f"{given}: matches no file")
            found.extend(p for p in files if _is_submission(p))
        else:
            raise NotebookProblem(f"{given}: no such file or folder")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise NotebookProblem(f"{', '.join(paths)}: holds no notebook (.ipynb) to grade")
    return [Submission(student=student_name(p), path=p) for p in unique]


def student_name(path: Path) -> str:
    """The folder's name when the file keeps a course notebook's name, else the file's own name."""
    stem = path.stem
    if (current_id(stem) or re.match(r"^\d\d_", stem)) and path.parent.name:
        return path.parent.name
    return stem


def _is_submission(path: Path) -> bool:
    return path.is_file() and not is_backup(path) and ".ipynb_checkpoints" not in path.parts


def grade_class(
    submissions: list[Submission],
    *,
    jobs: int = 2,
    timeout: float = 120,
    notebook_timeout: float = 600,
    show_bar: bool = True,
    courses: dict[str, NotebookNode] | None = None,
) -> list[GradebookRow]:
    """Grade every submission in isolation, `jobs` at a time; one row each, sorted by student and notebook.

    `courses` replaces the course's copies of some notebooks (tests grade small copies).
    """
    from tqdm.auto import tqdm

    copies = dict(courses or {})
    lock = threading.Lock()

    def course_for(path: Path) -> NotebookNode | None:
        """The course's copy of the notebook, built once per class (about 1 s each from solutions/)."""
        course_id = _course_id_of(path)
        if course_id is None:
            return None  # grade() says why the file is unusable
        with lock:
            if course_id not in copies:
                copies[course_id] = course_copy(course_id)
            return copies[course_id]

    def one(submission: Submission) -> GradebookRow:
        shown = str(submission.path)
        guess = current_id(submission.path.stem) or submission.path.stem
        try:
            report = grade(submission.path, timeout=timeout, notebook_timeout=notebook_timeout,
                           course=course_for(submission.path))
        except NotebookProblem as problem:
            return GradebookRow(student=submission.student, path=shown, notebook=guess, problem=str(problem))
        report.path = shown
        return GradebookRow(student=submission.student, path=shown, notebook=report.notebook, report=report,
                            problem=report.problem)

    load_all()  # every exercise module imported once, before the threads look exercises up
    rows: list[GradebookRow] = []
    bar = tqdm(total=len(submissions), desc="grading", unit="notebook", file=sys.stderr, disable=not show_bar)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(one, s) for s in submissions]
        for future in as_completed(futures):
            row = future.result()
            rows.append(row)
            bar.set_postfix_str(f"{row.student} {row.notebook}")
            bar.update()
    bar.close()
    return sorted(rows, key=lambda r: (r.student, r.notebook, r.path))


def _course_id_of(path: Path) -> str | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return current_id(raw.get("metadata", {}).get("course", {}).get("id"))
    except Exception:  # unreadable: grade() reports why
        return None


def exercise_columns(rows: list[GradebookRow]) -> list[str]:
    """Every exercise that appears in the rows, in the course's order."""
    order = {course_id: i for i, course_id in enumerate(notebook_modules())}
    seen: dict[str, tuple[int, int]] = {}
    for row in rows:
        for k, exercise in enumerate(row.report.rows if row.report else []):
            seen.setdefault(exercise.exercise, (order.get(row.notebook, 99), k))
    return sorted(seen, key=seen.__getitem__)


def write_gradebook(rows: list[GradebookRow], out: Path) -> tuple[Path, Path]:
    """gradebook.csv (one line per student and notebook) and gradebook.json (everything) in `out`."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise NotebookProblem(f"{out}: cannot write the gradebook there ({error.strerror or error})") from error
    columns = exercise_columns(rows)
    csv_path, json_path = out / "gradebook.csv", out / "gradebook.json"
    with csv_path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["student", "notebook", "state", "passed", "total", "failed", "not attempted",
                         "not reached", "problem", "flags", "file"]
                        + [f"{name} {part}" for name in columns for part in ("status", "message")])
        for row in rows:
            counts = row.counts()
            by_name = {r.exercise: r for r in (row.report.rows if row.report else [])}
            cells = []
            for name in columns:
                result = by_name.get(name)
                cells += [result.status, _message(result)] if result else ["", ""]
            writer.writerow([row.student, row.notebook, row.state, counts["passed"], sum(counts.values()),
                             counts["failed"], counts["not attempted"], counts["not reached"], row.problem,
                             "; ".join(row.report.flags if row.report else []), row.path]
                            + cells)
    summary = {
        name: sum(1 for row in rows for r in (row.report.rows if row.report else []) if r.exercise == name and r.status == "passed")
        for name in columns
    }
    document = {
        "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "submissions": len(rows),
        "graded": sum(1 for r in rows if r.report is not None),
        "passed_by_exercise": summary,
        "rows": [row.to_dict() for row in rows],
    }
    json_path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return csv_path, json_path


def _message(result) -> str:
    if result.status == "passed":
        return f"{result.cases} cases"
    return result.message + (f" (on input: {result.inputs})" if result.inputs else "")


def feedback_markdown(student: str, rows: list[GradebookRow]) -> str:
    """One student's feedback: per notebook, per exercise, passed or what failed on which input."""
    lines = [f"# Feedback for {student}", ""]
    for row in rows:
        counts = row.counts()
        if row.report is None:
            lines += [f"## {row.notebook}: not graded", "", f"{row.problem}", ""]
            continue
        lines += [f"## {row.notebook}: {counts['passed']} of {sum(counts.values())} exercises passed", ""]
        for result in row.report.rows:
            mark = STATUS_MARKS.get(result.status, "-")
            if result.status == "passed":
                lines.append(f"- {mark} `{result.exercise}`: passed ({result.cases} cases)")
                continue
            if result.status == "not attempted":
                lines.append(f"- {mark} `{result.exercise}`: not attempted yet")
                continue
            lines.append(f"- {mark} `{result.exercise}`: {result.status}" + (f": {result.message}" if result.message else ""))
            if result.inputs:
                lines.append(f"  - on input: {result.inputs}")
            lines.extend(f"  - {detail}" for detail in result.details)
        if row.report.problem:
            lines += ["", f"The run stopped: {row.report.problem}"]
        notes = row.report.notes[1:]
        if notes:
            lines += ["", "How it was graded: your answers were put into the course's own copy of the notebook."]
            lines.extend(f"- {note}" for note in notes)
        lines.append("")
    return "\n".join(lines)


def write_feedback(rows: list[GradebookRow], folder: Path) -> list[Path]:
    """One Markdown file per student in `folder` (`<student>.md`)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise NotebookProblem(f"{folder}: cannot write feedback there ({error.strerror or error})") from error
    by_student: dict[str, list[GradebookRow]] = {}
    for row in rows:
        by_student.setdefault(row.student, []).append(row)
    written = []
    for student, student_rows in by_student.items():
        path = folder / f"{_safe(student)}.md"
        path.write_text(feedback_markdown(student, student_rows), encoding="utf-8")
        written.append(path)
    return written


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "student"


def format_class(rows: list[GradebookRow], csv_path: Path, json_path: Path) -> str:
    """The summary printed after grading a class: one line per row, then where the gradebook is."""
    width = max([len("student")] + [len(r.student) for r in rows])
    lines = [f"  {'student':<{width}}  {'notebook':<26}  passed  state"]
    for row in rows:
        counts = row.counts()
        score = f"{counts['passed']:>2}/{sum(counts.values()):<3}" if row.report else "   -  "
        lines.append(f"  {row.student:<{width}}  {row.notebook:<26}  {score}  "
                     f"{row.state}{': ' + row.problem if row.problem else ''}")
    lines.append(f"gradebook: {csv_path} and {json_path} ({len(rows)} notebooks)")
    return "\n".join(lines)
