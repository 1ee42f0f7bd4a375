"""Repository invariants: the README's commands are what CI runs, pins live in constraints.txt."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
TEST_COMMAND = 'pip install -c constraints.txt -e ".[dev,saelens]" && pytest'
INSTALL_COMMAND = "pip install -c constraints.txt -e . && jupyter lab notebooks/"


def test_readme_gives_the_install_and_test_commands():
    assert INSTALL_COMMAND in README
    assert TEST_COMMAND in README


def test_ci_runs_exactly_the_readme_test_command():
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert TEST_COMMAND in ci_lines
    assert "export HF_HUB_OFFLINE=1" in ci_lines


def test_pyproject_ranges_are_loose_and_constraints_pin_the_tested_torch():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    assert not [r for r in requirements if "==" in r], "exact pins belong in constraints.txt"
    assert "transformer-lens>=3.9,<4" in project["dependencies"]
    constraints = (ROOT / "constraints.txt").read_text().splitlines()
    assert "torch==2.13.0" in constraints
    assert not [line for line in constraints if line.startswith("-e")], "pip refuses editables as constraints"
    pinned = {line.split("==")[0].lower().replace("_", "-") for line in constraints if "==" in line}
    for requirement in requirements:
        name = re.split(r"[<>=!~\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pinned, f"{name} has no tested pin in constraints.txt"


def test_kernels_start_without_building_an_iri_grammar():
    """plotly imports nbformat, which imports jsonschema; from 4.25 jsonschema's format-nongpl extra (which
    jupyter-events asks for) brings rfc3987-syntax, whose import builds a grammar: 1.3 s of every kernel's start."""
    constraints = (ROOT / "constraints.txt").read_text().splitlines()
    jsonschema = next(line.split("==")[1] for line in constraints if line.startswith("jsonschema=="))
    assert tuple(int(part) for part in jsonschema.split(".")[:2]) < (4, 25), jsonschema
    assert not [line for line in constraints if line.startswith(("rfc3987-syntax", "lark"))]


def test_course_map_lists_every_notebook():
    for solution in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")):
        assert f"`{solution.stem}`" in README, f"README's course map lacks {solution.stem}"


def test_ruff_finds_nothing():
    import subprocess
    import sys

    paths = ["course_utils", "tests", "benchmarks", "conftest.py"]
    result = subprocess.run([sys.executable, "-m", "ruff", "check", *paths], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
