"""The Colab install address lives in pyproject.toml only; build writes it into every set-up cell."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from course_utils.course.setup_cell import (
    SETUP_MARKER,
    RepositoryAddressMissing,
    repository_url,
    setup_cell_source,
    with_setup_cell,
)

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_names_the_repository():
    assert repository_url(ROOT).startswith("https://github.com/")


def test_every_solution_installs_from_the_pyproject_address():
    url = repository_url(ROOT)
    for path in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")):
        first = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert first.source.startswith(SETUP_MARKER), path.name
        assert f'%pip install -q "course-utils @ git+{url}"' in first.source, path.name


def test_the_set_up_cell_says_what_to_do_when_the_install_fails():
    source = setup_cell_source("https://example.org/course")
    assert 'git+https://example.org/course"' in source
    assert "except ModuleNotFoundError" in source
    assert "https://example.org/course opens in a browser" in source
    assert "pip install -c constraints.txt -e ." in source
    assert source.splitlines()[-1] == "device = setup_notebook()"
    compile(source.replace("    %pip", "    pass  #"), "<set-up cell>", "exec")  # valid Python apart from %pip


def test_with_setup_cell_rewrites_only_the_set_up_cell():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# title"),
        nbformat.v4.new_code_cell(SETUP_MARKER + '\nimport sys\n%pip install "x @ git+https://old.example/x"'),
        nbformat.v4.new_code_cell("x = 1"),
    ])
    assert with_setup_cell(notebook, "https://new.example/course") is True
    assert notebook.cells[1].source == setup_cell_source("https://new.example/course")
    assert notebook.cells[2].source == "x = 1"
    assert with_setup_cell(notebook, "https://new.example/course") is False  # already canonical
    with pytest.raises(ValueError, match="no set-up cell"):
        with_setup_cell(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), "https://a.b")


def test_a_pyproject_without_the_address_is_a_clear_error(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "course-utils"\n')
    with pytest.raises(RepositoryAddressMissing, match=r"\[project.urls\] has no Repository"):
        repository_url(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[project.urls]\nRepository = "https://h.example/r"\n')
    assert repository_url(tmp_path) == "https://h.example/r"


def test_notebooks_run_on_one_torch_thread_unless_asked(monkeypatch):
    from course_utils.course.notebook import choose_threads

    monkeypatch.delenv("COURSE_THREADS", raising=False)
    assert choose_threads() == 1
    monkeypatch.setenv("COURSE_THREADS", "2")
    assert choose_threads() == 2
    monkeypatch.setenv("COURSE_THREADS", "zero")
    with pytest.raises(RuntimeError, match="COURSE_THREADS"):
        choose_threads()
