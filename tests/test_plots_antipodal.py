"""Figures and the density explorer of notebook 02: what they draw, and clear errors on bad input."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest
import torch

from course_utils.plots.antipodal import (
    plot_density_sweep,
    plot_expected_loss_map,
    plot_loss_landscapes,
    plot_readouts,
)
from course_utils.toy_models.antipodal import (
    DescentConfig,
    as_row_loss,
    density_sweep,
    descend,
    expected_loss,
    linear_loss,
    loss_grid,
    random_starts,
    relu_loss,
)
from course_utils.widgets.antipodal_explorer import density_explorer


@pytest.fixture(scope="module")
def grid():
    axis, f1, f2 = loss_grid(2.0, 31)
    return axis, linear_loss(f1, f2), relu_loss(f1, f2, 0.0, 0.0)


def _traces(fig: go.Figure, kind: str) -> list:
    return [t for t in fig.data if t.type == kind]


def test_landscapes_one_heatmap_per_panel_capped(grid):
    axis, z_lin, z_relu = grid
    fig = plot_loss_landscapes(axis, {"linear": z_lin, "relu": z_relu}, zmax=1.0, marks=[(1.0, -1.0, "pair")])
    heatmaps = _traces(fig, "heatmap")
    assert len(heatmaps) == 2
    assert max(max(row) for row in heatmaps[0].z) == pytest.approx(1.0)  # corners exceed 1 and are capped
    assert "capped at 1" in heatmaps[0].hovertemplate  # hover says the colours are capped
    assert [a.text for a in fig.layout.annotations] == ["linear", "relu"]
    labels = [t for t in _traces(fig, "scatter") if t.text == ("pair",)]
    assert len(labels) == 2  # the mark is drawn on both panels


def test_landscapes_draw_paths_with_starts_and_ends(grid):
    axis, z_lin, _ = grid
    init = random_starts(5, scale=1.5, generator=torch.Generator().manual_seed(0))
    path = descend(as_row_loss(linear_loss, n_biases=0), init, DescentConfig(steps=400, lr=0.05))
    fig = plot_loss_landscapes(axis, {"linear": z_lin}, paths={"linear": path})
    lines = [t for t in _traces(fig, "scatter") if t.mode == "lines"]
    assert len(lines) == 1
    xs = list(lines[0].x)
    assert xs.count(None) == 5
    assert len(xs) - 5 <= 5 * 42  # long paths are thinned
    ends = [t for t in _traces(fig, "scatter") if t.name == "end"][0]
    assert list(ends.x) == pytest.approx(path[-1, :, 0].tolist(), abs=5e-4)
    first_path_end = xs[xs.index(None) - 1]
    assert first_path_end == pytest.approx(path[-1, 0, 0].item(), abs=5e-4)  # the last step is always drawn


def test_landscapes_keep_what_the_eye_sees():
    """A fine grid is thinned to max_points per axis and rounded, so a notebook with the figure stays small."""
    axis, f1, f2 = loss_grid(2.0, 121)
    z = linear_loss(f1, f2)
    fig = plot_loss_landscapes(axis, {"linear": z}, max_points=61)
    heatmap = _traces(fig, "heatmap")[0]
    assert len(heatmap.x) == 61 and len(heatmap.z) == 61 and len(heatmap.z[0]) == 61
    assert heatmap.x[0] == pytest.approx(-2.0) and heatmap.x[-1] == pytest.approx(2.0)
    assert all(v == round(v, 3) for row in heatmap.z for v in row)
    assert heatmap.z[30][45] == pytest.approx(min(z[60, 90].item(), 1.0), abs=5e-4)
    assert len(fig.to_json()) < 150_000
    with pytest.raises(ValueError, match="max_points"):
        plot_loss_landscapes(axis, {"linear": z}, max_points=1)


def test_landscapes_errors(grid):
    axis, z_lin, _ = grid
    with pytest.raises(ValueError, match="empty"):
        plot_loss_landscapes(axis, {})
    with pytest.raises(ValueError, match="grid must have shape"):
        plot_loss_landscapes(axis, {"bad": z_lin[:-1]})
    with pytest.raises(ValueError, match="no panel"):
        plot_loss_landscapes(axis, {"linear": z_lin}, paths={"other": torch.zeros(2, 1, 2)})


def test_readouts_mark_that_none_and_both_coincide_for_the_pair():
    fig = plot_readouts({"pair": (1.0, -1.0, 0.0, 0.0), "one": (1.0, 0.0, 0.0, 0.0)})
    texts = [t.text[0] for t in _traces(fig, "scatter") if t.text]
    assert "none on = both on" in texts  # the pair: h = 0 for both
    assert "none on = feature 2 on" in texts  # the dedicated feature: f2 = 0
    readout = [t for t in _traces(fig, "scatter") if t.mode == "lines"][0]
    assert min(readout.y) == 0.0 and max(readout.y) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="f1, f2, b1, b2"):
        plot_readouts({"bad": (1.0, -1.0)})


def test_density_sweep_figure():
    densities = torch.tensor([0.1, 0.5, 0.9])
    sweep = density_sweep(densities, n_starts=2, steps=20, generator=torch.Generator().manual_seed(0))
    fig = plot_density_sweep(sweep, crossovers={"2p² = p": 0.5})
    assert len(fig.data) == 5
    assert list(fig.data[0].y) == pytest.approx((2 * densities**2).tolist())
    assert list(fig.data[3].y) == pytest.approx((densities * (1 - densities)).tolist())
    assert list(fig.data[4].y) == pytest.approx(sweep.trained.tolist())
    assert any("p = 0.50" in (a.text or "") for a in fig.layout.annotations)


def test_expected_loss_map_marks_the_grid_minimum():
    axis, f1, f2 = loss_grid(2.0, 41)
    z = expected_loss(f1, f2, 0.0, 0.0, 0.1)
    fig = plot_expected_loss_map(axis, z, p=0.1, b=0.0)
    star = [t for t in fig.data if t.type == "scatter" and t.marker.symbol == "star"][0]
    assert abs(star.x[0]) == pytest.approx(1.0) and star.y[0] == pytest.approx(-star.x[0])
    assert "p = 0.10" in fig.layout.annotations[0].text


def test_density_explorer_redraws_on_slider_change():
    explorer = density_explorer(p=0.1, b=0.0, n=21)
    assert len(explorer.output.outputs) == 1
    first = explorer.output.outputs[0]
    explorer.p_slider.value = 0.6
    assert explorer.state.p == pytest.approx(0.6)
    assert explorer.output.outputs[0] != first
    explorer.b_slider.value = 0.3
    assert explorer.state.b == pytest.approx(0.3)
    assert "b1 = b2 = 0.30" in explorer.state.figure().layout.annotations[0].text
    with pytest.raises(ValueError, match="probability"):
        density_explorer(p=1.5)
