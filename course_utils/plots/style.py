"""One small plotly template for every figure of the course (small, so notebooks stay light)."""

from __future__ import annotations

import plotly.graph_objects as go

FEATURE_COLORSCALE = "Viridis"
"""Colour scale for importance and other sequential quantities."""
DIVERGING_COLORSCALE = "RdBu"
"""Colour scale for signed quantities (weights, cosines); use with zmid=0."""
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"]

COURSE_TEMPLATE = go.layout.Template(
    layout=go.Layout(
        font=dict(family="Inter, Helvetica, Arial, sans-serif", size=13, color="#222"),
        paper_bgcolor="white",
        plot_bgcolor="white",
        colorway=PALETTE,
        xaxis=dict(showgrid=True, gridcolor="#eee", zeroline=True, zerolinecolor="#ccc", linecolor="#888", ticks="outside"),
        yaxis=dict(showgrid=True, gridcolor="#eee", zeroline=True, zerolinecolor="#ccc", linecolor="#888", ticks="outside"),
        margin=dict(l=60, r=20, t=60, b=50),
        hovermode="closest",
        title=dict(x=0.02, xanchor="left"),
    )
)


def styled(fig: go.Figure, *, title: str | None = None, height: int | None = None, width: int | None = None) -> go.Figure:
    """Apply the course template (and an optional title and size) to a figure and return it."""
    fig.update_layout(template=COURSE_TEMPLATE)
    if title is not None:
        fig.update_layout(title=title)
    if height is not None:
        fig.update_layout(height=height)
    if width is not None:
        fig.update_layout(width=width)
    return fig
