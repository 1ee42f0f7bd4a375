"""Slide the feature density p and the shared bias b; watch the expected-loss landscape over (f1, f2) change."""

from __future__ import annotations

from dataclasses import dataclass, field

import ipywidgets as widgets
import plotly.graph_objects as go

from course_utils.plots.antipodal import plot_expected_loss_map
from course_utils.toy_models.antipodal import expected_loss, loss_grid
from course_utils.widgets.output import figure_output


@dataclass(kw_only=True)
class DensityExplorerState:
    """Everything the explorer shows is computed from this one object."""

    p: float = 0.1
    b: float = 0.0
    lim: float = 2.0
    n: int = 101

    def figure(self) -> go.Figure:
        axis, f1, f2 = loss_grid(self.lim, self.n)
        z = expected_loss(f1, f2, self.b, self.b, self.p)
        return plot_expected_loss_map(axis, z, p=self.p, b=self.b)


@dataclass(kw_only=True)
class DensityExplorer:
    """The state, its two sliders and the output the figure is drawn into."""

    state: DensityExplorerState
    p_slider: widgets.FloatSlider
    b_slider: widgets.FloatSlider
    output: widgets.Output
    view: widgets.VBox = field(repr=False)

    def _repr_mimebundle_(self, **kwargs):
        return self.view._repr_mimebundle_(**kwargs)


def redraw(explorer: DensityExplorer) -> None:
    """Replace what the output shows with the figure of the current state."""
    explorer.output.outputs = (figure_output(explorer.state.figure()),)


def density_explorer(*, p: float = 0.1, b: float = 0.0, lim: float = 2.0, n: int = 101) -> DensityExplorer:
    """A slider for the density p and one for the shared bias b1 = b2 = b; the landscape redraws on release."""
    if not 0 <= p <= 1:
        raise ValueError(f"p is a probability: give 0 <= p <= 1, got {p}")
    if not -1 <= b <= 1:
        raise ValueError(f"b must lie in the slider's range [-1, 1], got {b}")
    state = DensityExplorerState(p=p, b=b, lim=lim, n=n)
    p_slider = widgets.FloatSlider(value=p, min=0.0, max=1.0, step=0.01, description="density p",
                                   continuous_update=False)
    b_slider = widgets.FloatSlider(value=b, min=-1.0, max=1.0, step=0.05, description="bias b",
                                   continuous_update=False)
    output = widgets.Output()
    view = widgets.VBox([widgets.HBox([p_slider, b_slider]), output])
    explorer = DensityExplorer(state=state, p_slider=p_slider, b_slider=b_slider, output=output, view=view)

    def on_p(change: dict) -> None:
        state.p = float(change["new"])
        redraw(explorer)

    def on_b(change: dict) -> None:
        state.b = float(change["new"])
        redraw(explorer)

    p_slider.observe(on_p, names="value")
    b_slider.observe(on_b, names="value")
    redraw(explorer)
    return explorer
