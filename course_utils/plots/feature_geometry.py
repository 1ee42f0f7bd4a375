"""Figures of notebook 04: feature dimensionality, the 2-in-1 phase diagram, neuron weights, pair geometry, kurtosis."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from jaxtyping import Float, Int
from plotly.subplots import make_subplots
from torch import Tensor

from course_utils.plots.style import DIVERGING_COLORSCALE, PALETTE, styled

PHASE_COLORS = ("#9ecae1", "#fdae6b", "#74c476")
"""Colours of solution codes 0, 1, 2 (see `course_utils.toy_models.phase_diagram.SOLUTIONS`); code -1 is grey."""
OTHER_COLOR = "#d9d9d9"


def plot_dimensionality(
    density: Float[Tensor, " inst"],
    d_star: Float[Tensor, " inst"],
    dimensionality: Float[Tensor, "inst feats"],
    norms: Float[Tensor, "inst feats"],
    fractions: Mapping[str, float],
    *,
    threshold: float = 0.5,
) -> go.Figure:
    """D* against 1/(1-S) (log x), every learned feature's D_i as a dot, and the sticky fractions as lines."""
    n_inst = density.numel()
    if d_star.shape != (n_inst,) or dimensionality.shape[0] != n_inst or norms.shape != dimensionality.shape:
        raise ValueError(
            f"need density and d_star of shape (inst,) and dimensionality, norms of shape (inst, feats); got "
            f"{tuple(density.shape)}, {tuple(d_star.shape)}, {tuple(dimensionality.shape)}, {tuple(norms.shape)}"
        )
    x = (1 / density).tolist()
    fig = go.Figure()
    for name, value in fractions.items():
        fig.add_hline(y=value, line=dict(color="#bbb", width=1, dash="dot"),
                      annotation=dict(text=f"{name} ({value:.3g})", font=dict(size=10, color="#777")),
                      annotation_position="right")
    xs, ys, hover = [], [], []
    for k in range(n_inst):
        live = norms[k] > threshold
        for i in live.nonzero().flatten().tolist():
            xs.append(x[k])
            ys.append(float(dimensionality[k, i]))
            hover.append(f"feature {i}<br>||W_i|| {float(norms[k, i]):.2f}")
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=f"D_i (features with ||W_i|| > {threshold})",
                             marker=dict(color=PALETTE[0], size=6, opacity=0.35), text=hover,
                             hovertemplate="1/(1-S)=%{x:.3g}<br>D_i=%{y:.3f}<br>%{text}<extra></extra>"))
    fig.add_trace(go.Scatter(x=x, y=d_star.tolist(), mode="lines+markers", name="D* = m / ||W||_F^2",
                             line=dict(color=PALETTE[1], width=2.5), marker=dict(size=8),
                             hovertemplate="1/(1-S)=%{x:.3g}<br>D*=%{y:.3f}<extra></extra>"))
    fig.update_xaxes(type="log", title="1 / (1 - S)   (1 / density)")
    fig.update_yaxes(title="dimensions per feature", range=[0, 1.1])
    fig.update_layout(legend=dict(orientation="h", y=-0.2), margin=dict(r=170))
    return styled(fig, title="Feature dimensionality: D* and each feature's D_i stick to simple fractions", height=480, width=900)


def _phase_heatmap(ratios: Tensor, densities: Tensor, codes: Tensor, showscale: bool) -> go.Heatmap:
    # Codes -1..2 on a discrete colour scale.
    colors = [OTHER_COLOR, *PHASE_COLORS]
    scale = []
    for i, color in enumerate(colors):
        scale += [[i / len(colors), color], [(i + 1) / len(colors), color]]
    return go.Heatmap(
        x=ratios.tolist(), y=densities.tolist(), z=codes.tolist(), zmin=-1.5, zmax=2.5, colorscale=scale,
        showscale=showscale, xgap=1, ygap=1,
        colorbar=dict(tickvals=[-1, 0, 1, 2], ticktext=["other", "not learned", "takes dim.", "antipodal"], thickness=12),
        hovertemplate="r=%{x:.3g}<br>p=%{y:.3g}<br>code %{z}<extra></extra>",
    )


