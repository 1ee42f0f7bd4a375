"""Tests of course_utils.plots.directions: each figure shows the numbers it is given."""

import plotly.graph_objects as go
import pytest
import torch

from course_utils.data.directions import random_directions, sparse_coefficients
from course_utils.metrics.interference import CosineSweep, random_cosine_scale, welch_bound
from course_utils.plots.directions import (
    plot_directions_3d,
    plot_feature_mixer,
    plot_feature_neuron_weights,
    plot_interference_vs_hidden,
    plot_max_cosine_sweep,
    plot_neuron_top_samples,
)
from course_utils.plots.style import COURSE_TEMPLATE

NAMES = ["a", "b", "c", "d", "e"]


@pytest.fixture
def directions() -> torch.Tensor:
    return random_directions(5, 3, generator=torch.Generator().manual_seed(0))


def assert_styled(fig: go.Figure) -> None:
    assert isinstance(fig, go.Figure)
    assert fig.layout.template.layout.font.family == COURSE_TEMPLATE.layout.font.family


def test_directions_3d_draws_axes_features_and_activation(directions):
    activation = torch.tensor([0.1, -0.2, 0.3])
    fig = plot_directions_3d(directions, NAMES, activation=activation, active=[1])
    assert_styled(fig)
    assert len(fig.data) == 3 + 5 + 1
    features = fig.data[3:8]
    assert [t.name for t in features] == NAMES
    for trace, f in zip(features, directions.tolist(), strict=True):
        assert [trace.x[1], trace.y[1], trace.z[1]] == pytest.approx(f)
    assert features[1].line.width > features[0].line.width  # the active feature stands out
    last = fig.data[-1]
    assert [last.x[1], last.y[1], last.z[1]] == pytest.approx(activation.tolist())
    assert len(plot_directions_3d(directions, NAMES).data) == 8


def test_directions_3d_rejects_bad_input(directions):
    with pytest.raises(ValueError, match="hidden = 3"):
        plot_directions_3d(torch.ones(5, 4), NAMES)
    with pytest.raises(ValueError, match="names"):
        plot_directions_3d(directions, NAMES[:4])


def test_feature_neuron_weights_heatmap(directions):
    fig = plot_feature_neuron_weights(directions, NAMES)
    assert_styled(fig)
    heatmap = fig.data[0]
    assert list(heatmap.y) == NAMES
    assert list(heatmap.x) == ["neuron 0", "neuron 1", "neuron 2"]
    assert torch.tensor(heatmap.z, dtype=torch.float32).allclose(directions)
    with pytest.raises(ValueError, match="2-D"):
        plot_feature_neuron_weights(directions[0], NAMES)


def test_neuron_top_samples_bars_add_up_to_readings(directions):
    coeffs = sparse_coefficients(200, 5, density=0.3, generator=torch.Generator().manual_seed(1))
    fig = plot_neuron_top_samples(coeffs, directions, 2, NAMES, top=10)
    assert_styled(fig)
    bars = [t for t in fig.data if isinstance(t, go.Bar)]
    assert [t.name for t in bars] == NAMES
    readings = coeffs @ directions[:, 2]
    top = readings.topk(10)
    totals = torch.tensor([sum(t.y[i] for t in bars) for i in range(10)])
    torch.testing.assert_close(totals, top.values)
    marker = fig.data[-1]
    assert list(marker.y) == pytest.approx(top.values.tolist(), abs=1e-6)
    assert list(marker.x) == [f"#{int(i)}" for i in top.indices]
    assert list(marker.y) == sorted(marker.y, reverse=True)
    with pytest.raises(ValueError, match="neuron"):
        plot_neuron_top_samples(coeffs, directions, 3, NAMES)


def test_feature_mixer_panels(directions):
    coeffs = torch.tensor([1.0, 0.0, 0.5, 0.0, 0.0])
    fig = plot_feature_mixer(coeffs, directions, NAMES)
    assert_styled(fig)
    c_bar, a_bar, read_bar, true_c = fig.data
    activation = coeffs @ directions
    assert list(c_bar.y) == pytest.approx(coeffs.tolist())
    assert list(a_bar.y) == pytest.approx(activation.tolist(), abs=1e-6)
    assert list(read_bar.y) == pytest.approx((directions @ activation).tolist(), abs=1e-6)
    assert list(true_c.y) == pytest.approx(coeffs.tolist())
    with pytest.raises(ValueError, match="coefficients"):
        plot_feature_mixer(torch.ones(4), directions, NAMES)


def test_max_cosine_sweep_lines():
    table = torch.tensor([[[0.5, 0.7], [0.2, 0.3]], [[0.9, 0.8], [0.4, 0.5]]])
    sweep = CosineSweep(n_feats=(8, 64), n_hidden=(4, 32), max_cos=table)
    fig = plot_max_cosine_sweep(sweep)
    assert_styled(fig)
    assert len(fig.data) == 2 * 3
    measured, predicted, welch = fig.data[3:6]  # d = 32
    assert list(measured.y) == pytest.approx([0.25, 0.45])
    assert list(predicted.y) == pytest.approx([random_cosine_scale(8, 32), random_cosine_scale(64, 32)])
    assert list(welch.y) == pytest.approx([0.0, welch_bound(64, 32)])
    assert welch.visible == "legendonly"
    assert max(fig.data[1].y) == 1.0  # d = 4: the prediction exceeds 1 and is capped
    assert fig.layout.xaxis.type == "log"


def test_interference_vs_hidden():
    fig = plot_interference_vs_hidden([16, 64], [0.5, 0.25], torch.tensor([0.52, 0.26]), signal=0.5)
    assert_styled(fig)
    assert list(fig.data[0].y) == pytest.approx([0.5, 0.25])
    assert list(fig.data[1].y) == pytest.approx([0.52, 0.26])
    assert fig.layout.shapes[0].y0 == 0.5
    assert fig.layout.yaxis.type == "log" and fig.layout.xaxis.type == "log"
    with pytest.raises(ValueError, match="one value per d"):
        plot_interference_vs_hidden([16, 64, 256], [0.5, 0.25], [0.5, 0.25])
    assert len(fig.data) == 2
