"""Each notebook's exercises: references and verifiers (`nbNN_name.py`), registered with the check
mechanism of `course_utils.course.checks`, which this package re-exports for the notebooks."""

from course_utils.course.checks import (
    REGISTRY,
    CheckFailure,
    CheckResult,
    Exercise,
    ExerciseError,
    check,
    exercises_for,
    format_result,
    get_exercise,
    is_strict,
    make_exercise,
    run_check,
)
from course_utils.course.compare import (
    Case,
    Verifier,
    call_each,
    compare_calls,
    compare_values,
    judge_each,
    replayed,
    verifier,
)
from course_utils.course.contents import load_all

__all__ = [
    "REGISTRY",
    "Case",
    "CheckFailure",
    "CheckResult",
    "Exercise",
    "ExerciseError",
    "Verifier",
    "call_each",
    "judge_each",
    "check",
    "compare_calls",
    "compare_values",
    "exercises_for",
    "format_result",
    "get_exercise",
    "is_strict",
    "load_all",
    "make_exercise",
    "replayed",
    "run_check",
    "verifier",
]
