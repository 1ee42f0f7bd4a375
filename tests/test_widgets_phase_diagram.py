"""The phase-diagram explorer of notebook 04: one cell's trained geometry beside the closed-form losses."""

from __future__ import annotations

import pytest
import torch

from course_utils.plots.feature_geometry import plot_phase_cell
from course_utils.toy_models import TrainConfig
from course_utils.toy_models.phase_diagram import candidate_losses, log_grid, train_phase_diagram
from course_utils.widgets.phase_diagram_explorer import phase_diagram_explorer


@pytest.fixture(scope="module")
def diagram():
    return train_phase_diagram(log_grid(0.1, 10, 3), log_grid(0.01, 1, 3), TrainConfig(steps=300, batch_size=256, lr=1e-2,
                               progress=False), restarts=1, generator=torch.Generator().manual_seed(0))


def test_plot_phase_cell_shows_weights_and_the_three_losses():
    fig = plot_phase_cell(torch.tensor([1.0, -1.0]), torch.tensor([0.0, 0.0]), r=1.0, p=0.1,
                          candidate=candidate_losses(torch.tensor(1.0), torch.tensor(0.1)), trained_loss=0.002,
                          solution="antipodal pair")
    bars = [t for t in fig.data if t.type == "bar"]
    assert list(bars[0].y) == [1.0, -1.0]
    assert list(bars[2].y) == pytest.approx(candidate_losses(torch.tensor(1.0), torch.tensor(0.1)).tolist(), abs=1e-6)
    line = [t for t in fig.data if t.type == "scatter"][0]
    assert list(line.y) == [0.002] * 3
    assert "antipodal pair" in fig.layout.annotations[0].text
    with pytest.raises(ValueError, match="shape"):
        plot_phase_cell(torch.zeros(3), torch.zeros(2), r=1.0, p=0.1, candidate=torch.zeros(3), trained_loss=0.0,
                        solution="x")


def test_explorer_starts_at_the_nearest_cell_and_redraws_on_a_slider(diagram):
    explorer = phase_diagram_explorer(diagram, r=1.0, p=0.1)
    assert (explorer.state.i_r, explorer.state.i_p) == (1, 1)
    first = explorer.output.outputs[0]["data"]["application/vnd.plotly.v1+json"]
    assert "r = 1, p = 0.1" in first["layout"]["title"]["text"]
    explorer.p_slider.value = 2
    assert explorer.state.i_p == 2
    shown = explorer.output.outputs[0]["data"]["application/vnd.plotly.v1+json"]
    assert "p = 1" in shown["layout"]["title"]["text"]
    weights = shown["data"][0]["y"]
    assert weights == pytest.approx(diagram.W[2, 1, 0].tolist(), abs=1e-4)
