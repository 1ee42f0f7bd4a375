"""Tests of course_utils.plots.sae_variants: each figure holds the data it was given."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest
import torch

from course_utils.plots.sae_variants import plot_absorption, plot_activation_histograms


def test_activation_histograms_overlay_one_trace_per_kind():
    fig = plot_activation_histograms({"l1": torch.tensor([0.6, 0.7]), "gated": torch.tensor([1.0, 0.98, 1.02])})
    assert isinstance(fig, go.Figure)
    assert [t.name for t in fig.data] == ["l1", "gated"]
    assert list(fig.data[1].x) == pytest.approx([1.0, 0.98, 1.02])
    assert fig.layout.barmode == "overlay"


def test_absorption_has_a_bar_per_kind_and_a_dot_per_restart():
    fig = plot_absorption({"l1": torch.tensor([0.8, 0.9]), "matryoshka": torch.tensor([0.1, 0.3])},
                          {"l1": torch.tensor([1.5, 1.4]), "matryoshka": torch.tensor([1.5, 1.5])})
    bar = fig.data[0]
    assert list(bar.x) == ["l1", "matryoshka"] and list(bar.y) == pytest.approx([0.85, 0.2])
    dots = fig.data[1:]
    assert len(dots) == 2 and list(dots[1].y) == pytest.approx([0.1, 0.3])
    assert dots[0].text[1] == "L0 1.40"
