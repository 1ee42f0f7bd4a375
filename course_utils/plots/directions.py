"""Figures of notebook 01: feature directions, neuron readings, and how much directions overlap."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import torch
from jaxtyping import Float
from plotly.subplots import make_subplots
from torch import Tensor

from course_utils.metrics.interference import CosineSweep, random_cosine_scale, welch_bound
from course_utils.plots.style import DIVERGING_COLORSCALE, PALETTE, styled


def _check_names(names: Sequence[str], n_feats: int) -> list[str]:
    if len(names) != n_feats:
        raise ValueError(f"got {len(names)} feature names for {n_feats} feature directions; give one name per row")
    return list(names)


def _check_matrix(directions: Tensor) -> None:
    if not isinstance(directions, Tensor) or directions.ndim != 2:
        raise ValueError(
            "directions must be a 2-D tensor (feats, hidden), one feature direction per row; "
            f"got shape {tuple(getattr(directions, 'shape', ()))}"
        )


def plot_directions_3d(
    directions: Float[Tensor, "feats hidden"],
    names: Sequence[str],
    *,
    activation: Float[Tensor, " hidden"] | None = None,
    active: Sequence[int] = (),
) -> go.Figure:
    """Feature directions as arrows in a 3-D activation space, the neuron axes, and optionally a = sum c_j f_j."""
    _check_matrix(directions)
    if directions.shape[1] != 3:
        raise ValueError(f"a 3-D picture needs hidden = 3 neurons, got {directions.shape[1]}")
    names = _check_names(names, directions.shape[0])
    fig = go.Figure()
    for k in range(3):
        tip = [0.0, 0.0, 0.0]
        tip[k] = 1.2
        fig.add_trace(go.Scatter3d(
            x=[0, tip[0]], y=[0, tip[1]], z=[0, tip[2]], mode="lines+text", text=["", f"neuron {k}"],
            line=dict(color="#999", width=3, dash="dash"), textfont=dict(color="#777"),
            name=f"neuron {k} axis", showlegend=False, hoverinfo="name",
        ))
    for j, (name, f) in enumerate(zip(names, directions.tolist(), strict=True)):
        color = PALETTE[j % len(PALETTE)]
        width = 8 if j in active else 4
        fig.add_trace(go.Scatter3d(
            x=[0, f[0]], y=[0, f[1]], z=[0, f[2]], mode="lines+text", text=["", name],
            line=dict(color=color, width=width), textfont=dict(color=color), name=name,
            opacity=1.0 if (j in active or not active) else 0.35,
        ))
    if activation is not None:
        a = activation.reshape(-1).tolist()
        fig.add_trace(go.Scatter3d(
            x=[0, a[0]], y=[0, a[1]], z=[0, a[2]], mode="lines+markers", marker=dict(size=[0, 6], color="black"),
            line=dict(color="black", width=10), name="activation a",
        ))
    fig.update_layout(scene=dict(aspectmode="cube", xaxis_title="neuron 0", yaxis_title="neuron 1", zaxis_title="neuron 2"))
    return styled(fig, title="Features are directions; neurons are the axes", height=520)


def plot_feature_neuron_weights(directions: Float[Tensor, "feats hidden"], names: Sequence[str]) -> go.Figure:
    """Heatmap of f_j . e_k: how much each feature (row) moves each neuron (column)."""
    _check_matrix(directions)
    names = _check_names(names, directions.shape[0])
    fig = go.Figure(go.Heatmap(
        z=directions.tolist(), x=[f"neuron {k}" for k in range(directions.shape[1])], y=names,
        colorscale=DIVERGING_COLORSCALE, zmid=0, zmin=-1, zmax=1, texttemplate="%{z:.2f}",
        colorbar=dict(title="f·e"), hovertemplate="%{y} → %{x}: %{z:.3f}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(margin=dict(l=160))
    return styled(fig, title="Every feature moves every neuron: the feature basis is not the neuron basis", height=380)


def plot_neuron_top_samples(
    coeffs: Float[Tensor, "batch feats"],
    directions: Float[Tensor, "feats hidden"],
    neuron: int,
    names: Sequence[str],
    *,
    top: int = 20,
) -> go.Figure:
    """The samples where one neuron reads highest, each bar split into the features' contributions c_j f_j . e_k."""
    _check_matrix(directions)
    names = _check_names(names, directions.shape[0])
    if not 0 <= neuron < directions.shape[1]:
        raise ValueError(f"neuron must be in 0..{directions.shape[1] - 1}, got {neuron}")
    contributions = coeffs * directions[:, neuron]
    readings = contributions.sum(dim=-1)
    order = readings.topk(min(top, len(readings))).indices
    labels = [f"#{int(i)}" for i in order]
    fig = go.Figure()
    for j, name in enumerate(names):
        fig.add_trace(go.Bar(
            x=labels, y=contributions[order, j].tolist(), name=name, marker_color=PALETTE[j % len(PALETTE)],
            hovertemplate=f"{name}: %{{y:.3f}}<extra></extra>",
        ))
    fig.add_trace(go.Scatter(
        x=labels, y=readings[order].tolist(), mode="markers", name="neuron reading",
        marker=dict(color="black", symbol="diamond", size=9),
    ))
    fig.update_layout(barmode="relative", xaxis=dict(type="category", title="sample (highest reading first)",
                      tickangle=-45), yaxis_title=f"contribution to neuron {neuron}",
                      margin=dict(b=90))
    return styled(fig, title=f"What makes neuron {neuron} fire: its top {len(order)} samples", height=420)


