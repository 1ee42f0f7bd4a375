"""The check mechanism: one line under each exercise compares the learner's answer with the reference.

A check prints a short verdict (passed / not attempted / failed with the input that exposed it) and
hands back the function the cells below should use: the learner's once it passes, the reference until
then. In strict mode (solutions under test, `COURSE_STRICT=1`) anything but a pass is an error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from course_utils.course.contents import load_all
from course_utils.course.records import (
    RECORD_DIR_ENV,
    Raised,
    from_plain,
    learner_frames,
    raised,
    save_record,
    to_plain,
)

Status = Literal["passed", "failed", "not attempted"]

STRICT_ENV = "COURSE_STRICT"
"""Set to 1 to make every unfinished or failing exercise an error."""
STRICT_DIR_ENV = "COURSE_STRICT_DIR"
"""A folder: notebooks whose kernel runs inside it are checked strictly (used for `solutions/`)."""
RESULTS_ENV = "COURSE_RESULTS"
"""A file that each check appends its printed verdict to as one JSON line (a log; `course grade` does not
read it: it judges the outputs saved under COURSE_RECORD_DIR itself)."""


class CheckFailure(Exception):
    """Raised by a verifier when the candidate disagrees with the reference."""

    def __init__(self, message: str, inputs: str | None = None, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.inputs = inputs
        self.details = list(details or [])


class ExerciseError(Exception):
    """Raised in strict mode when an exercise is not passed."""


@dataclass(frozen=True, kw_only=True)
class Exercise:
    """One exercise: where it lives, its reference answer and how to verify a candidate."""

    name: str
    notebook: str
    reference: Any
    verify: Callable[[Any], int]
    """Raises CheckFailure on a wrong candidate; returns the number of cases checked. A `Verifier`
    (`course_utils.course.compare`) also has `probe` and `judge`, which let `course grade` judge outside the kernel."""
    summary: str = ""

    @property
    def gradable(self) -> bool:
        """True when the verdict can be decided outside the kernel (probe in the kernel, judge in the grader)."""
        return callable(getattr(self.verify, "probe", None)) and callable(getattr(self.verify, "judge", None))


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
    if exercise.gradable:
        expected = reference_record(exercise)
        return verdict(exercise, from_plain(candidate_record(exercise, candidate)), expected)
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
        result.details = failure.details
    except Exception as error:  # a learner's bug, reported as a verdict, not a traceback wall
        result.message = f"raised {type(error).__name__}: {error}"
        result.details = learner_code_frames(error)
    return result


def candidate_record(exercise: Exercise, candidate: Any) -> Any:
    """What the exercise's probe got from `candidate`, as plain data (None when nothing was given)."""
    if candidate is None:
        return None
    try:
        return to_plain(exercise.verify.probe(candidate))  # type: ignore[attr-defined]
    except Exception as error:  # the candidate raised outside any one case (custom probes)
        return to_plain(raised(error, learner_code_frames(error)))


def reference_record(exercise: Exercise) -> Any:
    """What the exercise's probe gets from the reference, as the judge reads it (None when the judge needs none)."""
    if not getattr(exercise.verify, "judges_with_reference_record", True):
        return None
    return from_plain(to_plain(exercise.verify.probe(exercise.reference)))  # type: ignore[attr-defined]


def verdict(exercise: Exercise, got: Any, expected: Any) -> CheckResult:
    """The verdict on a candidate's record (`from_plain` data), judged against the reference's record.

    The same function decides in the learner's kernel (the printed verdict) and in `course grade`.
    """
    result = CheckResult(exercise=exercise.name, notebook=exercise.notebook, status="failed")
    if got is None:
        result.status = "not attempted"
        result.message = "nothing was given to check"
        return result
    try:
        if isinstance(got, Raised):
            raise failure_of(got, getattr(exercise.verify, "inputs", None))
        result.cases = int(exercise.verify.judge(got, expected))  # type: ignore[attr-defined]
        result.status = "passed"
    except NotImplementedError:
        result.status = "not attempted"
        result.message = "not attempted yet"
    except CheckFailure as failure:
        result.message = failure.message
        result.inputs = failure.inputs
        result.details = failure.details
    except Exception as error:  # a record of a shape the judge did not expect
        result.message = f"its outputs could not be compared ({type(error).__name__}: {error})"
    return result


def failure_of(outcome: Raised, inputs: str | None) -> Exception:
    """What a judge raises for a candidate that raised: NotImplementedError (not attempted) or a CheckFailure."""
    if outcome.not_implemented:
        return NotImplementedError()
    return CheckFailure(f"raised {outcome.type_name}: {outcome.message}", inputs=inputs, details=outcome.frames)


def learner_code_frames(error: BaseException) -> list[str]:
    """The traceback lines that point into the learner's own code (not into course_utils)."""
    return learner_frames(error, Path(__file__).resolve().parent.parent)


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
    In strict mode a failing or unfinished answer raises ExerciseError. Under `course grade`
    (COURSE_RECORD_DIR set) it also saves the candidate's outputs, which the grader judges itself.
    """
    exercise = get_exercise(name)
    if exercise.gradable:
        expected = reference_record(exercise)  # first, as the grader does: on inputs the answer has not touched
        record = candidate_record(exercise, candidate)
        _save(name, record)
        result = verdict(exercise, from_plain(record), expected)
    else:
        result = run_check(name, candidate)
    print(format_result(result))
    _record(result)
    if result.status == "passed":
        return candidate
    if is_strict():
        raise ExerciseError(f"{name}: {result.status}: {result.message}")
    return exercise.reference


def _save(name: str, record: Any) -> None:
    folder = os.environ.get(RECORD_DIR_ENV)
    if folder:
        try:
            save_record(Path(folder), name, record)
        except OSError as error:
            print(f"(could not save {name}'s outputs for course grade: {error})")


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
