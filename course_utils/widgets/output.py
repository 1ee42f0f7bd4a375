"""What the explorers put into their ipywidgets Output: a figure as a notebook display_data output."""

from __future__ import annotations

import json

import plotly.graph_objects as go


def figure_output(figure: go.Figure) -> dict:
    """The figure as a display_data output, rendered the way plotly's default renderer would show it."""
    bundle = figure._repr_mimebundle_() or {"application/vnd.plotly.v1+json": json.loads(figure.to_json())}
    return {"output_type": "display_data", "data": bundle, "metadata": {}}