def plot_feature_mixer(
    coeffs: Float[Tensor, " feats"],
    directions: Float[Tensor, "feats hidden"],
    names: Sequence[str],
) -> go.Figure:
    """Three panels: the feature coefficients c, the neuron readings a = sum c_j f_j, and the read-back f_j . a."""
    _check_matrix(directions)
    names = _check_names(names, directions.shape[0])
    coeffs = coeffs.reshape(-1)
    if coeffs.shape[0] != directions.shape[0]:
        raise ValueError(f"got {coeffs.shape[0]} coefficients for {directions.shape[0]} features")
    activation = coeffs @ directions
    read = directions @ activation
    neurons = [f"neuron {k}" for k in range(directions.shape[1])]
    colors = [PALETTE[j % len(PALETTE)] for j in range(len(names))]
    fig = make_subplots(rows=1, cols=3, column_widths=[0.38, 0.24, 0.38], subplot_titles=(
        "feature coefficients c", "neuron readings a = Σ c_j f_j", "read back f_j · a (◆ = true c_j)"))
    fig.add_trace(go.Bar(x=names, y=coeffs.tolist(), marker_color=colors, name="c", showlegend=False), 1, 1)
    fig.add_trace(go.Bar(x=neurons, y=activation.tolist(), marker_color="#555", name="a", showlegend=False), 1, 2)
    fig.add_trace(go.Bar(x=names, y=read.tolist(), marker_color=colors, name="f·a", showlegend=False), 1, 3)
    fig.add_trace(go.Scatter(x=names, y=coeffs.tolist(), mode="markers", name="true c",
                             marker=dict(color="black", symbol="diamond", size=9), showlegend=False), 1, 3)
    limit = max(1.0, float(read.abs().max()), float(activation.abs().max()), float(coeffs.abs().max())) * 1.1
    fig.update_yaxes(range=[-limit, limit])
    fig.update_xaxes(tickangle=-35)
    fig.update_layout(margin=dict(l=90, b=130))
    return styled(fig, height=400)


def plot_max_cosine_sweep(sweep: CosineSweep) -> go.Figure:
    """Measured max |cos| of N random unit vectors against N, one line per d, with the random scale and Welch bound."""
    mean = sweep.max_cos.mean(dim=-1)
    fig = go.Figure()
    for j, d in enumerate(sweep.n_hidden):
        color = PALETTE[j % len(PALETTE)]
        group = f"d = {d}"
        fig.add_trace(go.Scatter(
            x=list(sweep.n_feats), y=mean[:, j].tolist(), mode="lines+markers", name=f"measured, d = {d}",
            line=dict(color=color), legendgroup=group,
            hovertemplate=f"d = {d}, N = %{{x}}: max |cos| = %{{y:.3f}}<extra></extra>",
        ))
        fig.add_trace(go.Scatter(
            x=list(sweep.n_feats), y=[min(1.0, random_cosine_scale(n, d)) for n in sweep.n_feats],
            mode="lines", name=f"√(2 ln N(N−1) / d), d = {d}", line=dict(color=color, dash="dash"),
            legendgroup=group, hovertemplate="prediction %{y:.3f}<extra></extra>",
        ))
        fig.add_trace(go.Scatter(
            x=list(sweep.n_feats), y=[welch_bound(n, d) for n in sweep.n_feats], mode="lines",
            name=f"Welch bound (best possible), d = {d}", line=dict(color=color, dash="dot"),
            legendgroup=group, visible="legendonly", hovertemplate="Welch bound %{y:.3f}<extra></extra>",
        ))
    fig.update_xaxes(type="log", title="number of directions N")
    fig.update_yaxes(title="max |cos| between two different directions", range=[0, 1.05])
    return styled(fig, title="How orthogonal can N random directions in d dimensions be?", height=480)


def plot_interference_vs_hidden(
    n_hidden: Sequence[int],
    measured_rms: Sequence[float] | Tensor,
    predicted_rms: Sequence[float] | Tensor,
    *,
    signal: float | None = None,
) -> go.Figure:
    """RMS interference on a read-back feature against the dimension d, measured and predicted (log-log)."""
    measured = torch.as_tensor(measured_rms, dtype=torch.float32).tolist()
    predicted = torch.as_tensor(predicted_rms, dtype=torch.float32).tolist()
    if not len(n_hidden) == len(measured) == len(predicted):
        raise ValueError(
            f"n_hidden, measured_rms and predicted_rms need one value per d; got lengths "
            f"{len(n_hidden)}, {len(measured)}, {len(predicted)}"
        )
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=list(n_hidden), y=measured, mode="markers+lines", name="measured RMS interference"))
    fig.add_trace(go.Scatter(x=list(n_hidden), y=predicted, mode="lines", name="prediction √((N−1) p E[c²] / d)",
                             line=dict(dash="dash")))
    if signal is not None:
        fig.add_hline(y=signal, line=dict(color="#888", dash="dot"), annotation_text=f"typical signal E[c] = {signal:g}")
    fig.update_xaxes(type="log", title="dimension d (neurons)")
    fig.update_yaxes(type="log", title="RMS interference Σ c_k f_k·f_j, k ≠ j")
    return styled(fig, title="Interference shrinks like 1/√d", height=420)
