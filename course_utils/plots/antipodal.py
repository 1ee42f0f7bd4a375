"""Figures of notebook 02: loss landscapes over (f1, f2), descent paths, the 1-D readout, the density sweep."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import torch
from jaxtyping import Float
from plotly.subplots import make_subplots
from torch import Tensor

from course_utils.plots.style import FEATURE_COLORSCALE, PALETTE, styled
from course_utils.toy_models.antipodal import DensitySweep


def _check_grid(axis: Tensor, z: Tensor, name: str) -> None:
    n = axis.shape[0]
    if axis.ndim != 1 or z.shape != (n, n):
        raise ValueError(
            f"{name}: the loss grid must have shape (len(axis), len(axis)) = ({n}, {n}) with z[i, j] the loss at "
            f"f1 = axis[j], f2 = axis[i]; got axis shape {tuple(axis.shape)} and grid shape {tuple(z.shape)}"
        )


def _path_trace(paths: Float[Tensor, "step inst params"]) -> go.Scatter:
    """All descent paths as one line trace (None between paths keeps the figure light)."""
    stride = max(1, -(-(paths.shape[0] - 1) // 40))  # at most ~41 points per path
    steps = list(range(0, paths.shape[0], stride))
    if steps[-1] != paths.shape[0] - 1:
        steps.append(paths.shape[0] - 1)
    paths = paths[steps].double().round(decimals=3)
    xs: list[float | None] = []
    ys: list[float | None] = []
    for inst in range(paths.shape[1]):
        xs += paths[:, inst, 0].tolist() + [None]
        ys += paths[:, inst, 1].tolist() + [None]
    return go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="white", width=1.2), hoverinfo="skip",
                      name="descent path", showlegend=False)


def plot_loss_landscapes(
    axis: Float[Tensor, " batch"],
    panels: Mapping[str, Float[Tensor, "batch batch"]],
    *,
    paths: Mapping[str, Float[Tensor, "step inst params"]] | None = None,
    zmax: float = 1.0,
    marks: Sequence[tuple[float, float, str]] = (),
    max_points: int = 41,
) -> go.Figure:
    """One heatmap per loss over the (f1, f2) plane (colours capped at zmax), with optional descent paths.

    `marks` are (f1, f2, label) points drawn on every panel. The figure keeps what the eye sees: at most
    `max_points` grid points per axis (every k-th point) and losses rounded to 3 decimals, capped at zmax,
    so a notebook holding it stays small.
    """
    if not panels:
        raise ValueError("panels is empty: give at least one {title: loss grid}")
    paths = dict(paths or {})
    unknown = set(paths) - set(panels)
    if unknown:
        raise ValueError(f"paths for {sorted(unknown)} have no panel; panels are {list(panels)}")
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, got {max_points}")
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=list(panels), horizontal_spacing=0.08)
    stride = max(1, -(-(axis.shape[0] - 1) // (max_points - 1)))  # ceil: at most max_points per axis
    keep = torch.arange(0, axis.shape[0], stride)
    ax = axis[keep].double().round(decimals=3).tolist()
    for col, (title, z) in enumerate(panels.items(), start=1):
        _check_grid(axis, z, title)
        shown = z[keep][:, keep].clamp(max=zmax).double().round(decimals=3).tolist()
        fig.add_trace(
            go.Heatmap(x=ax, y=ax, z=shown, zmin=0, zmax=zmax, colorscale=FEATURE_COLORSCALE,
                       colorbar=dict(title="loss", len=0.9) if col == 1 else None, showscale=col == 1, showlegend=False,
                       hovertemplate=f"f1=%{{x:.2f}}<br>f2=%{{y:.2f}}<br>loss=%{{z:.3f}} (capped at {zmax:g})<extra></extra>"),
            row=1, col=col,
        )
        fig.add_trace(go.Contour(x=ax, y=ax, z=shown, contours=dict(start=zmax / 20, end=zmax, size=zmax / 10,
                                 coloring="none"), line=dict(color="rgba(255,255,255,0.35)", width=1),
                                 showscale=False, showlegend=False, hoverinfo="skip"), row=1, col=col)
        if title in paths:
            path = paths[title].double().round(decimals=3)
            fig.add_trace(_path_trace(path), row=1, col=col)
            fig.add_trace(go.Scatter(x=path[0, :, 0].tolist(), y=path[0, :, 1].tolist(), mode="markers",
                                     marker=dict(symbol="circle-open", color="white", size=6), name="start",
                                     showlegend=col == 1), row=1, col=col)
            fig.add_trace(go.Scatter(x=path[-1, :, 0].tolist(), y=path[-1, :, 1].tolist(), mode="markers",
                                     marker=dict(color=PALETTE[1], size=8, line=dict(color="white", width=1)),
                                     name="end", showlegend=col == 1), row=1, col=col)
        for f1, f2, label in marks:
            fig.add_trace(go.Scatter(x=[f1], y=[f2], mode="markers+text", text=[label], textposition="top center",
                                     textfont=dict(color="white"), marker=dict(symbol="x", color="white", size=9),
                                     showlegend=False, hoverinfo="skip"), row=1, col=col)
        fig.update_xaxes(title_text="f1", range=[ax[0], ax[-1]], row=1, col=col)
        fig.update_yaxes(title_text="f2" if col == 1 else None, range=[ax[0], ax[-1]], scaleanchor=f"x{col if col > 1 else ''}",
                         row=1, col=col)
    fig.update_layout(legend=dict(orientation="h", x=1.0, xanchor="right", y=1.12))
    return styled(fig, height=460, width=max(480, 430 * len(panels)))


def plot_readouts(
    solutions: Mapping[str, tuple[float, float, float, float]], *, h_range: float = 2.5
) -> go.Figure:
    """Per solution (f1, f2, b1, b2): the readouts x_hat_j = ReLU(f_j h + b_j) along the 1-D hidden line.

    The hidden value of each input (none, one feature, both) is marked; inputs at the same h read the same.
    """
    if not solutions:
        raise ValueError("solutions is empty: give at least one {name: (f1, f2, b1, b2)}")
    fig = make_subplots(rows=1, cols=len(solutions), subplot_titles=list(solutions), horizontal_spacing=0.1)
    h = torch.linspace(-h_range, h_range, 201)
    for col, (name, params) in enumerate(solutions.items(), start=1):
        if len(params) != 4:
            raise ValueError(f"{name}: give (f1, f2, b1, b2), got {params!r}")
        f1, f2, b1, b2 = (float(v) for v in params)
        for j, (f, b) in enumerate([(f1, b1), (f2, b2)]):
            fig.add_trace(go.Scatter(x=h.tolist(), y=torch.relu(f * h + b).tolist(), mode="lines",
                                     line=dict(color=PALETTE[j], width=2.5), name=f"x̂{j + 1} = ReLU(f{j + 1} h + b{j + 1})",
                                     legendgroup=f"x{j}", showlegend=col == 1), row=1, col=col)
        inputs = {"none on": 0.0, "feature 1 on": f1, "feature 2 on": f2, "both on": f1 + f2}
        by_h: dict[float, list[str]] = {}
        for label, value in inputs.items():
            by_h.setdefault(round(value, 6), []).append(label)
        for index, (value, labels) in enumerate(sorted(by_h.items())):
            fig.add_vline(x=value, line=dict(color="#999", dash="dot", width=1), row=1, col=col)
            fig.add_trace(go.Scatter(x=[value], y=[-0.12], mode="markers", marker=dict(color="#444", size=8, symbol="diamond"),
                                     showlegend=False, hovertemplate=f"h = {value:.2f}<extra></extra>"), row=1, col=col)
            # staggered heights keep neighbouring labels apart
            fig.add_trace(go.Scatter(x=[value], y=[-0.25 if index % 2 == 0 else -0.5], mode="text",
                                     text=[" = ".join(labels)], textfont=dict(size=11), showlegend=False,
                                     hoverinfo="skip"), row=1, col=col)
        fig.update_xaxes(title_text="hidden value h = f1 x1 + f2 x2", range=[-h_range, h_range], row=1, col=col)
        fig.update_yaxes(title_text="readout x̂" if col == 1 else None, range=[-0.65, 2.0], row=1, col=col)
    fig.update_layout(legend=dict(orientation="h", y=1.18, x=0))
    return styled(fig, height=420, width=max(520, 470 * len(solutions)))


def plot_density_sweep(sweep: DensitySweep, *, crossovers: Mapping[str, float] | None = None) -> go.Figure:
    """Expected loss against feature density: the pair and the dedicated feature (b = 0 and best b), and training."""
    p = sweep.densities.tolist()
    fig = go.Figure()
    curves = [
        ("antipodal pair, b = 0", sweep.pair_fixed, PALETTE[0], "dash"),
        ("one dedicated feature, b = 0", sweep.dedicated_fixed, PALETTE[1], "dash"),
        ("antipodal pair, best b", sweep.pair_best, PALETTE[0], "solid"),
        ("one dedicated feature, best b", sweep.dedicated_best, PALETTE[1], "solid"),
    ]
    for name, values, color, dash in curves:
        fig.add_trace(go.Scatter(x=p, y=values.tolist(), mode="lines", name=name, line=dict(color=color, dash=dash,
                                 width=2.5), hovertemplate="p=%{x:.2f}<br>loss=%{y:.4f}<extra>" + name + "</extra>"))
    params = sweep.trained_params.tolist()
    fig.add_trace(go.Scatter(
        x=p, y=sweep.trained.tolist(), mode="markers", name="best of free training (f and b)",
        marker=dict(color=PALETTE[2], size=8, symbol="circle"), customdata=params,
        hovertemplate="p=%{x:.2f}<br>loss=%{y:.4f}<br>f=(%{customdata[0]:.2f}, %{customdata[1]:.2f})"
                      "<br>b=(%{customdata[2]:.2f}, %{customdata[3]:.2f})<extra></extra>",
    ))
    for label, x in (crossovers or {}).items():
        fig.add_vline(x=x, line=dict(color="#555", dash="dot"), annotation_text=f"{label}: p = {x:.2f}",
                      annotation_position="top left")
    fig.update_xaxes(title_text="feature density p (each feature on with probability p)", range=[0, 1])
    fig.update_yaxes(title_text="expected loss per input", range=[0, 0.6])
    fig.update_layout(legend=dict(x=0.99, xanchor="right", y=0.99, bgcolor="rgba(255,255,255,0.8)"))
    return styled(fig, title="Superposition pays while features are sparse", height=450, width=820)


def plot_expected_loss_map(
    axis: Float[Tensor, " batch"], z: Float[Tensor, "batch batch"], *, p: float, b: float, zmax: float = 0.5
) -> go.Figure:
    """The expected loss under density p over the (f1, f2) plane, both biases at b (the explorer's view)."""
    fig = plot_loss_landscapes(axis, {f"expected loss, p = {p:.2f}, b1 = b2 = {b:.2f}": z}, zmax=zmax,
                               marks=[(1.0, -1.0, "pair"), (-1.0, 1.0, "pair"), (1.0, 0.0, "one feature"),
                                      (0.0, 1.0, "one feature")])
    best = int(z.argmin())
    n = axis.shape[0]
    fig.add_trace(go.Scatter(x=[axis[best % n].item()], y=[axis[best // n].item()], mode="markers",
                             marker=dict(symbol="star", color=PALETTE[4], size=14, line=dict(color="white", width=1)),
                             name=f"grid minimum {z.min().item():.3f}"))
    return styled(fig, height=480, width=560)
