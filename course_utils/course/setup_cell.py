"""The set-up cell every notebook starts with, written by `course build` from pyproject's repository address.

The address lives in one place, `[project.urls] Repository` of pyproject.toml; build writes it into the
cell's Colab install line, and the cell says what to do when that install fails.
"""

from __future__ import annotations

import re
from pathlib import Path

from nbformat import NotebookNode

SETUP_MARKER = "# Set-up: on Google Colab this installs the course first; elsewhere it does nothing more."


class RepositoryAddressMissing(Exception):
    """pyproject.toml names no repository address for the Colab install."""


def repository_url(root: Path) -> str:
    """The course's repository address: `[project.urls] Repository` in root/pyproject.toml."""
    pyproject = Path(root) / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    try:
        import tomllib
    except ImportError:  # Python 3.10: read the one line
        found = re.search(r'^\[project\.urls\][^\[]*?^Repository\s*=\s*"([^"]+)"', text, re.MULTILINE | re.DOTALL)
        url = found.group(1) if found else None
    else:
        url = tomllib.loads(text).get("project", {}).get("urls", {}).get("Repository")
    if not url or not url.startswith("https://"):
        raise RepositoryAddressMissing(
            f"{pyproject}: [project.urls] has no Repository = \"https://...\" line; the notebooks' Colab cell "
            "installs the course from that address, so add it (e.g. Repository = \"https://github.com/OWNER/REPO\")"
        )
    return url


def setup_cell_source(url: str) -> str:
    """The set-up cell: on Colab install the course from `url`; say what to do when that fails."""
    return f'''{SETUP_MARKER}
import sys
if "google.colab" in sys.modules:
    %pip install -q "course-utils @ git+{url}"
try:
    from course_utils.course.notebook import setup_notebook
except ModuleNotFoundError as missing:
    raise ModuleNotFoundError(
        "The course package course_utils is not installed. On Colab the install above failed: check that "
        "{url} opens in a browser (if the course moved, fix [project.urls] in pyproject.toml), "
        "or upload the course folder and run  %pip install -e <folder>. Elsewhere: run  "
        "pip install -c constraints.txt -e .  in the folder you cloned, then restart the kernel."
    ) from missing
device = setup_notebook()'''


def with_setup_cell(notebook: NotebookNode, url: str) -> bool:
    """Replace the notebook's set-up cell (the code cell starting with SETUP_MARKER) by the canonical one.

    Returns whether the cell changed; raises ValueError when the notebook has no set-up cell.
    """
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.source.startswith(SETUP_MARKER):
            wanted = setup_cell_source(url)
            changed = cell.source != wanted
            cell.source = wanted
            return changed
    raise ValueError(f"no set-up cell (a code cell starting with {SETUP_MARKER!r}); copy it from another notebook")
