"""Every plotly figure the notebooks show. Each function returns a `go.Figure` and never shows it."""

from course_utils.plots.style import COURSE_TEMPLATE, styled

__all__ = ["COURSE_TEMPLATE", "styled"]
