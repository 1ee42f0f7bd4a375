"""Tests of course_utils.widgets.computation_explorer: the state picks the instance; the controls redraw."""

from __future__ import annotations

import plotly.io as pio
import pytest
import torch

from course_utils.widgets.computation_explorer import ComputationExplorerState, computation_explorer

PLOTLY_MIME = "application/vnd.plotly.v1+json"


@pytest.fixture(autouse=True)
def mimetype_renderer(monkeypatch):
    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")


def make_state(**kwargs) -> ComputationExplorerState:
    density = torch.tensor([1.0, 1.0, 0.1, 0.1])
    W1 = torch.arange(4 * 2 * 3, dtype=torch.float32).view(4, 2, 3)
    loss = torch.arange(12, dtype=torch.float32).view(4, 3) / 100
    computed = torch.tensor([[True, False, False]] * 2 + [[True, True, False]] * 2)
    return ComputationExplorerState(W1=W1, density=density, importance=torch.tensor([1.0, 0.8, 0.64]), loss=loss,
                                    computed=computed, **kwargs)


def test_state_picks_the_seed_of_the_chosen_density():
    state = make_state(chosen_density=0.1, seed=1)
    assert state.densities() == [1.0, 0.1]
    assert state.instance() == 3
    state.chosen_density = 0.5
    with pytest.raises(ValueError, match="no instance"):
        state.instance()
    with pytest.raises(ValueError):
        ComputationExplorerState(W1=torch.zeros(4, 2, 3), density=torch.ones(3), importance=torch.ones(3),
                                 loss=torch.zeros(4, 3), computed=torch.zeros(4, 3, dtype=torch.bool))


def test_sliders_redraw_the_two_figures():
    explorer = computation_explorer(make_state(chosen_density=0.1))
    assert len(explorer.output.outputs) == 2
    stack = explorer.output.outputs[0]["data"][PLOTLY_MIME]
    assert "2 features computed" in stack["layout"]["title"]["text"]
    explorer.density_slider.value = 1.0
    stack = explorer.output.outputs[0]["data"][PLOTLY_MIME]
    assert "1 features computed" in stack["layout"]["title"]["text"]
    loss = explorer.output.outputs[1]["data"][PLOTLY_MIME]
    assert loss["data"][0]["y"] == [0.0, 0.01, 0.02]
    explorer.seed_picker.value = 1
    assert explorer.state.instance() == 1
    assert explorer.output.outputs[1]["data"][PLOTLY_MIME]["data"][0]["y"] == [0.03, 0.04, 0.05]
