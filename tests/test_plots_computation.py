"""Tests of course_utils.plots.computation: what each figure holds."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest
import torch

from course_utils.plots.computation import (
    plot_features_computed,
    plot_neuron_weight_stack,
    plot_per_feature_loss,
)


def test_neuron_weight_stack_has_one_bar_trace_per_feature_and_instance():
    W1 = torch.tensor([[[1.0, -0.5, 0.0], [0.0, 0.25, 2.0]], [[0.1, 0.2, 0.3], [-1.0, 0.0, 0.0]]])
    fig = plot_neuron_weight_stack(W1, torch.tensor([1.0, 0.8, 0.64]), ["a", "b"], cols=2)
    assert isinstance(fig, go.Figure)
    bars = [t for t in fig.data if isinstance(t, go.Bar)]
    assert len(bars) == 6 and fig.layout.barmode == "relative"
    assert list(bars[1].y) == [-0.5, 0.25]  # feature 1 of instance 0, one value per neuron
    assert list(bars[3].y) == [0.1, -1.0]
    assert bars[0].marker.color != bars[2].marker.color  # coloured by importance
    with pytest.raises(ValueError):
        plot_neuron_weight_stack(W1, torch.ones(2), ["a", "b"])


def test_features_computed_marks_each_instance_the_mean_and_m_over_2():
    density = torch.tensor([1.0, 1.0, 0.1, 0.1])
    fig = plot_features_computed(density, torch.tensor([5, 4, 8, 7]), d_hidden=10, n_features=20)
    points, mean = fig.data
    assert list(points.y) == [5, 4, 8, 7]
    assert list(mean.x) == [1.0, pytest.approx(0.1)] and list(mean.y) == [4.5, 7.5]
    assert any(shape.y0 == 5 for shape in fig.layout.shapes)
    assert fig.layout.xaxis.type == "log"
    with pytest.raises(ValueError):
        plot_features_computed(density, torch.tensor([5, 4]), d_hidden=10, n_features=20)


def test_per_feature_loss_bars():
    fig = plot_per_feature_loss(torch.tensor([0.1, 0.02, 0.0]), torch.tensor([1.0, 0.8, 0.64]), [True, False, True])
    (bar,) = fig.data
    assert list(bar.y) == [0.1, 0.02, 0.0] and list(bar.text) == ["✓", "", "✓"]
    with pytest.raises(ValueError):
        plot_per_feature_loss(torch.ones(3), torch.ones(2))
