"""`course doctor`: check what a learner's environment needs, one line per item, each with a fix."""

from __future__ import annotations

import os
import platform
import re
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from course_utils.course.contents import syllabus

DIST_NAME = "course-utils"
INSTALL_FIX = "from the course folder: pip install -c constraints.txt -e ."
DEV_INSTALL_FIX = 'from the course folder: pip install -c constraints.txt -e ".[dev]"'
LAB_EXTENSIONS = {
    "jupyterlab-plotly": "plotly",  # the extension and the Python package that ships it
    "@jupyter-widgets/jupyterlab-manager": "jupyterlab_widgets",
}


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One checked item: ok, a warning (the course still works) or a failure (something is missing)."""

    item: str
    status: str  # "ok", "warn", "fail"
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status.upper():<5} {self.item}: {self.detail}"
        return text + (f". Fix: {self.fix}" if self.fix and self.status != "ok" else "")


def declared_requirements() -> tuple[str, list[str], list[str]]:
    """requires-python, the dependencies and the dev extras: from the course's pyproject.toml when it
    sits next to the package (it may be newer than the install), else from the installed metadata."""
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        import tomllib

        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        if project.get("name") == DIST_NAME:
            dev = project.get("optional-dependencies", {}).get("dev", [])
            return project.get("requires-python", ""), list(project.get("dependencies", [])), list(dev)
    except (ImportError, OSError, KeyError, ValueError):
        pass
    meta = metadata.metadata(DIST_NAME)
    base, dev = [], []
    for text in metadata.requires(DIST_NAME) or []:
        requirement = Requirement(text)
        if requirement.marker is None:
            base.append(text)
        elif requirement.marker.evaluate({"extra": "dev"}) and not requirement.marker.evaluate({"extra": ""}):
            dev.append(text)
    return meta.get("Requires-Python", ""), base, dev


def check_python(requires: str) -> Finding:
    """The running Python against requires-python."""
    version = platform.python_version()
    if not requires or SpecifierSet(requires).contains(version, prereleases=True):
        return Finding(item="Python", status="ok", detail=f"{version} at {sys.executable} (needs {requires or 'any'})")
    return Finding(item="Python", status="fail", detail=f"{version} is too old or too new (needs {requires})",
                   fix=f"create the environment with a Python {requires}, e.g. python3.11 -m venv .venv")


def check_requirement(text: str, *, needed: bool) -> Finding:
    """One declared package: installed, at a version the course accepts."""
    requirement = Requirement(text)
    wanted = str(requirement.specifier) or "any version"
    purpose = "" if needed else " (only for running the tests)"
    try:
        version = metadata.version(requirement.name)
    except metadata.PackageNotFoundError:
        return Finding(item=requirement.name, status="fail" if needed else "warn",
                       detail=f"not installed (needs {wanted}){purpose}", fix=INSTALL_FIX if needed else DEV_INSTALL_FIX)
    if requirement.specifier.contains(version, prereleases=True):
        return Finding(item=requirement.name, status="ok", detail=f"{version} (needs {wanted})")
    return Finding(item=requirement.name, status="fail" if needed else "warn",
                   detail=f"{version} installed, the course needs {wanted}{purpose}",
                   fix=INSTALL_FIX if needed else DEV_INSTALL_FIX)


def check_device() -> Finding:
    """The torch device the notebooks will use, and the accelerators torch can see."""
    try:
        import torch

        from course_utils.course.notebook import choose_device
    except ImportError as error:
        return Finding(item="torch device", status="fail", detail=f"torch cannot be imported ({error})", fix=INSTALL_FIX)
    seen = [name for name, available in (
        ("CUDA", torch.cuda.is_available()),
        ("MPS", hasattr(torch.backends, "mps") and torch.backends.mps.is_available()),
    ) if available]
    others = f"; torch also sees {' and '.join(seen)} (opt in with COURSE_DEVICE)" if seen else "; no CUDA or MPS device, none is needed"
    try:
        device = choose_device()
    except RuntimeError as error:
        return Finding(item="torch device", status="fail", detail=str(error).split(";")[0],
                       fix="unset COURSE_DEVICE to run on the CPU")
    return Finding(item="torch device", status="ok", detail=f"{device}{others}")


def check_kernel() -> Finding:
    """A Jupyter kernel named python3 (the notebooks' kernel) that runs this very environment."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    fix = f"{Path(sys.executable).name} -m ipykernel install --sys-prefix (run with this environment's Python)"
    manager = KernelSpecManager()
    try:
        spec = manager.get_kernel_spec("python3")
    except NoSuchKernel:
        others = [name for name in manager.find_kernel_specs() if _runs_here(manager.get_kernel_spec(name).argv)]
        if others:
            return Finding(item="Jupyter kernel", status="warn",
                           detail=f"no 'python3' kernel; pick the kernel {others[0]!r} when a notebook asks", fix=fix)
        return Finding(item="Jupyter kernel", status="fail", detail="no Jupyter kernel runs this environment", fix=fix)
    if _runs_here(spec.argv):
        return Finding(item="Jupyter kernel", status="ok", detail=f"python3 runs this environment ({sys.prefix})")
    return Finding(item="Jupyter kernel", status="fail",
                   detail=f"the notebooks' kernel python3 runs {spec.argv[0]}, not this environment ({sys.executable})",
                   fix=fix)


