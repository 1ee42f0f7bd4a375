"""Pick a cell (r, p) of notebook 04's phase diagram: its trained geometry beside the three closed-form losses."""

from __future__ import annotations

from dataclasses import dataclass, field

import ipywidgets as widgets
import plotly.graph_objects as go

from course_utils.plots.feature_geometry import plot_phase_cell
from course_utils.toy_models.phase_diagram import OTHER, SOLUTIONS, PhaseDiagram, candidate_losses
from course_utils.widgets.output import figure_output


@dataclass(kw_only=True)
class PhaseCellState:
    """The diagram and the chosen cell: row i_p (density), column i_r (ratio)."""

    diagram: PhaseDiagram
    i_r: int = 0
    i_p: int = 0

    def figure(self) -> go.Figure:
        d = self.diagram
        r, p = float(d.ratios[self.i_r]), float(d.densities[self.i_p])
        code = int(d.codes[self.i_p, self.i_r])
        return plot_phase_cell(
            d.W[self.i_p, self.i_r, 0], d.b[self.i_p, self.i_r], r=r, p=p,
            candidate=candidate_losses(d.ratios[self.i_r], d.densities[self.i_p]),
            trained_loss=float(d.losses[self.i_p, self.i_r]),
            solution="other" if code == OTHER else SOLUTIONS[code],
        )


@dataclass(kw_only=True)
class PhaseDiagramExplorer:
    """The state, a slider per axis and the output the figure is drawn into."""

    state: PhaseCellState
    r_slider: widgets.SelectionSlider
    p_slider: widgets.SelectionSlider
    output: widgets.Output
    view: widgets.VBox = field(repr=False)

    def _repr_mimebundle_(self, **kwargs):
        return self.view._repr_mimebundle_(**kwargs)


def redraw(explorer: PhaseDiagramExplorer) -> None:
    """Replace what the output shows with the figure of the chosen cell."""
    explorer.output.outputs = (figure_output(explorer.state.figure()),)


def phase_diagram_explorer(diagram: PhaseDiagram, *, r: float = 1.0, p: float = 0.1) -> PhaseDiagramExplorer:
    """Sliders over the diagram's ratios and densities (starting at the cell nearest r and p)."""
    ratios, densities = diagram.ratios.tolist(), diagram.densities.tolist()
    i_r = min(range(len(ratios)), key=lambda i: abs(ratios[i] - r))
    i_p = min(range(len(densities)), key=lambda i: abs(densities[i] - p))
    state = PhaseCellState(diagram=diagram, i_r=i_r, i_p=i_p)
    r_slider = widgets.SelectionSlider(options=[(f"{v:.3g}", i) for i, v in enumerate(ratios)], value=i_r,
                                       description="ratio r", continuous_update=False)
    p_slider = widgets.SelectionSlider(options=[(f"{v:.3g}", i) for i, v in enumerate(densities)], value=i_p,
                                       description="density p", continuous_update=False)
    output = widgets.Output()
    view = widgets.VBox([widgets.HBox([r_slider, p_slider]), output])
    explorer = PhaseDiagramExplorer(state=state, r_slider=r_slider, p_slider=p_slider, output=output, view=view)

    def on_r(change: dict) -> None:
        state.i_r = int(change["new"])
        redraw(explorer)

    def on_p(change: dict) -> None:
        state.i_p = int(change["new"])
        redraw(explorer)

    r_slider.observe(on_r, names="value")
    p_slider.observe(on_p, names="value")
    redraw(explorer)
    return explorer
