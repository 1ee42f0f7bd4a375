"""The memorization figures and the explorer: what they draw, and their errors on bad input."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest
import torch

from course_utils.plots.memorization import (
    dimensionality_scatter,
    geometry_panels,
    loss_vs_dataset_size,
)
from course_utils.toy_models.memorization import MemorizationConfig, train_memorization
from course_utils.widgets.memorization_explorer import explorer_figures, memorization_explorer

SIZES = torch.tensor([2, 4, 8])


def test_loss_vs_dataset_size_marks_the_peak_and_the_highlight():
    test = torch.tensor([[1.0, 1.1], [1.5, 1.3], [0.9, 0.8]])
    fig = loss_vs_dataset_size(SIZES, test, test * 0.5, peak=1, highlight=8)
    assert isinstance(fig, go.Figure) and fig.layout.xaxis.type == "log"
    star = [t for t in fig.data if t.name == "test-loss peak"][0]
    assert star.x == (4.0,) and star.y[0] == pytest.approx(1.4)
    means = [t for t in fig.data if t.name.startswith("test loss")][0]
    assert means.y == pytest.approx((1.05, 1.4, 0.85))
    assert any(shape.x0 == 8 for shape in fig.layout.shapes)
    assert any(shape.y0 == 1.0 for shape in fig.layout.shapes)  # the silent model's loss
    with pytest.raises(ValueError):
        loss_vs_dataset_size(SIZES, test[:2])


def test_geometry_panels_draws_points_on_top_and_features_below():
    h, W = torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[0.5, 0.0, 0.1], [0.0, 0.5, 0.2]])
    fig = geometry_panels([("T=2", h, W), ("T=2 again", h, W)])
    lines = [t for t in fig.data if t.mode == "lines"]
    assert len(lines) == 4 and lines[0].line.color != lines[1].line.color
    assert lines[0].x == (0.0, 1.0, None, 0.0, 0.0, None)
    assert lines[1].x[:2] == (0.0, 0.5)
    with pytest.raises(ValueError):
        geometry_panels([("bad", torch.zeros(3, 3), W)])
    with pytest.raises(ValueError):
        geometry_panels([])


def test_dimensionality_scatter_drops_zeros_and_draws_m_over_t():
    points = [torch.tensor([1.0, 1.0]), torch.tensor([0.5] * 4), torch.tensor([0.25] * 7 + [0.0])]
    feats = [torch.tensor([0.1, 0.0]), torch.tensor([0.2]), torch.tensor([0.4, 0.3])]
    fig = dimensionality_scatter(SIZES, points, feats, d_hidden=2)
    by_name = {t.name: t for t in fig.data}
    assert len(by_name["datapoints D<sub>X</sub>"].y) == 13  # the zero is left off the log axis
    assert len(by_name["features D<sub>f</sub>"].y) == 4
    with pytest.raises(ValueError):
        dimensionality_scatter(SIZES, points[:2], feats, d_hidden=2)


@pytest.fixture(scope="module")
def tiny_run():
    cfg = MemorizationConfig(n_features=8, dataset_sizes=(2, 4), seeds=2, steps=20, warmup_steps=2, test_size=20)
    return train_memorization(cfg, generator=torch.Generator().manual_seed(0))


def test_explorer_shows_the_chosen_model_and_moves_the_marker(tiny_run):
    explorer = memorization_explorer(tiny_run, size=2, seed=1)
    assert len(explorer.output.outputs) == 2
    geometry, curve = explorer_figures(tiny_run, 4, 1)
    assert "T=4, seed 1" in geometry.layout.title.text
    assert any(shape.x0 == 4 for shape in curve.layout.shapes)
    explorer.size.value = 4  # the slider redraws
    assert len(explorer.output.outputs) == 2
    with pytest.raises(ValueError):
        memorization_explorer(tiny_run, size=3)
