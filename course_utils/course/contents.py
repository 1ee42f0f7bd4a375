"""Where the machinery finds what the course holds: its notebooks, their former names, its own commands.

The machinery never imports the course's science. It reads the syllabus module (by default
`course_utils.syllabus`; `COURSE_SYLLABUS` names another, e.g. in tests) by name, once, at run time.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

SYLLABUS_ENV = "COURSE_SYLLABUS"
DEFAULT_SYLLABUS = "course_utils.syllabus"


def syllabus() -> ModuleType:
    """The syllabus module: `NOTEBOOKS`, `FORMER_NAMES`, `add_commands(subparsers)`, `doctor_checks()`."""
    return importlib.import_module(os.environ.get(SYLLABUS_ENV, DEFAULT_SYLLABUS))


def notebook_modules() -> dict[str, str]:
    """Each course notebook's id (e.g. '07_sparse_autoencoders') and the module of its exercises, in order."""
    return dict(syllabus().NOTEBOOKS)


def former_names() -> dict[str, str]:
    """Ids that notebooks had before the course was renumbered, and what each is called now."""
    return dict(getattr(syllabus(), "FORMER_NAMES", {}))


def current_id(course_id: str | None) -> str | None:
    """The notebook's id in today's numbering (a former id mapped to its new one); None if unknown."""
    if course_id is None:
        return None
    course_id = former_names().get(course_id, course_id)
    return course_id if course_id in notebook_modules() else None


def load_all() -> None:
    """Import every notebook's exercise module, so that the registry of checks is complete."""
    for module in notebook_modules().values():
        importlib.import_module(module)
