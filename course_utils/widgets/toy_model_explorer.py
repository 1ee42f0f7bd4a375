"""Sliders for the feature density and the importance decay; each change retrains one small toy model."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import ipywidgets as widgets
import plotly.graph_objects as go
import torch
from torch import Tensor

from course_utils.plots.toy_models import feature_geometry
from course_utils.toy_models import ToyModelConfig, TrainConfig, train_with_restarts
from course_utils.widgets.output import figure_output

EXPLORER_TRAIN = TrainConfig(steps=1_500, batch_size=256, lr=1e-2, progress=False)
"""Shorter and faster than the paper's 10,000 steps at lr 1e-3, so that a redraw takes about a second;
for 2-D models it lands on the same shapes (check it against the sweep above)."""


@dataclass(kw_only=True)
class ExplorerState:
    """Everything the explorer shows is computed from this one object."""

    model_cfg: ToyModelConfig
    train_cfg: TrainConfig = EXPLORER_TRAIN
    restarts: int = 3
    seed: int = 0
    W: Tensor | None = None
    b: Tensor | None = None
    final_loss: float = float("nan")


@dataclass(kw_only=True)
class ToyModelExplorer:
    """The state, its two sliders and the output that the figure is drawn into."""

    state: ExplorerState
    density: widgets.FloatLogSlider
    decay: widgets.FloatSlider
    output: widgets.Output
    view: widgets.VBox = field(repr=False)

    def _repr_mimebundle_(self, **kwargs):
        return self.view._repr_mimebundle_(**kwargs)


def retrain_(state: ExplorerState) -> ExplorerState:
    """Train the model the state describes (best of `restarts`) and store its W, b and loss."""
    model, log = train_with_restarts(
        state.model_cfg, state.train_cfg, restarts=state.restarts, generator=torch.Generator().manual_seed(state.seed)
    )
    state.W, state.b = model.W.detach().clone(), model.b.detach().clone()
    state.final_loss = float(log.final_loss()[0])
    return state


def explorer_figure(state: ExplorerState) -> go.Figure:
    """The current model's features in 2-D."""
    if state.W is None:
        raise ValueError("the state holds no trained model yet; call retrain_(state) first")
    fig = feature_geometry(state.W, state.model_cfg.importance_tensor(), state.model_cfg.density_tensor()[:, 0], cols=1)
    decay = state.model_cfg.importance_decay
    biases = ", ".join(f"{v:+.2f}" for v in state.b[0].tolist())
    return fig.update_layout(
        title=f"importance {decay:.2f}^i, loss {state.final_loss:.4f}<br><sub>b = [{biases}]</sub>", height=430, width=460
    )


def redraw(explorer: ToyModelExplorer) -> None:
    """Retrain for the sliders' values and replace the figure."""
    state = explorer.state
    state.model_cfg = replace(state.model_cfg, density=(explorer.density.value,), importance_decay=explorer.decay.value)
    retrain_(state)
    explorer.output.outputs = (figure_output(explorer_figure(state)),)


def toy_model_explorer(
    *, n_features: int = 5, d_hidden: int = 2, density: float = 0.1, decay: float = 0.9, seed: int = 0
) -> ToyModelExplorer:
    """A density slider and an importance-decay slider over one small toy model, retrained on each change."""
    if d_hidden != 2:
        raise ValueError(f"the explorer draws features in 2-D, so d_hidden must be 2 (got {d_hidden})")
    if not 0 < density <= 1 or not 0 < decay <= 1:
        raise ValueError(f"density and decay must lie in (0, 1]; got {density} and {decay}")
    cfg = ToyModelConfig(n_features=n_features, d_hidden=2, n_instances=1, density=(density,), importance_decay=decay)
    state = ExplorerState(model_cfg=cfg, seed=seed)
    density_slider = widgets.FloatLogSlider(value=density, base=10, min=-2, max=0, step=0.1, description="1 - S",
                                            continuous_update=False, readout_format=".3f")
    decay_slider = widgets.FloatSlider(value=decay, min=0.5, max=1.0, step=0.05, description="importance",
                                       continuous_update=False)
    output = widgets.Output()
    view = widgets.VBox([widgets.HBox([density_slider, decay_slider]), output])
    explorer = ToyModelExplorer(state=state, density=density_slider, decay=decay_slider, output=output, view=view)
    density_slider.observe(lambda _change: redraw(explorer), names="value")
    decay_slider.observe(lambda _change: redraw(explorer), names="value")
    redraw(explorer)
    return explorer
