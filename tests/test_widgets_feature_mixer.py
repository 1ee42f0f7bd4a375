"""Tests of course_utils.widgets.feature_mixer: state, controls and the redrawn figures."""

import base64

import numpy as np
import plotly.io as pio
import pytest
import torch

from course_utils.data.directions import random_directions
from course_utils.widgets.feature_mixer import FeatureMixerState, feature_mixer, mixer_figures

NAMES = ["a", "b", "c", "d"]
PLOTLY_MIME = "application/vnd.plotly.v1+json"


@pytest.fixture(autouse=True)
def mimetype_renderer(monkeypatch):
    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")


@pytest.fixture
def directions() -> torch.Tensor:
    return random_directions(4, 3, generator=torch.Generator().manual_seed(0))


def values(array) -> list[float]:
    """Plotly JSON arrays are plain lists or base64 typed arrays."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"])).tolist()
    return list(array)


def shown_coefficients(mixer) -> list[float]:
    figure = mixer.output.outputs[0]["data"][PLOTLY_MIME]
    return values(figure["data"][0]["y"])


def test_initial_state_and_output(directions):
    mixer = feature_mixer(directions, NAMES, active=(0, 2), value=0.5)
    assert mixer.state.active == [True, False, True, False]
    assert [box.value for box in mixer.checkboxes] == [True, False, True, False]
    assert [box.description for box in mixer.checkboxes] == NAMES
    torch.testing.assert_close(mixer.state.coefficients(), torch.tensor([0.5, 0.0, 0.5, 0.0]))
    assert len(mixer.output.outputs) == 2  # the bars and, with 3 neurons, the 3-D view
    assert all(PLOTLY_MIME in out["data"] for out in mixer.output.outputs)
    assert shown_coefficients(mixer) == pytest.approx([0.5, 0.0, 0.5, 0.0])


def test_ticking_a_box_updates_state_and_redraws(directions):
    mixer = feature_mixer(directions, NAMES, active=(0,))
    mixer.checkboxes[3].value = True
    assert mixer.state.active == [True, False, False, True]
    assert shown_coefficients(mixer) == pytest.approx([1.0, 0.0, 0.0, 1.0])
    mixer.checkboxes[0].value = False
    assert shown_coefficients(mixer) == pytest.approx([0.0, 0.0, 0.0, 1.0])
    neurons = values(mixer.output.outputs[0]["data"][PLOTLY_MIME]["data"][1]["y"])
    assert neurons == pytest.approx(directions[3].tolist(), abs=1e-6)
    arrow = mixer.output.outputs[1]["data"][PLOTLY_MIME]["data"][-1]
    assert [values(arrow[axis])[1] for axis in "xyz"] == pytest.approx(directions[3].tolist(), abs=1e-6)


def test_slider_sets_the_coefficient(directions):
    mixer = feature_mixer(directions, NAMES, active=(1, 2))
    mixer.slider.value = 0.25
    assert mixer.state.value == 0.25
    assert shown_coefficients(mixer) == pytest.approx([0.0, 0.25, 0.25, 0.0])


def test_no_3d_view_without_three_neurons():
    state = FeatureMixerState(directions=torch.eye(4), names=tuple(NAMES), active=[True] * 4)
    assert len(mixer_figures(state)) == 1
    mixer = feature_mixer(torch.eye(4), NAMES)
    assert len(mixer.output.outputs) == 1


def test_widget_displays_as_its_view(directions):
    mixer = feature_mixer(directions, NAMES)
    bundle = mixer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == mixer.view.model_id


def test_bad_input(directions):
    with pytest.raises(ValueError, match="names"):
        feature_mixer(directions, NAMES[:3])
    with pytest.raises(ValueError, match="active"):
        feature_mixer(directions, NAMES, active=(4,))
    with pytest.raises(ValueError, match="feats, hidden"):
        feature_mixer(directions[0], NAMES)
