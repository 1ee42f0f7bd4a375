"""ipywidgets explorers built on `course_utils.plots`; each holds its state in one explicit object."""
