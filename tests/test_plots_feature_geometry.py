"""Figures of notebook 04: what they draw, and clear errors on bad input."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest
import torch

from course_utils.plots.feature_geometry import (
    plot_basis_alignment,
    plot_dimensionality,
    plot_neuron_weights,
    plot_pair_geometry,
    plot_phase_diagram,
)
from course_utils.toy_models.feature_geometry import STICKY_FRACTIONS


def _traces(fig: go.Figure, kind: str) -> list:
    return [t for t in fig.data if t.type == kind]


def test_dimensionality_draws_dstar_live_features_and_sticky_lines():
    density = torch.tensor([1.0, 0.5, 0.1])
    d_i = torch.tensor([[1.0, 0.2], [0.5, 0.5], [0.4, 0.3]])
    norms = torch.tensor([[1.0, 0.1], [1.0, 1.0], [0.9, 0.2]])
    fig = plot_dimensionality(density, torch.tensor([1.0, 0.5, 0.3]), d_i, norms, STICKY_FRACTIONS)
    dots, line = fig.data
    assert list(dots.y) == pytest.approx([1.0, 0.5, 0.5, 0.4])  # only features with norm > 0.5
    assert list(dots.x) == [1.0, 2.0, 2.0, 10.0]
    assert list(line.y) == pytest.approx([1.0, 0.5, 0.3])
    assert fig.layout.xaxis.type == "log"
    assert sorted(s.y0 for s in fig.layout.shapes) == sorted(STICKY_FRACTIONS.values())


def test_dimensionality_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="inst"):
        plot_dimensionality(torch.ones(3), torch.ones(2), torch.ones(3, 4), torch.ones(3, 4), STICKY_FRACTIONS)


def test_phase_diagram_one_heatmap_per_panel_and_the_boundary():
    r, p = torch.tensor([0.1, 1.0, 10.0]), torch.tensor([0.01, 0.1])
    codes = torch.tensor([[2, 2, 2], [0, 2, 1]])
    line = (torch.tensor([0.1, 10.0]), torch.tensor([0.1, 0.16]))
    fig = plot_phase_diagram(r, p, {"trained": codes, "closed form": codes}, boundary=line)
    heatmaps, lines = _traces(fig, "heatmap"), _traces(fig, "scatter")
    assert len(heatmaps) == 2 and len(lines) == 2
    assert [list(row) for row in heatmaps[0].z] == codes.tolist()
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    with pytest.raises(ValueError, match="codes must have shape"):
        plot_phase_diagram(r, p, {"bad": codes.T})
    with pytest.raises(ValueError, match="panels is empty"):
        plot_phase_diagram(r, p, {})


def test_neuron_weights_one_heatmap_per_instance_with_counts():
    W = torch.randn(3, 5, 10, generator=torch.Generator().manual_seed(0))
    fig = plot_neuron_weights(W, torch.tensor([1.0, 0.1, 0.01]), torch.tensor([5, 2, 0]))
    heatmaps = _traces(fig, "heatmap")
    assert len(heatmaps) == 3
    assert torch.allclose(torch.tensor(heatmaps[1].z), W[1])
    assert "2/5 mono" in fig.layout.annotations[1].text
    with pytest.raises(ValueError, match="one density per instance"):
        plot_neuron_weights(W, torch.ones(2))


def test_pair_geometry_colours_by_pair():
    W = torch.randn(2, 2, 4, generator=torch.Generator().manual_seed(1))
    fig = plot_pair_geometry(W, ["a", "b"])
    lines = _traces(fig, "scatter")
    assert len(lines) == 8
    assert lines[0].line.color == lines[1].line.color != lines[2].line.color
    assert lines[1].line.dash == "dash"
    assert lines[5].x[1] == pytest.approx(float(W[1, 0, 1]))
    with pytest.raises(ValueError, match="even number"):
        plot_pair_geometry(torch.zeros(1, 2, 3), ["a"])


def test_basis_alignment_bars():
    fig = plot_basis_alignment(["Adam", "SGD"], [torch.tensor([2.0, 4.0]), torch.tensor([3.0])],
                               [torch.tensor([1.0, 1.0]), torch.tensor([2.0])])
    bars = _traces(fig, "bar")
    assert len(bars) == 2 and list(bars[0].y) == [3.0, 3.0] and list(bars[1].y) == [1.0, 2.0]
    with pytest.raises(ValueError, match="one label"):
        plot_basis_alignment(["Adam"], [], [])
