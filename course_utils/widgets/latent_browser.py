"""Browse SAE latents (or neurons): pick one, see its dashboard figure and its top-activating contexts."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import ipywidgets as widgets
import plotly.graph_objects as go

from course_utils.widgets.output import figure_output

Dashboard = Callable[[int], tuple[go.Figure, str]]
"""unit -> (its dashboard figure, the HTML of its top-activating contexts)."""


@dataclass(kw_only=True)
class LatentBrowserState:
    """Everything the browser shows is computed from this one object."""

    units: list[int]
    index: int = 0

    @property
    def unit(self) -> int:
        return self.units[self.index]


@dataclass(kw_only=True)
class LatentBrowser:
    """The state, its controls and the output that the dashboard is drawn into."""

    state: LatentBrowserState
    dashboard: Dashboard
    dropdown: widgets.Dropdown
    output: widgets.Output
    view: widgets.VBox = field(repr=False)

    def _repr_mimebundle_(self, **kwargs):
        return self.view._repr_mimebundle_(**kwargs)


def _html_output(text: str) -> dict:
    return {"output_type": "display_data", "data": {"text/html": text, "text/plain": "<contexts>"}, "metadata": {}}


def redraw(browser: LatentBrowser) -> None:
    """Replace what the output shows with the dashboard of the current unit."""
    figure, contexts = browser.dashboard(browser.state.unit)
    browser.output.outputs = (figure_output(figure), _html_output(contexts))


def latent_browser(
    dashboard: Dashboard, units: Sequence[int], *, labels: Mapping[int, str] | None = None, start: int = 0
) -> LatentBrowser:
    """A dropdown of units with previous / next buttons; the dashboard redraws on every change."""
    units = [int(u) for u in units]
    if not units:
        raise ValueError("no units to browse; pass a non-empty list of latent (or neuron) indices")
    if not 0 <= start < len(units):
        raise ValueError(f"start must be an index into units (0..{len(units) - 1}), got {start}")
    labels = labels or {}
    state = LatentBrowserState(units=units, index=start)
    options = [(labels.get(u, f"latent {u}"), i) for i, u in enumerate(units)]
    dropdown = widgets.Dropdown(options=options, value=start, description="unit", layout=widgets.Layout(width="420px"))
    previous, following = widgets.Button(description="◀", layout=widgets.Layout(width="40px")), widgets.Button(
        description="▶", layout=widgets.Layout(width="40px"))
    output = widgets.Output()
    view = widgets.VBox([widgets.HBox([previous, dropdown, following]), output])
    browser = LatentBrowser(state=state, dashboard=dashboard, dropdown=dropdown, output=output, view=view)

    def on_change(change: dict) -> None:
        state.index = int(change["new"])
        redraw(browser)

    def step(delta: int) -> None:
        dropdown.value = (state.index + delta) % len(units)

    dropdown.observe(on_change, names="value")
    previous.on_click(lambda _: step(-1))
    following.on_click(lambda _: step(1))
    redraw(browser)
    return browser
