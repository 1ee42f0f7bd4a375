"""A slider over the dataset size T of a finished memorization run: both geometries and the point on the curve."""

from __future__ import annotations

from dataclasses import dataclass, field

import ipywidgets as widgets
import plotly.graph_objects as go

from course_utils.plots.memorization import geometry_panels, loss_vs_dataset_size
from course_utils.toy_models.memorization import MemorizationRun, peak_index
from course_utils.widgets.output import figure_output


@dataclass(kw_only=True)
class MemorizationExplorer:
    """The run it shows, its two sliders and the output the figures are drawn into."""

    run: MemorizationRun
    size: widgets.SelectionSlider
    seed: widgets.IntSlider
    output: widgets.Output
    view: widgets.VBox = field(repr=False)

    def _repr_mimebundle_(self, **kwargs):
        return self.view._repr_mimebundle_(**kwargs)


def explorer_figures(run: MemorizationRun, size: int, seed: int) -> tuple[go.Figure, go.Figure]:
    """The geometry of the (size, seed) model, and the test-loss curve with that size marked."""
    i = run.instance(size, seed)
    label = f"T={size}, seed {seed}"
    geometry = geometry_panels([(label, run.hidden_vectors(i), run.W[i])])
    geometry.update_layout(title=f"{label}: train loss {float(run.train_loss[i]):.3f}, test loss {float(run.test_loss[i]):.3f}")
    test = run.by_size(run.test_loss)
    curve = loss_vs_dataset_size(run.sizes, test, run.by_size(run.train_loss), peak=peak_index(test.mean(1)), highlight=size)
    return geometry, curve


def redraw(explorer: MemorizationExplorer) -> None:
    """Replace the figures with those of the sliders' (size, seed)."""
    figures = explorer_figures(explorer.run, explorer.size.value, explorer.seed.value)
    explorer.output.outputs = tuple(figure_output(f) for f in figures)


def memorization_explorer(run: MemorizationRun, *, size: int | None = None, seed: int = 0) -> MemorizationExplorer:
    """Sliders over T and the seed of a trained run (nothing retrains: the run holds every model)."""
    if run.W.shape[1] != 2:
        raise ValueError(f"the explorer draws the hidden space in 2-D, so d_hidden must be 2 (got {run.W.shape[1]})")
    sizes = list(run.cfg.dataset_sizes)
    size = sizes[len(sizes) // 2] if size is None else size
    run.instance(size, seed)  # validates both
    size_slider = widgets.SelectionSlider(options=sizes, value=size, description="T", continuous_update=False)
    seed_slider = widgets.IntSlider(value=seed, min=0, max=run.cfg.seeds - 1, description="seed", continuous_update=False)
    output = widgets.Output()
    view = widgets.VBox([widgets.HBox([size_slider, seed_slider]), output])
    explorer = MemorizationExplorer(run=run, size=size_slider, seed=seed_slider, output=output, view=view)
    size_slider.observe(lambda _change: redraw(explorer), names="value")
    seed_slider.observe(lambda _change: redraw(explorer), names="value")
    redraw(explorer)
    return explorer
