"""The toy-model figures: what they draw (traces, values, titles) and their errors on bad input."""

from __future__ import annotations

import math

import plotly.graph_objects as go
import pytest
import torch

from course_utils.plots.toy_models import (
    feature_geometry,
    geometry_animation,
    gram_heatmaps,
    loss_curves,
    superposition_bars,
)


def _pentagon_and_pair() -> torch.Tensor:
    angles = torch.arange(5) * 2 * math.pi / 5
    pentagon = torch.stack([angles.cos(), angles.sin()])
    pair = torch.tensor([[1.0, -1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    return torch.stack([pentagon, pair])  # (inst=2, hidden=2, feats=5)


def test_feature_geometry_draws_one_line_per_feature_per_instance():
    W = _pentagon_and_pair()
    fig = feature_geometry(W, 0.9 ** torch.arange(5.0), torch.tensor([0.05, 1.0]))
    assert isinstance(fig, go.Figure)
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert len(lines) == 10
    assert lines[2].x == (0, pytest.approx(math.cos(4 * math.pi / 5), abs=1e-6))
    assert lines[6].y[1] == pytest.approx(0.0)
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["1-S = 0.05", "1-S = 1"]
    assert lines[0].line.color != lines[4].line.color  # coloured by importance


def test_gram_heatmaps_show_w_transpose_w():
    W = _pentagon_and_pair()
    fig = gram_heatmaps(W)
    assert len(fig.data) == 2
    z = torch.tensor(fig.data[1].z)
    assert z[0, 1] == pytest.approx(-1.0) and z[0, 0] == pytest.approx(1.0) and z[4, 4] == 0
    assert torch.tensor(fig.data[0].z)[0, 1].item() == pytest.approx(math.cos(2 * math.pi / 5), abs=1e-6)


def test_superposition_bars_show_norms_coloured_by_superposition():
    W = torch.zeros(1, 2, 3)
    W[0, :, 0] = torch.tensor([1.0, 0.0])  # alone on its axis
    W[0, :, 1] = torch.tensor([0.0, 1.0])
    W[0, :, 2] = torch.tensor([0.0, -0.5])  # antipodal to feature 1, half as long
    fig = superposition_bars(W, torch.tensor([0.1]))
    bar = fig.data[0]
    assert list(bar.x) == pytest.approx([1.0, 1.0, 0.5])
    assert list(bar.marker.color) == pytest.approx([0.0, 0.25, 1.0], abs=1e-4)


def test_loss_curves_smooth_each_instance():
    losses = torch.tensor([[1.0, 4.0], [3.0, 4.0], [5.0, 4.0], [7.0, 4.0]])
    fig = loss_curves(losses, torch.tensor([1.0, 0.1]), smooth=2)
    assert len(fig.data) == 2 and fig.layout.yaxis.type == "log"
    assert list(fig.data[0].y) == pytest.approx([2.0, 4.0, 6.0]) and list(fig.data[0].x) == [2, 3, 4]


def test_geometry_animation_has_a_frame_per_snapshot():
    snaps = torch.stack([_pentagon_and_pair() * s for s in (0.1, 0.5, 1.0)])
    fig = geometry_animation(snaps, torch.tensor([0, 10, 20]), 0.9 ** torch.arange(5.0), instance=0)
    assert [f.name for f in fig.frames] == ["0", "10", "20"]
    assert fig.frames[2].data[0].x[1] == pytest.approx(1.0)


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="2 hidden"):
        feature_geometry(torch.zeros(2, 3, 5), torch.ones(5))
    with pytest.raises(ValueError, match=r"\(inst, hidden, feats\)"):
        gram_heatmaps(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="densities"):
        superposition_bars(torch.zeros(2, 2, 5), torch.ones(3))
    with pytest.raises(ValueError, match="TrainLog.losses"):
        loss_curves(torch.zeros(10))
    with pytest.raises(ValueError, match="importance"):
        feature_geometry(torch.zeros(2, 2, 5), torch.ones(4))
