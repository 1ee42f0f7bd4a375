"""Exercises: the check mechanism (`check`) and each notebook's reference answers."""

from __future__ import annotations

import importlib

from course_utils.exercises.compare import Case, compare_calls, compare_values
from course_utils.exercises.core import (
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
    verifier,
)

NOTEBOOK_MODULES: dict[str, str] = {
    "01_polysemanticity": "course_utils.exercises.nb01_polysemanticity",
    "02_antipodal_pair": "course_utils.exercises.nb02_antipodal_pair",
    "03_toy_models": "course_utils.exercises.nb03_toy_models",
    "04_feature_geometry": "course_utils.exercises.nb04_feature_geometry",
    "05_sparse_autoencoders": "course_utils.exercises.nb05_sparse_autoencoders",
    "06_saes_on_a_transformer": "course_utils.exercises.nb06_saes_on_a_transformer",
}
"""Each course notebook's id and the module holding its exercises' references and verifiers."""


def load_all() -> None:
    """Import every notebook's exercise module so that the registry is complete."""
    for module in NOTEBOOK_MODULES.values():
        importlib.import_module(module)


__all__ = [
    "REGISTRY",
    "Case",
    "CheckFailure",
    "CheckResult",
    "Exercise",
    "ExerciseError",
    "NOTEBOOK_MODULES",
    "check",
    "compare_calls",
    "compare_values",
    "exercises_for",
    "format_result",
    "get_exercise",
    "is_strict",
    "load_all",
    "make_exercise",
    "run_check",
    "verifier",
]
