"""Figures of the toy models (TMS, "Demonstrating superposition"): geometry, W^T W, norms, losses."""

from __future__ import annotations

import math

import plotly.graph_objects as go
import torch
from jaxtyping import Float, Int
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots
from torch import Tensor

from course_utils.metrics.geometry import feature_norms, gram, superposition
from course_utils.plots.style import DIVERGING_COLORSCALE, FEATURE_COLORSCALE, styled


def _check_w(W: Tensor, *, hidden: int | None = None) -> None:
    if W.ndim != 3:
        raise ValueError(f"W must have shape (inst, hidden, feats); got {tuple(W.shape)}")
    if hidden is not None and W.shape[1] != hidden:
        raise ValueError(f"this figure needs {hidden} hidden dimensions; W has {W.shape[1]}")


def _titles(density: Tensor | None, n: int) -> list[str]:
    if density is None:
        return [f"instance {i}" for i in range(n)]
    if density.numel() != n:
        raise ValueError(f"got {density.numel()} densities for {n} instances")
    return [f"1-S = {d:.3g}" for d in density.flatten().tolist()]


def _importance_colors(importance: Tensor) -> list[str]:
    top = float(importance.max())
    return sample_colorscale(FEATURE_COLORSCALE, [float(v) / top if top > 0 else 0.0 for v in importance])


def _grid(n: int, cols: int) -> tuple[int, int]:
    cols = max(1, min(cols, n))
    return math.ceil(n / cols), cols


def _per_instance(values: Tensor, n_inst: int, n_feats: int, name: str) -> Tensor:
    values = values.detach().cpu().float()
    if values.ndim == 1 and values.shape[0] == n_feats:
        values = values.expand(n_inst, n_feats)
    if values.shape != (n_inst, n_feats):
        raise ValueError(f"{name} must have shape (feats,) or (inst, feats) = ({n_inst}, {n_feats}); got {tuple(values.shape)}")
    return values


