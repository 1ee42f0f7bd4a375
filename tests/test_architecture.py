"""The package's two layers: the machinery (`course_utils.course`) knows nothing of the science, the
science knows nothing of notebooks or grading, and no two modules import each other (README, "For
maintainers"). Every import counts, also those inside functions."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "course_utils"

MACHINERY = "course_utils.course"
GLUE = ("course_utils.exercises", "course_utils.syllabus")
"""The glue between the layers: each notebook's exercises, and the syllabus that the machinery reads by name."""


def module_names(package: Path) -> dict[str, Path]:
    """Every module of the package under `package`, by dotted name (a package by its own name)."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def import_graph(package: Path) -> dict[str, set[str]]:
    """Each module and the package modules it imports, at module level or inside functions."""
    modules = module_names(package)
    top = package.name
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from pkg import sub` imports the module pkg.sub when there is one, else names of pkg.
                targets = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                           for alias in node.names]
            else:
                continue
            imported.update(t for t in targets if t == top or t.startswith(top + "."))
        graph[name] = {t for t in imported if t != name}
    return graph


def layer_of(module: str) -> str:
    if module == MACHINERY or module.startswith(MACHINERY + "."):
        return "machinery"
    if any(module == g or module.startswith(g + ".") for g in GLUE):
        return "glue"
    if module.count(".") == 0:
        return "package"
    return "science"


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports that cross the layers the wrong way: machinery or science importing anything but its own layer."""
    bad = []
    for module, imported in sorted(graph.items()):
        layer = layer_of(module)
        if layer not in ("machinery", "science"):
            continue
        for target in sorted(imported):
            if layer_of(target) not in (layer, "package"):
                bad.append(f"{module} ({layer}) imports {target} ({layer_of(target)})")
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or through others (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


# --- the course's own package --------------------------------------------------------------------


def test_the_machinery_and_the_science_import_only_their_own_layer():
    assert layer_violations(import_graph(PACKAGE)) == []


def test_no_modules_import_each_other():
    assert cycles(import_graph(PACKAGE)) == []


def test_the_top_level_holds_only_the_layers():
    top_modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top_modules == ["__init__.py", "syllabus.py"]


def test_every_notebook_of_the_syllabus_has_its_exercise_module():
    from course_utils.course.contents import former_names, notebook_modules

    modules = module_names(PACKAGE)
    for course_id, module in notebook_modules().items():
        assert module in modules, f"{course_id}: {module} does not exist"
        assert module.endswith("nb" + course_id), f"{course_id}: its exercises belong in nb{course_id}.py"
    assert set(former_names().values()) <= set(notebook_modules())


# --- the checks themselves catch what they are for -------------------------------------------------


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "course_utils"
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    for folder in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
        (folder / "__init__.py").touch()
    return root


def test_a_planted_cycle_is_found(tmp_path):
    root = _package(tmp_path, {
        "sae/a.py": "from course_utils.sae.b import f\n",
        "sae/b.py": "def f():\n    from course_utils.sae import a\n",  # lazy, inside a function: still a cycle
        "sae/c.py": "import course_utils.sae.a\n",
    })
    assert cycles(import_graph(root)) == [["course_utils.sae.a", "course_utils.sae.b"]]


@pytest.mark.parametrize(("module", "text", "expected"), [
    ("sae/relu.py", "from course_utils.course.checks import check\n", "course_utils.sae.relu (science) imports course_utils.course.checks"),
    ("plots/fig.py", "def f():\n    import course_utils.exercises.nb01\n", "course_utils.plots.fig (science) imports course_utils.exercises.nb01"),
    ("course/grade.py", "from course_utils.sae import model\n", "course_utils.course.grade (machinery) imports course_utils.sae.model"),
    ("course/grade.py", "from course_utils import syllabus\n", "course_utils.course.grade (machinery) imports course_utils.syllabus"),
])
def test_a_planted_layer_violation_is_found(tmp_path, module, text, expected):
    root = _package(tmp_path, {
        module: text,
        "sae/model.py": "",
        "exercises/nb01.py": "from course_utils.course.checks import check\nfrom course_utils.sae import model\n",
        "course/checks.py": "",
        "syllabus.py": "",
    })
    violations = layer_violations(import_graph(root))
    assert len(violations) == 1 and violations[0].startswith(expected), violations