def plot_phase_diagram(
    ratios: Float[Tensor, " r"],
    densities: Float[Tensor, " p"],
    panels: Mapping[str, Int[Tensor, "p r"]],
    boundary: tuple[Float[Tensor, " n"], Float[Tensor, " n"]] | None = None,
) -> go.Figure:
    """One heatmap of solution codes per panel over (importance ratio r, density p), log axes, with the boundary line."""
    if not panels:
        raise ValueError("panels is empty: give at least one {title: codes} grid")
    for title, codes in panels.items():
        if codes.shape != (densities.numel(), ratios.numel()):
            raise ValueError(f"{title}: codes must have shape (len(densities), len(ratios)) = "
                             f"({densities.numel()}, {ratios.numel()}); got {tuple(codes.shape)}")
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=list(panels), horizontal_spacing=0.08)
    for col, codes in enumerate(panels.values(), start=1):
        fig.add_trace(_phase_heatmap(ratios, densities, codes, showscale=col == 1), row=1, col=col)
        if boundary is not None:
            fig.add_trace(go.Scatter(x=boundary[0].tolist(), y=boundary[1].tolist(), mode="lines", name="closed-form boundary",
                                     line=dict(color="black", width=2), showlegend=col == 1), row=1, col=col)
    fig.update_xaxes(type="log", title="importance ratio r = I_2 / I_1")
    fig.update_yaxes(type="log", title="density p = 1 - S")
    fig.update_layout(legend=dict(orientation="h", y=-0.22))
    return styled(fig, title="Two features in one dimension: which solution wins", height=460, width=470 * len(panels) + 80)


