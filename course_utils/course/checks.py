"""The check mechanism: one line under each exercise compares the learner's answer with the reference.

A check prints a short verdict (passed / not attempted / failed with the input that exposed it) and
hands back the function the cells below should use: the learner's once it passes, the reference until
then. In strict mode (solutions under test, `COURSE_STRICT=1`) anything but a pass is an error.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from course_utils.course.contents import load_all

Status = Literal["passed", "failed", "not attempted"]

STRICT_ENV = "COURSE_STRICT"
"""Set to 1 to make every unfinished or failing exercise an error."""
STRICT_DIR_ENV = "COURSE_STRICT_DIR"
"""A folder: notebooks whose kernel runs inside it are checked strictly (used for `solutions/`)."""
RESULTS_ENV = "COURSE_RESULTS"
"""A file that each check appends one JSON line to (used by `course grade`)."""


class CheckFailure(Exception):
    """Raised by a verifier when the candidate disagrees with the reference."""

    def __init__(self, message: str, inputs: str | None = None):
        super().__init__(message)
        self.message = message
        self.inputs = inputs


class ExerciseError(Exception):
    """Raised in strict mode when an exercise is not passed."""


@dataclass(frozen=True, kw_only=True)
class Exercise:
    """One exercise: where it lives, its reference answer and how to verify a candidate."""

    name: str
    notebook: str
    reference: Any
    verify: Callable[[Any], int]
    """Raises CheckFailure on a wrong candidate; returns the number of cases checked."""
    summary: str = ""


@dataclass(kw_only=True)
class CheckResult:
    """The verdict for one exercise, as printed and as collected by `course grade`."""

    exercise: str
    notebook: str
    status: Status
    message: str = ""
    inputs: str | None = None
    cases: int = 0
    details: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self))


REGISTRY: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    """Add an exercise to the course-wide registry (names are unique across the course)."""
    if exercise.name in REGISTRY and REGISTRY[exercise.name] is not exercise:
        raise ValueError(f"exercise {exercise.name!r} is registered twice")
    REGISTRY[exercise.name] = exercise
    return exercise


def get_exercise(name: str) -> Exercise:
    """Look an exercise up by name, loading every notebook's exercises first."""
    load_all()
    if name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"no exercise named {name!r}; known exercises: {known}")
    return REGISTRY[name]


def exercises_for(notebook: str) -> list[Exercise]:
    """Every exercise of one notebook (by notebook id such as '02_antipodal_pair'), in order."""
    load_all()
    return [ex for ex in REGISTRY.values() if ex.notebook == notebook]


def is_strict() -> bool:
    """Strict when COURSE_STRICT=1, or when the kernel runs inside COURSE_STRICT_DIR."""
    if os.environ.get(STRICT_ENV, "") == "1":
        return True
    strict_dir = os.environ.get(STRICT_DIR_ENV)
    if strict_dir:
        cwd = Path.cwd().resolve()
        root = Path(strict_dir).resolve()
        return cwd == root or root in cwd.parents
    return False


def run_check(name: str, candidate: Any) -> CheckResult:
    """Verify a candidate against an exercise's reference, without printing or raising."""
    exercise = get_exercise(name)
    result = CheckResult(exercise=name, notebook=exercise.notebook, status="failed")
    if candidate is None:
        result.status = "not attempted"
        result.message = "nothing was given to check"
        return result
    try:
        result.cases = exercise.verify(candidate)
        result.status = "passed"
    except NotImplementedError:
        result.status = "not attempted"
        result.message = "not attempted yet"
    except CheckFailure as failure:
        result.message = failure.message
        result.inputs = failure.inputs
    except Exception as error:  # a learner's bug, reported as a verdict, not a traceback wall
        result.message = f"raised {type(error).__name__}: {error}"
        result.details = _learner_frames(error)
    return result


def _learner_frames(error: BaseException) -> list[str]:
    """The traceback lines that point into the learner's own code (not into course_utils)."""
    frames = traceback.extract_tb(error.__traceback__)
    here = str(Path(__file__).resolve().parent.parent)
    lines = []
    for frame in frames:
        if frame.filename.startswith(here) or "site-packages" in frame.filename:
            continue
        lines.append(f"line {frame.lineno}, in {frame.name}: {frame.line or ''}".rstrip())
    return lines[-3:]


def format_result(result: CheckResult) -> str:
    """The short verdict that a check prints under an exercise."""
    name = result.exercise
    if result.status == "passed":
        return f"✅ {name}: passed ({result.cases} cases)."
    fallback = "Using the reference solution meanwhile, so the cells below still run."
    if result.status == "not attempted":
        return f"⏳ {name}: not attempted yet. {fallback}"
    lines = [f"❌ {name}: failed: {result.message}"]
    if result.inputs:
        lines.append(f"   on input: {result.inputs}")
    lines.extend(f"   {line}" for line in result.details)
    lines.append(f"   {fallback}")
    return "\n".join(lines)


def _record(result: CheckResult) -> None:
    path = os.environ.get(RESULTS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as file:
            file.write(result.to_json() + "\n")


def check(name: str, candidate: Any) -> Any:
    """Check the learner's answer to exercise `name`; print the verdict; return what to use next.

    Returns the candidate when it passes and the reference otherwise (so the notebook runs on).
    In strict mode a failing or unfinished answer raises ExerciseError.
    """
    result = run_check(name, candidate)
    print(format_result(result))
    _record(result)
    if result.status == "passed":
        return candidate
    if is_strict():
        raise ExerciseError(f"{name}: {result.status}: {result.message}")
    return get_exercise(name).reference


def make_exercise(
    *,
    name: str,
    notebook: str,
    reference: Any,
    verify: Callable[[Any], int],
    summary: str = "",
) -> Exercise:
    """Build and register an exercise in one call."""
    return register(
        Exercise(name=name, notebook=notebook, reference=reference, verify=verify, summary=summary)
    )
