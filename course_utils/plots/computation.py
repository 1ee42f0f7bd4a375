"""Figures of the |x| model (TMS "Computation in Superposition"): the neuron-weight stack plot, features
computed against density, each feature's loss."""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go
from jaxtyping import Float, Int
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots
from torch import Tensor

from course_utils.plots.style import FEATURE_COLORSCALE, PALETTE, styled


def _feature_colors(importance: Tensor) -> list[str]:
    top = float(importance.max())
    return sample_colorscale(FEATURE_COLORSCALE, [float(v) / top if top > 0 else 0.0 for v in importance])


def plot_neuron_weight_stack(
    W1: Float[Tensor, "inst hidden feats"],
    importance: Float[Tensor, " feats"],
    titles: Sequence[str],
    *,
    cols: int = 4,
) -> go.Figure:
    """Per neuron, the stacked input weights W1[k, i] of the features it reads (positive up, negative down),
    coloured by the feature's importance: one bar per feature for a monosemantic neuron, several when polysemantic."""
    if W1.ndim != 3 or importance.shape != (W1.shape[2],) or len(titles) != W1.shape[0]:
        raise ValueError(f"W1 must be (inst, hidden, feats) with one importance per feature and one title per instance; got "
                         f"{tuple(W1.shape)}, {tuple(importance.shape)} and {len(titles)} titles")
    W1 = W1.detach().cpu().float()
    n_inst, n_hidden, n_feats = W1.shape
    colors = _feature_colors(importance.detach().cpu())
    cols = max(1, min(cols, n_inst))
    rows = math.ceil(n_inst / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(titles), horizontal_spacing=0.05, vertical_spacing=0.14)
    neurons = list(range(n_hidden))
    for k in range(n_inst):
        for i in range(n_feats):
            weights = [round(float(w), 3) for w in W1[k, :, i]]
            fig.add_trace(go.Bar(x=neurons, y=weights, marker=dict(color=colors[i], line=dict(width=0.5, color="white")),
                                 name=f"feature {i}", legendgroup=str(i), showlegend=k == 0 and i < 10,
                                 hovertemplate=f"feature {i}<br>neuron %{{x}}<br>W1 %{{y:.2f}}<extra></extra>"),
                          row=k // cols + 1, col=k % cols + 1)
    fig.update_layout(barmode="relative", bargap=0.25, legend=dict(title="feature (colour: importance)"))
    fig.update_xaxes(dtick=1, showgrid=False)
    fig.update_xaxes(title_text="neuron", row=rows)
    fig.update_yaxes(title_text="input weight W1", col=1)
    return styled(fig, title="Each neuron's input weights, stacked by feature (brightest = most important)",
                  height=260 * rows + 100, width=250 * cols + 200)


def plot_features_computed(
    density: Float[Tensor, " inst"],
    computed: Int[Tensor, " inst"],
    *,
    d_hidden: int,
    n_features: int,
) -> go.Figure:
    """Features computed (one marker per trained instance) against density, with the mean and the m/2 line."""
    if density.shape != computed.shape or density.ndim != 1:
        raise ValueError(f"give one density per instance and one count per instance; got {tuple(density.shape)} and {tuple(computed.shape)}")
    density, computed = density.detach().cpu().float(), computed.detach().cpu()
    levels = sorted(set(density.tolist()), reverse=True)
    means = [float(computed[density == d].float().mean()) for d in levels]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=density.tolist(), y=computed.tolist(), mode="markers", name="one instance (seed)",
                             marker=dict(size=9, color=PALETTE[0], opacity=0.6),
                             hovertemplate="1-S %{x:.3g}<br>%{y} features<extra></extra>"))
    fig.add_trace(go.Scatter(x=levels, y=[round(m, 3) for m in means], mode="lines+markers", name="mean over seeds",
                             line=dict(color=PALETTE[1], width=2)))
    fig.add_hline(y=d_hidden / 2, line=dict(dash="dash", color="#555"), annotation_text=f"m/2 = {d_hidden / 2:g}",
                  annotation_position="top left")
    fig.add_hline(y=d_hidden, line=dict(dash="dot", color="#999"), annotation_text=f"m = {d_hidden}",
                  annotation_position="top left")
    fig.update_xaxes(type="log", title_text="feature density 1 - S", autorange="reversed")
    fig.update_yaxes(title_text="features computed (R² ≥ 0.9)", range=[0, min(n_features, 2 * d_hidden) + 0.5])
    return styled(fig, title="Features computed by m neurons: m/2 when dense, more when sparse", height=380, width=640)


def plot_per_feature_loss(
    loss: Float[Tensor, " feats"],
    importance: Float[Tensor, " feats"],
    computed: Sequence[bool] | None = None,
    *,
    title: str = "Each feature's loss",
) -> go.Figure:
    """One bar per feature: its mean squared error (y'_i - |x_i|)^2, coloured by importance; computed features marked."""
    if loss.ndim != 1 or loss.shape != importance.shape or (computed is not None and len(computed) != loss.numel()):
        raise ValueError(f"loss and importance must both be (feats,), computed one flag per feature; got {tuple(loss.shape)}, "
                         f"{tuple(importance.shape)}")
    loss = loss.detach().cpu().float()
    labels = None if computed is None else ["✓" if c else "" for c in computed]
    fig = go.Figure(go.Bar(x=list(range(loss.numel())), y=[float(f"{v:.3g}") for v in loss.tolist()],
                           marker=dict(color=_feature_colors(importance.detach().cpu())), text=labels, textposition="outside",
                           hovertemplate="feature %{x}<br>loss %{y:.2e}<extra></extra>"))
    fig.update_xaxes(dtick=1, title_text="feature (✓ computed)")
    fig.update_yaxes(title_text="mean (y' - |x|)²")
    return styled(fig, title=title, height=320, width=560)
