"""Pick the active features with checkboxes; watch the activation, the neuron readings and the read-back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import ipywidgets as widgets
import plotly.graph_objects as go
import torch
from jaxtyping import Float
from torch import Tensor

from course_utils.plots.directions import plot_directions_3d, plot_feature_mixer
from course_utils.widgets.output import figure_output


@dataclass(kw_only=True)
class FeatureMixerState:
    """Everything the mixer shows is computed from this one object."""

    directions: Tensor
    names: tuple[str, ...]
    active: list[bool]
    value: float = 1.0

    def coefficients(self) -> Float[Tensor, " feats"]:
        """c_j = value for every active feature, 0 for the others."""
        return torch.tensor([self.value if on else 0.0 for on in self.active])


@dataclass(kw_only=True)
class FeatureMixer:
    """The state, its controls and the output that the figures are drawn into."""

    state: FeatureMixerState
    checkboxes: list[widgets.Checkbox]
    slider: widgets.FloatSlider
    output: widgets.Output
    view: widgets.VBox = field(repr=False)

    def _repr_mimebundle_(self, **kwargs):
        return self.view._repr_mimebundle_(**kwargs)


def mixer_figures(state: FeatureMixerState) -> list[go.Figure]:
    """The figures for the current state: the 3-panel bars, and the 3-D arrows when there are 3 neurons."""
    coeffs = state.coefficients()
    figures = [plot_feature_mixer(coeffs, state.directions, state.names)]
    if state.directions.shape[1] == 3:
        active = [j for j, on in enumerate(state.active) if on]
        figures.append(plot_directions_3d(state.directions, state.names, activation=coeffs @ state.directions,
                                          active=active))
    return figures


def redraw(mixer: FeatureMixer) -> None:
    """Replace what the output shows with the figures of the current state."""
    mixer.output.outputs = tuple(figure_output(figure) for figure in mixer_figures(mixer.state))


def feature_mixer(
    directions: Float[Tensor, "feats hidden"],
    names: Sequence[str],
    *,
    active: Sequence[int] = (0,),
    value: float = 1.0,
) -> FeatureMixer:
    """A checkbox per feature and a slider for the coefficient; the figures redraw on every change."""
    if not isinstance(directions, Tensor) or directions.ndim != 2:
        raise ValueError(f"directions must be a (feats, hidden) tensor, got shape {tuple(getattr(directions, 'shape', ()))}")
    n_feats = directions.shape[0]
    if len(names) != n_feats:
        raise ValueError(f"got {len(names)} names for {n_feats} features; give one name per feature")
    if any(not 0 <= j < n_feats for j in active):
        raise ValueError(f"active features must be indices in 0..{n_feats - 1}, got {list(active)}")
    state = FeatureMixerState(directions=directions.detach().cpu().float(), names=tuple(names),
                              active=[j in active for j in range(n_feats)], value=value)
    checkboxes = [widgets.Checkbox(value=on, description=name, indent=False, layout=widgets.Layout(width="auto"))
                  for name, on in zip(state.names, state.active, strict=True)]
    slider = widgets.FloatSlider(value=value, min=0.0, max=1.0, step=0.05, description="c (active)",
                                 continuous_update=False)
    output = widgets.Output()
    view = widgets.VBox([widgets.HBox(checkboxes, layout=widgets.Layout(flex_flow="row wrap")), slider, output])
    mixer = FeatureMixer(state=state, checkboxes=checkboxes, slider=slider, output=output, view=view)

    def on_checkbox(change: dict, index: int) -> None:
        state.active[index] = bool(change["new"])
        redraw(mixer)

    def on_slider(change: dict) -> None:
        state.value = float(change["new"])
        redraw(mixer)

    for index, box in enumerate(checkboxes):
        box.observe(lambda change, index=index: on_checkbox(change, index), names="value")
    slider.observe(on_slider, names="value")
    redraw(mixer)
    return mixer
