"""Figures of notebook 07: L1 vs L2 geometry, decoder directions in 2-D, recovery, the sparsity frontier."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from torch import Tensor

from course_utils.plots.style import PALETTE, styled


def _np(t: Tensor | Sequence[float]) -> np.ndarray:
    return t.detach().cpu().float().numpy() if isinstance(t, Tensor) else np.asarray(t, dtype=float)


def plot_l1_vs_l2(
    A: Tensor, y: Tensor, l1_solution: Tensor, l2_solution: Tensor, *, l1_path: Tensor | None = None,
    l2_path: Tensor | None = None, extent: float = 2.0,
) -> go.Figure:
    """Contours of ||A f - y||^2 in 2-D, the L1 diamond and L2 circle touching them at the two solutions."""
    A_, y_ = _np(A), _np(y)
    grid = np.linspace(-extent, extent, 121)
    f1, f2 = np.meshgrid(grid, grid)
    residual = A_[:, :1, None] * f1 + A_[:, 1:, None] * f2 - y_[:, None, None]
    loss = (residual**2).sum(0)
    fig = go.Figure(go.Contour(x=grid, y=grid, z=loss, colorscale="Greys", reversescale=True, showscale=False,
                               contours=dict(coloring="lines"), line=dict(width=1), name="||A f - y||²",
                               hoverinfo="skip"))
    r1 = float(np.abs(_np(l1_solution)).sum())
    fig.add_trace(go.Scatter(x=[r1, 0, -r1, 0, r1], y=[0, r1, 0, -r1, 0], mode="lines", name="L1 ball |f₁|+|f₂| = c",
                             line=dict(color=PALETTE[1])))
    r2 = float(np.linalg.norm(_np(l2_solution)))
    theta = np.linspace(0, 2 * np.pi, 200)
    fig.add_trace(go.Scatter(x=r2 * np.cos(theta), y=r2 * np.sin(theta), mode="lines", name="L2 ball ||f|| = c",
                             line=dict(color=PALETTE[0])))
    for path, color, name in ((l1_path, PALETTE[1], "L1 solutions as λ grows"), (l2_path, PALETTE[0], "L2 solutions as λ grows")):
        if path is not None:
            p = _np(path)
            fig.add_trace(go.Scatter(x=p[:, 0], y=p[:, 1], mode="markers+lines", name=name,
                                     marker=dict(size=4, color=color), line=dict(dash="dot", color=color)))
    for sol, color, name in ((l1_solution, PALETTE[1], "L1 solution"), (l2_solution, PALETTE[0], "L2 solution")):
        s = _np(sol)
        fig.add_trace(go.Scatter(x=[s[0]], y=[s[1]], mode="markers", name=name,
                                 marker=dict(size=12, color=color, symbol="star", line=dict(width=1, color="black"))))
    fig.update_xaxes(title="f₁", range=[-extent, extent])
    fig.update_yaxes(title="f₂", range=[-extent, extent], scaleanchor="x")
    return styled(fig, title="Least squares with an L1 penalty lands on an axis (f₂ = 0); with L2 it does not",
                  height=520, width=640)


def plot_decoder_directions_2d(snapshots: Tensor, steps: Tensor, true_features: Tensor, *, instance: int = 0) -> go.Figure:
    """Decoder directions (colour) over the true features (grey) in 2-D, with a slider over training steps."""
    snaps = _np(snapshots[:, instance])  # [n_snapshots, d_sae, 2]
    true = _np(true_features)
    if snaps.shape[-1] != 2 or true.shape[-1] != 2:
        raise ValueError(f"needs 2-D directions; got decoder {snaps.shape[-1]}-D and features {true.shape[-1]}-D")

    def arrows(vectors: np.ndarray, color: str | None, name: str, width: float, dash: str | None = None) -> list[go.Scatter]:
        traces = []
        for j, v in enumerate(vectors):
            traces.append(go.Scatter(x=[0, v[0]], y=[0, v[1]], mode="lines+markers", name=f"{name} {j}",
                                     line=dict(color=color or PALETTE[j % len(PALETTE)], width=width, dash=dash),
                                     marker=dict(size=[0, 9]), showlegend=False))
        return traces

    base = arrows(true, "#bbb", "true feature", 6)
    fig = go.Figure(base + arrows(snaps[0], None, "latent", 2.5))
    fig.frames = [go.Frame(data=base + arrows(s, None, "latent", 2.5), name=str(int(st))) for s, st in zip(snaps, _np(steps), strict=True)]
    fig.update_layout(sliders=[dict(active=0, currentvalue=dict(prefix="step "), pad=dict(t=40), steps=[
        dict(method="animate", label=str(int(st)), args=[[str(int(st))], dict(mode="immediate", frame=dict(duration=0, redraw=True))])
        for st in _np(steps)])])
    fig.update_xaxes(range=[-1.2, 1.2], title="hidden 1")
    fig.update_yaxes(range=[-1.2, 1.2], title="hidden 2", scaleanchor="x")
    return styled(fig, title="Decoder directions (colour) over the true features (grey)", height=540, width=620)


def plot_training_curves(logs: Mapping[str, object], metric: str = "mmcs", *, x: str = "step",
                         target: float | None = None) -> go.Figure:
    """One metric of several TrainLogs against steps (or seconds); one line per log and instance."""
    fig = go.Figure()
    for name, log in logs.items():
        values, xs = _np(getattr(log, metric)), _np(getattr(log, x))
        for i in range(values.shape[1]):
            label = name if values.shape[1] == 1 else f"{name} [{i}]"
            fig.add_trace(go.Scatter(x=xs, y=values[:, i], mode="lines", name=label))
    if target is not None:
        fig.add_hline(y=target, line=dict(dash="dash", color="#888"), annotation_text=f"{target}")
    label = {"mmcs": "MMCS", "dead_frac": "dead fraction", "l0": "L0", "fvu": "FVU"}.get(metric, metric)
    fig.update_xaxes(title="training step" if x == "step" else "seconds")
    fig.update_yaxes(title=label)
    return styled(fig, title=f"{label} during training", height=380)


def plot_feature_recovery(best_cosine: Mapping[str, Tensor], probabilities: Tensor) -> go.Figure:
    """Each true feature's best cosine with a decoder direction against how often the feature is active."""
    fig = go.Figure()
    p = _np(probabilities)
    for name, cos in best_cosine.items():
        fig.add_trace(go.Scatter(x=p, y=_np(cos), mode="markers", name=name, marker=dict(size=6, opacity=0.7)))
    fig.update_xaxes(title="P(feature active)", type="log")
    fig.update_yaxes(title="max cosine with any latent", range=[0, 1.02])
    return styled(fig, title="Each true feature against its best latent", height=400)


