"""Tests of course_utils.plots.sae: each figure holds the data it was given."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from course_utils.plots.sae import (
    plot_cosine_matrix,
    plot_decoder_directions_2d,
    plot_density_histograms,
    plot_feature_recovery,
    plot_frontier,
    plot_l1_vs_l2,
    plot_training_curves,
)
from course_utils.sae import TrainLog


def _log(values: list[list[float]]) -> TrainLog:
    t = torch.tensor(values)
    n = t.shape[0]
    return TrainLog(step=torch.arange(1, n + 1) * 10, seconds=torch.arange(n) * 0.5, loss=t, mse=t, l0=t, fvu=t,
                    dead_frac=t, mmcs=t, density=torch.zeros(t.shape[1], 3))


def test_l1_vs_l2_draws_the_diamond_circle_and_solutions():
    fig = plot_l1_vs_l2(torch.eye(2), torch.tensor([1.0, 0.2]), torch.tensor([0.5, 0.0]), torch.tensor([0.6, 0.1]))
    assert isinstance(fig, go.Figure)
    names = [t.name for t in fig.data]
    assert "L1 solution" in names and "L2 solution" in names
    diamond = next(t for t in fig.data if t.name.startswith("L1 ball"))
    assert max(diamond.x) == pytest.approx(0.5)  # |f1| + |f2| of the L1 solution
    circle = next(t for t in fig.data if t.name.startswith("L2 ball"))
    assert max(np.hypot(circle.x, circle.y)) == pytest.approx(float(np.hypot(0.6, 0.1)), rel=1e-4)


def test_decoder_directions_2d_has_one_frame_per_snapshot():
    snaps = torch.randn(4, 1, 5, 2)
    fig = plot_decoder_directions_2d(snaps, torch.tensor([0, 10, 20, 30]), torch.randn(5, 2))
    assert len(fig.frames) == 4 and len(fig.data) == 10
    last = fig.frames[-1].data[5 + 2]
    assert list(last.x) == pytest.approx([0, float(snaps[3, 0, 2, 0])])
    with pytest.raises(ValueError, match="2-D"):
        plot_decoder_directions_2d(torch.randn(2, 1, 5, 3), torch.tensor([0, 1]), torch.randn(5, 3))


def test_training_curves_plot_each_log_and_instance():
    fig = plot_training_curves({"a": _log([[0.5, 0.6], [0.9, 0.95]]), "b": _log([[0.1], [0.2]])}, "mmcs", target=0.99)
    assert [t.name for t in fig.data] == ["a [0]", "a [1]", "b"]
    assert list(fig.data[1].y) == pytest.approx([0.6, 0.95])
    assert list(fig.data[0].x) == [10, 20]


def test_feature_recovery_frontier_density_and_cosines():
    fig = plot_feature_recovery({"run": torch.tensor([0.9, 1.0])}, torch.tensor([0.1, 0.01]))
    assert list(fig.data[0].y) == pytest.approx([0.9, 1.0])
    fig = plot_frontier({"L1": (torch.tensor([1.0, 5.0]), torch.tensor([0.5, 0.1]), ["a", "b"])})
    assert list(fig.data[0].text) == ["a", "b"] and fig.layout.xaxis.type == "log"
    fig = plot_density_histograms({"x": torch.tensor([0.0, 0.01, 0.5]), "y": torch.tensor([0.1, 0.1, 0.1])})
    assert fig.data[1].y[0] == 1  # one dead latent in the first run
    assert sum(fig.data[2].y) == 3
    fig = plot_cosine_matrix(torch.tensor([[0.1, 0.9], [0.8, 0.0]]))
    assert np.asarray(fig.data[0].z).shape == (2, 2)
