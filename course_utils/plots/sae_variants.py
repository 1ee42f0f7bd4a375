"""Figures of notebook 08: shrinkage (activation histograms), absorption per variant, feature splitting."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from torch import Tensor

from course_utils.plots.style import PALETTE, styled


def _np(t: Tensor) -> np.ndarray:
    return t.detach().cpu().float().numpy()


def plot_activation_histograms(
    values: Mapping[str, Tensor], *, true_value: float = 1.0, bins: int = 40
) -> go.Figure:
    """Overlaid histograms of latent activations (values[name]: 1-D) where the true coefficient is true_value."""
    fig = go.Figure()
    for j, (name, v) in enumerate(values.items()):
        color = PALETTE[j % len(PALETTE)]
        arr = np.round(_np(v), 3)
        fig.add_trace(go.Histogram(x=arr, name=name, opacity=0.6, marker_color=color, nbinsx=bins,
                                   histnorm="probability"))
    fig.add_vline(x=true_value, line_dash="dash", annotation_text="true coefficient")
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title="activation of the feature's latent")
    fig.update_yaxes(title="fraction of inputs")
    return styled(fig, title="Shrinkage: what each SAE's latent reads when its feature is active alone", height=380)


def plot_absorption(
    rates: Mapping[str, Tensor], l0: Mapping[str, Tensor]
) -> go.Figure:
    """Absorption rate of each variant (one dot per instance/restart, a bar at the mean), L0 in the hover."""
    fig = go.Figure()
    names = list(rates)
    means = [float(rates[n].float().mean()) for n in names]
    fig.add_trace(go.Bar(x=names, y=np.round(means, 3), marker_color=PALETTE[0], opacity=0.5, name="mean"))
    for n in names:
        r = _np(rates[n]).reshape(-1)
        fig.add_trace(go.Scatter(x=[n] * len(r), y=np.round(r, 3), mode="markers", marker=dict(color=PALETTE[1], size=9),
                                 text=[f"L0 {v:.2f}" for v in _np(l0[n]).reshape(-1)], hoverinfo="text+y",
                                 showlegend=False))
    fig.update_yaxes(title="absorption rate", range=[0, 1])
    return styled(fig, title="Feature absorption at matched L0: how often a parent's latent is silent "
                             "where a child fires", height=380)