def plot_neuron_weights(
    W: Float[Tensor, "inst hidden feats"],
    density: Float[Tensor, " inst"],
    monosemantic: Int[Tensor, " inst"] | None = None,
    *,
    cols: int = 4,
    limit: float = 1.5,
) -> go.Figure:
    """Each instance's neuron-by-feature weights W[neuron, feature] as a heatmap (colours capped at +-limit)."""
    if W.ndim != 3 or density.numel() != W.shape[0]:
        raise ValueError(f"W must have shape (inst, hidden, feats) with one density per instance; got {tuple(W.shape)} "
                         f"and {density.numel()} densities")
    W = W.detach().cpu().float()
    n_inst, n_hidden, n_feats = W.shape
    titles = [f"1-S = {float(d):.2g}" + ("" if monosemantic is None else f": {int(monosemantic[k])}/{n_hidden} mono")
              for k, d in enumerate(density.tolist())]
    cols = min(cols, n_inst)
    rows = math.ceil(n_inst / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.04, vertical_spacing=0.16)
    for k in range(n_inst):
        fig.add_trace(go.Heatmap(z=W[k].tolist(), x=list(range(n_feats)), y=list(range(n_hidden)), zmid=0, zmin=-limit, zmax=limit,
                                 colorscale=DIVERGING_COLORSCALE, showscale=k == 0, colorbar=dict(title="weight", thickness=12),
                                 hovertemplate="neuron %{y}<br>feature %{x}<br>weight %{z:.2f}<extra></extra>"),
                      row=k // cols + 1, col=k % cols + 1)
    fig.update_xaxes(dtick=1, showgrid=False)
    fig.update_xaxes(title_text="feature", row=rows)
    fig.update_yaxes(dtick=1, showgrid=False, autorange="reversed")
    fig.update_yaxes(title_text="neuron", col=1)
    return styled(fig, title="Each neuron's weights on each feature: monosemantic when dense, polysemantic when sparse",
                  height=260 * rows + 90, width=260 * cols + 120)


def plot_pair_geometry(
    W: Float[Tensor, "inst 2 feats"],
    titles: Sequence[str],
    *,
    cols: int = 4,
    limit: float = 1.3,
) -> go.Figure:
    """2-D features, one panel per instance; the two features of pair j share colour j (the second one dashed)."""
    if W.ndim != 3 or W.shape[1] != 2 or W.shape[2] % 2 or len(titles) != W.shape[0]:
        raise ValueError(f"W must have shape (inst, 2, feats) with an even number of features and one title per instance; "
                         f"got {tuple(W.shape)} and {len(titles)} titles")
    W = W.detach().cpu().float()
    n_inst, _, n_feats = W.shape
    cols = min(cols, n_inst)
    rows = math.ceil(n_inst / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(titles), horizontal_spacing=0.04, vertical_spacing=0.12)
    for k in range(n_inst):
        for i in range(n_feats):
            color = PALETTE[(i // 2) % len(PALETTE)]
            fig.add_trace(go.Scatter(x=[0, float(W[k, 0, i])], y=[0, float(W[k, 1, i])], mode="lines+markers",
                                     line=dict(color=color, width=3, dash="dash" if i % 2 else "solid"),
                                     marker=dict(size=[0, 8], color=color), name=f"pair {i // 2}, feature {i}",
                                     showlegend=k == 0, legendgroup=str(i)),
                          row=k // cols + 1, col=k % cols + 1)
    fig.update_xaxes(range=[-limit, limit], showticklabels=False)
    fig.update_yaxes(range=[-limit, limit], showticklabels=False)
    for k in range(n_inst):
        fig.update_yaxes(scaleanchor="x" if k == 0 else f"x{k + 1}", scaleratio=1, row=k // cols + 1, col=k % cols + 1)
    return styled(fig, title="Pairs of features in 2-D: one colour per pair", height=250 * rows + 120, width=230 * cols + 160)


def plot_basis_alignment(
    labels: Sequence[str],
    neuron_basis: Sequence[Float[Tensor, " inst"]],
    rotated: Sequence[Float[Tensor, " inst"]],
) -> go.Figure:
    """Mean excess kurtosis of the hidden units, neuron basis against random rotations, one group per optimiser."""
    if not (len(labels) == len(neuron_basis) == len(rotated)) or not labels:
        raise ValueError("give one label, one neuron-basis and one rotated tensor per optimiser")
    fig = go.Figure()
    for name, values, color in (("neuron basis", neuron_basis, PALETTE[0]), ("random rotation", rotated, PALETTE[2])):
        means = [float(v.mean()) for v in values]
        errors = [float(v.std()) if v.numel() > 1 else 0.0 for v in values]
        fig.add_trace(go.Bar(x=list(labels), y=means, name=name, marker_color=color,
                             error_y=dict(type="data", array=errors, visible=True),
                             hovertemplate="%{x}<br>kurtosis %{y:.2f}<extra>" + name + "</extra>"))
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=-0.15))
    fig.update_yaxes(title="excess kurtosis of h (mean ± std)")
    return styled(fig, title="Is the hidden basis privileged? Kurtosis per neuron vs random directions", height=420, width=700)


__all__ = [
    "plot_basis_alignment",
    "plot_dimensionality",
    "plot_neuron_weights",
    "plot_pair_geometry",
    "plot_phase_diagram",
]


def plot_phase_cell(
    w: Float[Tensor, " 2"],
    b: Float[Tensor, " 2"],
    *,
    r: float,
    p: float,
    candidate: Float[Tensor, " 3"],
    trained_loss: float,
    solution: str,
) -> go.Figure:
    """One cell of the phase diagram: its trained weights and biases, beside the closed-form losses of the three
    candidate solutions (bars) and the trained loss (a line)."""
    if w.shape != (2,) or b.shape != (2,) or candidate.shape != (3,):
        raise ValueError(f"give w and b of shape (2,) and candidate of shape (3,); got {tuple(w.shape)}, "
                         f"{tuple(b.shape)}, {tuple(candidate.shape)}")
    fig = make_subplots(rows=1, cols=2, column_widths=[0.45, 0.55], horizontal_spacing=0.15,
                        subplot_titles=(f"trained: {solution}", "expected loss"))
    names = ["feature 1 (importance 1)", f"feature 2 (importance {r:.3g})"]
    fig.add_trace(go.Bar(x=names, y=[round(float(v), 4) for v in w], name="weight w_i", marker_color=PALETTE[0],
                         hovertemplate="%{x}<br>w = %{y:.3f}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Bar(x=names, y=[round(float(v), 4) for v in b], name="bias b_i", marker_color=PALETTE[4],
                         hovertemplate="%{x}<br>b = %{y:.3f}<extra></extra>"), row=1, col=1)
    labels = ["not learned", "takes dim.", "antipodal"]
    fig.add_trace(go.Bar(x=labels, y=[round(float(v), 6) for v in candidate], marker_color=list(PHASE_COLORS),
                         name="closed form", showlegend=False,
                         hovertemplate="%{x}: %{y:.3g}<extra>closed form</extra>"), row=1, col=2)
    fig.add_trace(go.Scatter(x=labels, y=[round(trained_loss, 6)] * 3, mode="lines", name="trained loss",
                             line=dict(color="black", dash="dash")), row=1, col=2)
    fig.update_yaxes(title_text="value", row=1, col=1)
    fig.update_yaxes(title_text="loss (importance-weighted mean)", rangemode="tozero", row=1, col=2)
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=-0.25))
    return styled(fig, title=f"r = {r:.3g}, p = {p:.3g}", height=400, width=860)