def plot_frontier(points: Mapping[str, tuple[Tensor, Tensor, Sequence[str]]], *, y_title: str = "FVU",
                  log_y: bool = True) -> go.Figure:
    """L0 against FVU (or MMCS) for sweeps: points[name] = (l0, y, labels of each point)."""
    fig = go.Figure()
    for name, (l0_values, y_values, labels) in points.items():
        fig.add_trace(go.Scatter(x=_np(l0_values), y=_np(y_values), mode="markers+lines+text", name=name,
                                 text=list(labels), textposition="top center", marker=dict(size=9)))
    fig.update_xaxes(title="L0 (active latents per input)", type="log")
    fig.update_yaxes(title=y_title, type="log" if log_y else "linear")
    return styled(fig, title=f"The sparsity frontier: L0 against {y_title}", height=420)


def plot_density_histograms(densities: Mapping[str, Tensor], *, bins: int = 30, low: float = -5.0) -> go.Figure:
    """Histograms of log10 latent density (Bricken et al.'s plot), one row per run; dead latents counted apart."""
    from course_utils.metrics.dictionary import density_histogram

    fig = make_subplots(rows=len(densities), cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        subplot_titles=list(densities))
    for row, (_name, density) in enumerate(densities.items(), start=1):
        counts, edges, dead = density_histogram(density, bins=bins, low=low)
        centers = _np((edges[1:] + edges[:-1]) / 2)
        fig.add_trace(go.Bar(x=centers, y=_np(counts), marker_color=PALETTE[0], showlegend=False), row=row, col=1)
        fig.add_trace(go.Bar(x=[low - 0.5], y=[dead], marker_color=PALETTE[1], showlegend=False), row=row, col=1)
    fig.update_xaxes(title="log10 density (red bar: dead)", row=len(densities), col=1)
    return styled(fig, title="Latent density: too little sparsity gives dense latents, too much gives dead ones",
                  height=140 + 130 * len(densities))


def plot_cosine_matrix(cos: Tensor, *, title: str = "Cosine of each true feature with each latent") -> go.Figure:
    """Heatmap of a [feats, d_sae] cosine matrix (latents ordered by their best feature)."""
    c = cos.detach().cpu()
    order = torch.argsort(c.argmax(0) + 1e-3 * (1 - c.max(0).values))
    fig = go.Figure(go.Heatmap(z=_np(c[:, order]), colorscale="RdBu", zmid=0, zmin=-1, zmax=1,
                               colorbar=dict(title="cos")))
    fig.update_xaxes(title="latent (sorted by best feature)")
    fig.update_yaxes(title="true feature", autorange="reversed")
    return styled(fig, title=title, height=420)