def feature_geometry(
    W: Float[Tensor, "inst 2 feats"],
    importance: Float[Tensor, "inst feats"] | Float[Tensor, " feats"],
    density: Float[Tensor, " inst"] | None = None,
    *,
    cols: int = 5,
    limit: float = 1.5,
) -> go.Figure:
    """One small panel per instance: each feature W_i a line from the origin, coloured by importance."""
    _check_w(W, hidden=2)
    W = W.detach().cpu().float()
    n_inst, _, n_feats = W.shape
    importance = _per_instance(importance, n_inst, n_feats, "importance")
    rows, cols = _grid(n_inst, cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=_titles(density, n_inst), horizontal_spacing=0.03, vertical_spacing=0.12)
    for k in range(n_inst):
        row, col = k // cols + 1, k % cols + 1
        colors = _importance_colors(importance[k])
        for i in range(n_feats):
            x, y = float(W[k, 0, i]), float(W[k, 1, i])
            fig.add_trace(
                go.Scatter(
                    x=[0, x], y=[0, y], mode="lines+markers", line=dict(color=colors[i], width=2.5),
                    marker=dict(size=[0, 7], color=colors[i]), showlegend=False,
                    hovertemplate=f"feature {i}<br>importance {importance[k, i]:.3g}<br>||W_i|| {math.hypot(x, y):.2f}<extra></extra>",
                ),
                row=row, col=col,
            )
    fig.update_xaxes(range=[-limit, limit], showticklabels=False, zeroline=True)
    fig.update_yaxes(range=[-limit, limit], showticklabels=False, zeroline=True)
    for k in range(n_inst):
        axis = "x" if k == 0 else f"x{k + 1}"
        fig.update_yaxes(scaleanchor=axis, scaleratio=1, row=k // cols + 1, col=k % cols + 1)
    fig.add_trace(  # an invisible trace that carries the importance colour bar
        go.Scatter(
            x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
            marker=dict(color=[0.0], cmin=0, cmax=float(importance.max()), colorscale=FEATURE_COLORSCALE,
                        colorbar=dict(title="importance", thickness=12), showscale=True),
        ),
        row=1, col=1,
    )
    return styled(fig, title="Features in the 2-D hidden space (each line is a column W_i)", height=230 * rows + 80, width=190 * cols + 140)


def gram_heatmaps(W: Float[Tensor, "inst hidden feats"], density: Float[Tensor, " inst"] | None = None, *, cols: int = 5) -> go.Figure:
    """W^T W per instance: norms squared on the diagonal, interference off it."""
    _check_w(W)
    G = gram(W.detach().cpu().float())
    n_inst, n_feats = G.shape[0], G.shape[1]
    rows, cols = _grid(n_inst, cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=_titles(density, n_inst), horizontal_spacing=0.03, vertical_spacing=0.12)
    for k in range(n_inst):
        fig.add_trace(
            go.Heatmap(
                z=G[k].tolist(), zmin=-1, zmax=1, zmid=0, colorscale=DIVERGING_COLORSCALE, showscale=k == 0,
                colorbar=dict(title="W<sup>T</sup>W", thickness=12),
                hovertemplate="W_%{y} · W_%{x} = %{z:.2f}<extra></extra>",
            ),
            row=k // cols + 1, col=k % cols + 1,
        )
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed")
    return styled(fig, title=f"W<sup>T</sup>W ({n_feats} x {n_feats}) per instance", height=200 * rows + 80, width=180 * cols + 140)


def superposition_bars(W: Float[Tensor, "inst hidden feats"], density: Float[Tensor, " inst"] | None = None, *, cols: int | None = None) -> go.Figure:
    """The paper's signature figure: ||W_i|| per feature, coloured by its superposition sum_j (W_hat_i . W_j)^2."""
    _check_w(W)
    W = W.detach().cpu().float()
    norms, sup = feature_norms(W), superposition(W)
    n_inst, n_feats = norms.shape
    cols = n_inst if cols is None else cols
    rows, cols = _grid(n_inst, cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=_titles(density, n_inst), shared_yaxes=True, horizontal_spacing=0.015)
    for k in range(n_inst):
        fig.add_trace(
            go.Bar(
                x=norms[k].tolist(), y=list(range(n_feats)), orientation="h", showlegend=False,
                marker=dict(color=sup[k].clamp(max=1).tolist(), cmin=0, cmax=1, colorscale=FEATURE_COLORSCALE,
                            showscale=k == 0, colorbar=dict(title="superposition", thickness=12)),
                customdata=sup[k].tolist(),
                hovertemplate="feature %{y}<br>||W_i|| %{x:.2f}<br>superposition %{customdata:.2f}<extra></extra>",
            ),
            row=k // cols + 1, col=k % cols + 1,
        )
    fig.update_yaxes(autorange="reversed", title_text="feature (most important on top)", row=1, col=1)
    fig.update_xaxes(range=[0, max(1.2, float(norms.max()) * 1.05)])
    return styled(fig, title="||W_i|| per feature, coloured by superposition", height=max(300, 16 * n_feats + 160) * rows, width=max(500, 130 * cols + 120))


def loss_curves(
    losses: Float[Tensor, "steps inst"],
    density: Float[Tensor, " inst"] | None = None,
    *,
    smooth: int = 50,
) -> go.Figure:
    """Each instance's training loss (a running mean over `smooth` steps), on a log scale."""
    if losses.ndim != 2:
        raise ValueError(f"losses must have shape (steps, inst), e.g. TrainLog.losses; got {tuple(losses.shape)}")
    losses = losses.detach().cpu().float()
    smooth = max(1, min(smooth, losses.shape[0]))
    kernel = torch.ones(1, 1, smooth) / smooth
    smoothed = torch.nn.functional.conv1d(losses.T[:, None], kernel).squeeze(1)  # inst steps'
    stride = max(1, smoothed.shape[1] // 400)  # a few hundred points per curve keep the notebook light
    steps = torch.arange(smooth, losses.shape[0] + 1)[::stride]
    names = _titles(density, losses.shape[1])
    colors = sample_colorscale(FEATURE_COLORSCALE, [i / max(1, losses.shape[1] - 1) for i in range(losses.shape[1])])
    fig = go.Figure(
        [go.Scatter(x=steps.tolist(), y=smoothed[k, ::stride].tolist(), name=names[k], mode="lines", line=dict(color=colors[k]))
         for k in range(losses.shape[1])]
    )
    fig.update_yaxes(type="log", title_text="loss")
    fig.update_xaxes(title_text="step")
    return styled(fig, title="Training loss per instance", height=380)


def geometry_animation(
    snapshots: Float[Tensor, "snap inst 2 feats"],
    snapshot_steps: Int[Tensor, " snap"],
    importance: Float[Tensor, " feats"],
    *,
    instance: int = 0,
    limit: float = 1.5,
) -> go.Figure:
    """One instance's 2-D features over training, one plotly frame per snapshot (TrainLog.snapshots)."""
    if snapshots.ndim != 4 or snapshots.shape[2] != 2:
        raise ValueError(f"snapshots must have shape (snap, inst, 2, feats); got {tuple(snapshots.shape)}")
    if snapshot_steps.numel() != snapshots.shape[0]:
        raise ValueError(f"{snapshot_steps.numel()} steps for {snapshots.shape[0]} snapshots")
    W = snapshots[:, instance].detach().cpu().float()
    colors = _importance_colors(importance.detach().cpu().float())

    def traces(w: Tensor) -> list[go.Scatter]:
        return [go.Scatter(x=[0, float(w[0, i])], y=[0, float(w[1, i])], mode="lines+markers", name=f"feature {i}",
                           line=dict(color=colors[i], width=3), marker=dict(size=[0, 8], color=colors[i]))
                for i in range(w.shape[1])]

    labels = [str(int(s)) for s in snapshot_steps]
    frames = [go.Frame(data=traces(W[t]), name=labels[t]) for t in range(W.shape[0])]
    fig = go.Figure(data=traces(W[0]), frames=frames)
    fig.update_layout(
        updatemenus=[dict(type="buttons", x=0.0, y=-0.08, xanchor="left", buttons=[
            dict(label="play", method="animate", args=[None, dict(frame=dict(duration=80, redraw=False), fromcurrent=True)]),
            dict(label="pause", method="animate", args=[[None], dict(mode="immediate", frame=dict(duration=0))]),
        ])],
        sliders=[dict(x=0.15, len=0.85, currentvalue=dict(prefix="step "), steps=[
            dict(label=lab, method="animate", args=[[lab], dict(mode="immediate", frame=dict(duration=0, redraw=False))])
            for lab in labels])],
    )
    fig.update_xaxes(range=[-limit, limit])
    fig.update_yaxes(range=[-limit, limit], scaleanchor="x", scaleratio=1)
    return styled(fig, title=f"Instance {instance} during training", height=520, width=560)


__all__ = ["feature_geometry", "geometry_animation", "gram_heatmaps", "loss_curves", "superposition_bars"]
