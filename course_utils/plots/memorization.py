"""Figures of memorization and double descent (Henighan et al. 2023): the test-loss curve over dataset sizes,
datapoints against features in 2-D, and the dimensionality of each against T."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import torch
from jaxtyping import Float, Int
from plotly.subplots import make_subplots
from torch import Tensor

from course_utils.plots.style import PALETTE, styled

POINT_COLOR, FEATURE_COLOR = PALETTE[1], PALETTE[0]  # red datapoints, blue features, as in the paper's figures


def _r(values: Tensor, digits: int = 4) -> list[float]:
    return [round(float(v), digits) for v in values.flatten()]


def loss_vs_dataset_size(
    sizes: Int[Tensor, " sizes"],
    test_loss: Float[Tensor, "sizes seeds"],
    train_loss: Float[Tensor, "sizes seeds"] | None = None,
    *,
    peak: int | None = None,
    highlight: int | None = None,
) -> go.Figure:
    """Test (and train) loss against the dataset size T: every seed as a dot, the mean as a line, the peak starred."""
    if test_loss.ndim != 2 or test_loss.shape[0] != sizes.numel():
        raise ValueError(f"test_loss must have shape (sizes, seeds) = ({sizes.numel()}, seeds); got {tuple(test_loss.shape)}")
    fig = go.Figure()
    t = sizes.float()
    seeds = test_loss.shape[1]
    for name, loss, color in (("test", test_loss, POINT_COLOR), ("train", train_loss, FEATURE_COLOR)):
        if loss is None:
            continue
        fig.add_trace(go.Scatter(x=_r(t.repeat_interleave(seeds)), y=_r(loss), mode="markers", name=f"{name}, each seed",
                                 marker=dict(color=color, size=5, opacity=0.35), hovertemplate="T=%{x}<br>loss %{y:.3f}"))
        fig.add_trace(go.Scatter(x=_r(t), y=_r(loss.mean(1)), mode="lines+markers", name=f"{name} loss (mean of {seeds})",
                                 line=dict(color=color, width=2)))
    if peak is not None:
        fig.add_trace(go.Scatter(x=[float(t[peak])], y=[round(float(test_loss[peak].mean()), 4)], mode="markers+text",
                                 marker=dict(symbol="star", size=16, color="black"), text=[f"peak T={int(sizes[peak])}"],
                                 textposition="top center", name="test-loss peak"))
    fig.add_hline(y=1.0, line=dict(color="#bbb", width=1), annotation_text="a model that outputs 0",
                  annotation_position="bottom right")
    if highlight is not None:
        fig.add_vline(x=float(highlight), line=dict(color="#888", dash="dot"))
    fig.update_xaxes(type="log", title="dataset size T")
    fig.update_yaxes(title="loss (squared error summed over features)")
    return styled(fig, title="Double descent: test loss against the dataset size", height=380)


def _arrows(vectors: Float[Tensor, "k 2"]) -> tuple[list, list]:
    xs, ys = [], []
    for x, y in vectors.tolist():
        xs += [0.0, round(x, 3), None]
        ys += [0.0, round(y, 3), None]
    return xs, ys


def geometry_panels(
    panels: Sequence[tuple[str, Float[Tensor, "size 2"], Float[Tensor, "2 feats"]]],
) -> go.Figure:
    """For each (label, h, W): the training points' hidden vectors h_t (top, red) and the features W_i (bottom, blue)."""
    if not panels:
        raise ValueError("give at least one (label, hidden vectors, W) panel")
    for label, h, W in panels:
        if h.ndim != 2 or h.shape[1] != 2 or W.ndim != 2 or W.shape[0] != 2:
            raise ValueError(f"panel {label!r}: h must be (size, 2) and W (2, feats); got {tuple(h.shape)} and {tuple(W.shape)}")
    cols = len(panels)
    fig = make_subplots(rows=2, cols=cols, horizontal_spacing=0.04, vertical_spacing=0.08,
                        subplot_titles=[f"{label}: datapoints W x<sub>t</sub>" for label, _, _ in panels]
                        + [f"{label}: features W<sub>i</sub>" for label, _, _ in panels])
    for c, (_label, h, W) in enumerate(panels, start=1):
        for row, vectors, color, name in ((1, h, POINT_COLOR, "datapoints"), (2, W.T, FEATURE_COLOR, "features")):
            xs, ys = _arrows(vectors)
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=color, width=1.5), name=name,
                                     showlegend=c == 1, legendgroup=name, hoverinfo="skip"), row=row, col=c)
            fig.add_trace(go.Scatter(x=_r(vectors[:, 0], 3), y=_r(vectors[:, 1], 3), mode="markers",
                                     marker=dict(color=color, size=4), showlegend=False, hoverinfo="skip"), row=row, col=c)
            reach = max(float(vectors.abs().max()), 1e-3) * 1.15
            axis = (row - 1) * cols + c
            fig.update_xaxes(range=[-reach, reach], showticklabels=False, row=row, col=c)
            fig.update_yaxes(range=[-reach, reach], showticklabels=False, scaleanchor=f"x{'' if axis == 1 else axis}",
                             row=row, col=c)
    return styled(fig, title="Datapoints or features: what the hidden space stores (each panel its own scale)",
                  height=560, width=max(420, 290 * cols))


def dimensionality_scatter(
    sizes: Int[Tensor, " sizes"],
    point_dims: Sequence[Float[Tensor, " points"]],
    feature_dims: Sequence[Float[Tensor, " feats"]],
    *,
    d_hidden: int,
    min_dim: float = 1e-3,
) -> go.Figure:
    """Every datapoint's and every feature's dimensionality against T (one model per size), with the T-gon's m/T."""
    if len(point_dims) != sizes.numel() or len(feature_dims) != sizes.numel():
        raise ValueError(f"give one tensor of datapoint and of feature dimensionalities per size ({sizes.numel()})")
    fig = go.Figure()
    for name, dims, color, offset in (("features D<sub>f</sub>", feature_dims, FEATURE_COLOR, 0.93),
                                      ("datapoints D<sub>X</sub>", point_dims, POINT_COLOR, 1.07)):
        xs, ys = [], []
        for t, d in zip(sizes.tolist(), dims, strict=True):
            keep = d[d > min_dim]  # the rest (unused features, points at h = 0) would sit at zero on a log axis
            xs += [round(t * offset, 3)] * keep.numel()
            ys += _r(keep, 4)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=name, marker=dict(color=color, size=5, opacity=0.5)))
    t = torch.logspace(0, torch.log10(sizes.max().float()).item(), 30)
    fig.add_trace(go.Scatter(x=_r(t, 3), y=_r((d_hidden / t).clamp(max=1.0), 4), mode="lines", name=f"m/T (a T-gon), m={d_hidden}",
                             line=dict(color="#555", dash="dash")))
    fig.update_xaxes(type="log", title="dataset size T")
    fig.update_yaxes(type="log", title=f"dimensionality (values above {min_dim:g})")
    return styled(fig, title="Dimensionality of datapoints and of features", height=380)