def _runs_here(argv: list[str]) -> bool:
    """True when a kernel command line starts this environment's Python ('python' means the server's own)."""
    if not argv:
        return False
    first = argv[0]
    if first in {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}:
        return True
    return Path(first).absolute().parent == Path(sys.executable).absolute().parent


def check_lab_extensions() -> list[Finding]:
    """The plotly and ipywidgets JupyterLab extensions: installed where JupyterLab looks, and enabled."""
    try:
        from jupyter_core.paths import jupyter_path
        from jupyterlab.commands import get_app_dir
        from jupyterlab_server.config import get_federated_extensions, get_page_config
    except ImportError as error:
        return [Finding(item="JupyterLab", status="fail", detail=f"cannot be imported ({error})", fix=INSTALL_FIX)]
    paths = jupyter_path("labextensions")
    installed = get_federated_extensions(paths)
    page_config = get_page_config(paths, app_settings_dir=os.path.join(get_app_dir(), "settings"))
    disabled = page_config.get("disabledExtensions", {})
    if isinstance(disabled, list):
        disabled = dict.fromkeys(disabled, True)
    findings = []
    for name, package in LAB_EXTENSIONS.items():
        item = f"JupyterLab extension {name}"
        if name not in installed:
            findings.append(Finding(item=item, status="fail", detail=f"not installed (it ships with the {package} package)",
                                    fix=f"pip install --force-reinstall --no-deps {package}, then restart JupyterLab"))
        elif _is_disabled(name, disabled):
            findings.append(Finding(item=item, status="fail", detail="installed but disabled",
                                    fix=f"jupyter labextension enable {name}, then restart JupyterLab"))
        else:
            version = installed[name].get("version", "?")
            findings.append(Finding(item=item, status="ok", detail=f"v{version}, enabled"))
    return findings


def _is_disabled(name: str, disabled: dict) -> bool:
    # JupyterLab's rule: a key disables the extensions it names, or matches as a regular expression.
    return any(value is not False and (name == key or re.match(key, name)) for key, value in disabled.items())


def check_course_folder() -> Finding:
    """Whether the working folder is the course folder (where `course progress` and `reset` look)."""
    from course_utils.course.build import repo_root
    from course_utils.course.notebook_files import NotebookProblem

    try:
        root = repo_root()
    except NotebookProblem:
        return Finding(item="course folder", status="warn", detail=f"{Path.cwd()} is not inside the course folder",
                       fix="cd into the folder you cloned before running `course progress` or `course reset`")
    count = len([p for p in (root / "notebooks").glob("*.ipynb") if ".backup-" not in p.name])
    return Finding(item="course folder", status="ok", detail=f"{root} ({count} notebooks in notebooks/)")


def run_doctor() -> list[Finding]:
    """Every check, in the order a learner meets the problems."""
    requires_python, dependencies, dev = declared_requirements()
    findings = [check_python(requires_python)]
    findings += [check_requirement(text, needed=True) for text in dependencies]
    findings += [check_requirement(text, needed=False) for text in dev]
    findings += [check_device(), check_kernel(), *check_lab_extensions()]
    findings += [course_check() for course_check in syllabus().doctor_checks()]
    findings.append(check_course_folder())
    return findings


def format_doctor(findings: list[Finding]) -> str:
    """One line per item, then a verdict."""
    failed = [f for f in findings if f.status == "fail"]
    warned = [f for f in findings if f.status == "warn"]
    lines = [f.line() for f in findings]
    if failed:
        lines.append(f"\n{len(failed)} problem(s) to fix before the course works: {', '.join(f.item for f in failed)}.")
    else:
        lines.append(f"\nEverything the course needs is here{f' ({len(warned)} warning(s))' if warned else ''}.")
    return "\n".join(lines)
