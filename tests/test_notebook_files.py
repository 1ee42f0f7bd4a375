"""Reading course notebooks and generating exercise notebooks from solutions."""

from __future__ import annotations

import json

import nbformat
import pytest

from course_utils.course.notebook_files import (
    NotebookProblem,
    backup,
    content_hash,
    dumps,
    exercise_notebook,
    has_solutions,
    is_untouched,
    read_course_notebook,
    strip_solutions,
)


def course_notebook(*sources: str, course_id: str = "01_polysemanticity") -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["course"] = {"id": course_id, "title": "test"}
    notebook.cells = [nbformat.v4.new_markdown_cell("# Title")] + [nbformat.v4.new_code_cell(s) for s in sources]
    return notebook


SOLVED = "def f(x):\n    ### BEGIN SOLUTION\n    y = x + 1\n    return y\n    ### END SOLUTION\n\nf = check('f', f)"


def test_strip_solutions_keeps_indentation_and_surroundings():
    assert strip_solutions(SOLVED) == (
        "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\nf = check('f', f)"
    )


def test_strip_solutions_handles_several_blocks_and_top_level():
    source = "### BEGIN SOLUTION\na = 1\n### END SOLUTION\nb = 2\n  ### BEGIN SOLUTION\n  c\n  ### END SOLUTION"
    assert strip_solutions(source) == (
        "# YOUR CODE HERE\nraise NotImplementedError()\nb = 2\n  # YOUR CODE HERE\n  raise NotImplementedError()"
    )


@pytest.mark.parametrize(
    "source",
    ["### BEGIN SOLUTION\nx", "x\n### END SOLUTION", "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"],
)
def test_strip_solutions_rejects_unbalanced_markers(source):
    with pytest.raises(ValueError):
        strip_solutions(source)


def test_exercise_notebook_clears_outputs_and_records_hash():
    solution = course_notebook(SOLVED, "print(1)")
    solution.cells[2].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    solution.cells[2].execution_count = 3
    exercise = exercise_notebook(solution)
    assert not has_solutions(exercise) and has_solutions(solution)
    assert all(cell.outputs == [] and cell.execution_count is None for cell in exercise.cells if cell.cell_type == "code")
    assert exercise.metadata.course["version"] == "exercises"
    assert is_untouched(exercise)
    assert solution.cells[2].outputs, "the solution notebook itself must not be modified"


def test_is_untouched_detects_a_learners_edit_but_not_outputs():
    exercise = exercise_notebook(course_notebook(SOLVED))
    exercise.cells[1].outputs = [nbformat.v4.new_output("stream", text="ran\n")]
    assert is_untouched(exercise)
    exercise.cells[1].source = exercise.cells[1].source.replace("raise NotImplementedError()", "return x + 1")
    assert not is_untouched(exercise)
    assert content_hash(exercise) != exercise.metadata.course["content_hash"]


def test_read_course_notebook_accepts_a_course_notebook(tmp_path):
    path = tmp_path / "nb.ipynb"
    path.write_text(dumps(course_notebook("x = 1")))
    assert read_course_notebook(path).cells[1].source == "x = 1"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "is not a notebook (invalid JSON"),
        (json.dumps({"nbformat": 3, "worksheets": []}), "not a Jupyter notebook in format 4"),
        (json.dumps([1, 2]), "not a Jupyter notebook in format 4"),
        (dumps(course_notebook("x", course_id="somebody_elses")), "is not one of the course's notebooks"),
    ],
)
def test_read_course_notebook_rejects_bad_files_with_one_clear_line(tmp_path, content, fragment):
    path = tmp_path / "bad.ipynb"
    path.write_text(content)
    with pytest.raises(NotebookProblem, match=fragment.replace("(", r"\(")) as error:
        read_course_notebook(path)
    assert "\n" not in str(error.value)


def test_read_course_notebook_missing_and_folder(tmp_path):
    with pytest.raises(NotebookProblem, match="no such file"):
        read_course_notebook(tmp_path / "missing.ipynb")
    with pytest.raises(NotebookProblem, match="is a folder"):
        read_course_notebook(tmp_path)


def test_backup_is_byte_identical_and_never_overwrites(tmp_path):
    path = tmp_path / "01_polysemanticity.ipynb"
    path.write_bytes(b"learner's bytes \x00\xff")
    first, second = backup(path), backup(path)
    assert first != second
    assert first.read_bytes() == second.read_bytes() == path.read_bytes()
    assert first.name.startswith("01_polysemanticity.backup-") and first.suffix == ".ipynb"
