"""Rebuilding from the course's copy: only what replaced each stub is the learner's."""

from __future__ import annotations

import nbformat

from course_utils.course.transplant import rebuild

STUB = "    # YOUR CODE HERE\n    raise NotImplementedError()"
COURSE_CELL = f'def double(x):\n    """Twice x."""\n{STUB}\n\ndouble = check("double", double)'


def course() -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("from course_utils.exercises import check", id="setup"),
        nbformat.v4.new_markdown_cell("Write `double`."),
        nbformat.v4.new_code_cell(COURSE_CELL, id="ex"),
        nbformat.v4.new_code_cell("print(double(2))", id="after"),
    ]
    return notebook


def learner(exercise_source: str, *extra: str) -> nbformat.NotebookNode:
    notebook = course()
    notebook.cells[2].source = exercise_source
    notebook.cells += [nbformat.v4.new_code_cell(code) for code in extra]
    return notebook


def test_the_answer_is_transplanted_and_everything_else_is_the_course_s():
    mine = learner(COURSE_CELL.replace(STUB, "    y = 2 * x\n\n    return y"), "import os\nos._exit(1)")
    mine.cells[0].source = "check = print"  # an edited set-up cell
    rebuilt, transplant = rebuild(mine, course())
    assert [c.source for c in rebuilt.cells if c.cell_type == "code"] == [
        "from course_utils.exercises import check",
        COURSE_CELL.replace(STUB, "    y = 2 * x\n\n    return y"),
        "print(double(2))",
    ]
    assert transplant.answers[0].exercise == "double" and transplant.answers[0].lines == ["    y = 2 * x", "", "    return y"]
    assert transplant.ignored_cells == [0, 4]
    assert "your code cells 1, 5 differ" in " ".join(transplant.notes())


def test_an_edited_check_line_and_docstring_are_replaced_and_reported():
    edited = 'def double(x):\n    """mine"""\n    return 2 * x\n\ndouble = lambda x: 2 * x  # no check'
    rebuilt, transplant = rebuild(learner(edited), course())
    source = rebuilt.cells[2].source
    assert '"""Twice x."""' in source and source.endswith('double = check("double", double)')
    assert "    return 2 * x" in source and "lambda" not in source
    assert transplant.answers[0].unused_lines == ["double = lambda x: 2 * x  # no check"]
    assert transplant.answers[0].lines == ['    """mine"""', "    return 2 * x"]  # between the def and the check


def test_an_unfilled_or_missing_exercise_keeps_the_stub():
    rebuilt, transplant = rebuild(course(), course())
    assert rebuilt.cells[2].source == COURSE_CELL and transplant.ignored_cells == []
    gone = course()
    del gone.cells[2]
    rebuilt, transplant = rebuild(gone, course())
    assert rebuilt.cells[2].source == COURSE_CELL and transplant.answers[0].lines is None
    assert "no cell of yours holds its check line" in " ".join(transplant.notes())


def test_answers_that_reach_for_the_machinery_are_flagged():
    cheat = COURSE_CELL.replace(STUB, "    from course_utils.course.checks import REGISTRY\n    return REGISTRY")
    _, transplant = rebuild(learner(cheat), course())
    assert any("course_utils" in flag for flag in transplant.flags()) and any("registry" in f for f in transplant.flags())
