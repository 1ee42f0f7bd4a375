"""The attribution-graph figure: one marker per node, edges coloured by sign, hover text on latents."""

from __future__ import annotations

import plotly.graph_objects as go
import torch

from course_utils.lm.graph import AttributionGraph
from course_utils.plots.attribution_graph import (
    graph_layout,
    hover_contexts,
    plot_attribution_graph,
)


def _graph() -> AttributionGraph:
    # nodes: two bytes, bias, two latents, error, logit; weights[target, source]
    weights = torch.zeros(7, 7)
    weights[3, 0], weights[3, 1], weights[4, 1] = 1.0, -0.5, 2.0
    weights[6, 3], weights[6, 4], weights[6, 0], weights[6, 5] = 3.0, -1.0, 0.5, 0.2
    return AttributionGraph(
        labels=["a @0", "b @1", "bias", "latent 7", "latent 9", "transcoder error", "logit c"],
        kinds=["token", "token", "bias", "latent", "latent", "error", "logit"],
        positions=[0, 1, 1, 1, 1, 1, 1], latent_ids=[-1, -1, -1, 7, 9, -1, -1],
        values=torch.tensor([1.5, 1.5, 0.0, 0.5, 2.0, 0.2, 2.7]), weights=weights,
    )


def test_layout_rows_and_positions():
    x, y = graph_layout(_graph())
    assert y == [0, 0, 1, 1, 1, 1, 2]
    assert x[:2] == [0.0, 1.0] and x[6] == 1.0
    assert x[3] < x[4]  # latent 7 (|3| into the logit) placed before latent 9 (|1|)


def test_figure_has_every_node_and_signed_edges():
    fig = plot_attribution_graph(_graph(), hover={3: "top contexts of latent 7"}, title="test")
    assert isinstance(fig, go.Figure)
    nodes = [t for t in fig.data if t.mode == "markers+text"]
    assert sum(len(t.x) for t in nodes) == 7
    latent_trace = next(t for t in nodes if t.name == "latent")
    assert "top contexts of latent 7" in latent_trace.hovertext[0]
    lines = [t for t in fig.data if t.mode == "lines"]
    colors = {t.line.color for t in lines}
    assert any("31,119,180" in c for c in colors) and any("214,39,40" in c for c in colors)
    n_edges = sum(t.x.count(None) for t in lines)
    assert n_edges == 7
    edge_hover = next(t for t in fig.data if t.name == "edges")
    assert any("latent 7 → logit c: +3.00" == h for h in edge_hover.hovertext)


def test_hover_contexts_marks_the_focus_byte():
    tokens = torch.tensor([[ord("d"), ord("e"), ord("f"), ord(" ")], [-1, ord("<"), ord("a"), ord("b")]])
    text = hover_contexts(tokens, torch.tensor([2.5, 1.0]), focus=2)
    assert text.split("<br>") == [" 2.50  de[f]", " 1.00  &lt;[a]"]
