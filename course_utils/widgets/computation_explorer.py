"""A density slider over a trained sweep of |x| models: the chosen instance's neuron-weight stack plot and
each feature's loss (nothing retrains: the sweep trained every instance at once)."""

from __future__ import annotations

from dataclasses import dataclass, field

import ipywidgets as widgets
import plotly.graph_objects as go
from jaxtyping import Bool, Float
from torch import Tensor

from course_utils.plots.computation import plot_neuron_weight_stack, plot_per_feature_loss
from course_utils.widgets.output import figure_output


@dataclass(kw_only=True)
class ComputationExplorerState:
    """The sweep's tensors and the chosen density and seed; every figure is computed from this object."""

    W1: Float[Tensor, "inst hidden feats"]
    density: Float[Tensor, " inst"]
    importance: Float[Tensor, " feats"]
    loss: Float[Tensor, "inst feats"]
    """Each instance's per-feature loss (y'_i - |x_i|)^2 on its own data."""
    computed: Bool[Tensor, "inst feats"]
    chosen_density: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        n_inst, _, n_feats = self.W1.shape
        if self.density.shape != (n_inst,) or self.loss.shape != (n_inst, n_feats) or self.computed.shape != (n_inst, n_feats):
            raise ValueError("W1, density, loss and computed must describe the same instances and features")

    def densities(self) -> list[float]:
        return sorted({round(float(d), 6) for d in self.density}, reverse=True)

    def instance(self) -> int:
        """The index of the chosen density's `seed`-th instance."""
        matches = [k for k, d in enumerate(self.density.tolist()) if abs(d - self.chosen_density) < 1e-6]
        if not matches:
            raise ValueError(f"no instance has density {self.chosen_density}; the sweep has {self.densities()}")
        return matches[min(self.seed, len(matches) - 1)]

    def figures(self) -> tuple[go.Figure, go.Figure]:
        k = self.instance()
        n_computed = int(self.computed[k].sum())
        stack = plot_neuron_weight_stack(self.W1[k : k + 1], self.importance, [f"1-S = {self.chosen_density:g}"], cols=1)
        stack.update_layout(title=f"1-S = {self.chosen_density:g}, seed {self.seed}: {n_computed} features computed", width=560, height=360)
        loss = plot_per_feature_loss(self.loss[k], self.importance, self.computed[k].tolist(),
                                     title=f"Each feature's loss (mean {float(self.loss[k].mean()):.2e})")
        return stack, loss


@dataclass(kw_only=True)
class ComputationExplorer:
    """The state, its density slider and seed picker, and the output the figures are drawn into."""

    state: ComputationExplorerState
    density_slider: widgets.SelectionSlider
    seed_picker: widgets.Dropdown
    output: widgets.Output
    view: widgets.VBox = field(repr=False)

    def _repr_mimebundle_(self, **kwargs):
        return self.view._repr_mimebundle_(**kwargs)


def redraw(explorer: ComputationExplorer) -> None:
    """Show the instance the slider and the picker choose."""
    explorer.state.chosen_density = explorer.density_slider.value
    explorer.state.seed = explorer.seed_picker.value
    explorer.output.outputs = tuple(figure_output(fig) for fig in explorer.state.figures())


def computation_explorer(state: ComputationExplorerState) -> ComputationExplorer:
    """A density slider (and a seed picker) over the sweep that `state` holds."""
    levels = state.densities()
    n_seeds = max(sum(abs(float(d) - level) < 1e-6 for d in state.density) for level in levels)
    density_slider = widgets.SelectionSlider(options=levels, value=min(levels, key=lambda d: abs(d - state.chosen_density)),
                                             description="1 - S", continuous_update=False)
    seed_picker = widgets.Dropdown(options=list(range(n_seeds)), value=min(state.seed, n_seeds - 1), description="seed")
    output = widgets.Output()
    view = widgets.VBox([widgets.HBox([density_slider, seed_picker]), output])
    explorer = ComputationExplorer(state=state, density_slider=density_slider, seed_picker=seed_picker, output=output, view=view)
    density_slider.observe(lambda _change: redraw(explorer), names="value")
    seed_picker.observe(lambda _change: redraw(explorer), names="value")
    redraw(explorer)
    return explorer
