"""The attribution graph of one prediction as an interactive plotly network (notebook 10).

Input bytes along the bottom (by position), latents and the error in the middle row, the logit on top;
edges blue (raise the target) or red (lower it), width by |weight|; hovering a node shows its value and,
for latents, the text passed in `hover` (their top contexts).
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import plotly.graph_objects as go
import torch
from jaxtyping import Float, Int
from torch import Tensor

from course_utils.lm.graph import AttributionGraph
from course_utils.plots.lm import byte_label
from course_utils.plots.style import styled

_ROW = {"token": 0.0, "bias": 1.0, "latent": 1.0, "error": 1.0, "logit": 2.0}
_COLOR = {"token": "#7f7f7f", "bias": "#bcbd22", "latent": "#ff7f0e", "error": "#8c564b", "logit": "#2ca02c"}
_WIDTH_BINS = 4


def hover_contexts(tokens: Int[Tensor, "k ctx"], values: Float[Tensor, " k"], *, focus: int) -> str:
    """A latent's top contexts as hover text: one line each, its activation, the bytes, the focus byte in [ ]."""
    lines = []
    for row, value in zip(tokens.tolist(), values.tolist(), strict=True):
        text = "".join(byte_label(t) if t >= 0 else "" for t in row[:focus])
        here = byte_label(row[focus]) if row[focus] >= 0 else ""
        lines.append(f"{value:5.2f}  {html.escape(text)}[{html.escape(here)}]")
    return "<br>".join(lines)


def graph_layout(graph: AttributionGraph) -> tuple[list[float], list[float]]:
    """x, y of every node: bytes at their position; the middle row spread over the bytes' span, strongest first."""
    tokens = graph.index("token")
    span = (min((graph.positions[i] for i in tokens), default=0), max(graph.positions, default=0))
    x = [float(p) for p in graph.positions]
    y = [_ROW[k] for k in graph.kinds]
    middle = graph.index("bias") + graph.index("latent") + graph.index("error")
    strength = graph.weights[graph.logit].abs()
    middle.sort(key=lambda i: -float(strength[i]))
    for rank, node in enumerate(middle):
        x[node] = span[0] + (span[1] - span[0]) * (rank + 0.5) / max(len(middle), 1)
    x[graph.logit] = float(span[1])
    return x, y


def plot_attribution_graph(
    graph: AttributionGraph, *, hover: Mapping[int, str] | None = None, title: str = "Attribution graph"
) -> go.Figure:
    """The network: nodes by kind, edges coloured by sign with width by |weight|; hover[node] adds text to a node."""
    x, y = graph_layout(graph)
    targets, sources = graph.weights.nonzero(as_tuple=True)
    fig = go.Figure()
    if len(targets):
        magnitude = graph.weights[targets, sources].abs()
        edges = torch.quantile(magnitude, torch.linspace(0, 1, _WIDTH_BINS + 1)) if len(magnitude) > 1 else magnitude.repeat(2)
        bins = torch.bucketize(magnitude, edges[1:-1])
        for sign, color in ((1, "rgba(31,119,180,0.55)"), (-1, "rgba(214,39,40,0.55)")):
            for b in range(_WIDTH_BINS):
                pick = ((graph.weights[targets, sources] * sign) > 0) & (bins == b)
                if not pick.any():
                    continue
                xs, ys = [], []
                for t, s in zip(targets[pick].tolist(), sources[pick].tolist(), strict=True):
                    xs += [x[s], x[t], None]
                    ys += [y[s], y[t], None]
                fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=color, width=1 + 2 * b),
                                         hoverinfo="skip", showlegend=False))
        mid_text = [f"{graph.labels[s]} → {graph.labels[t]}: {w:+.2f}"
                    for t, s, w in zip(targets.tolist(), sources.tolist(), graph.weights[targets, sources].tolist(), strict=True)]
        fig.add_trace(go.Scatter(x=[(x[s] + x[t]) / 2 for t, s in zip(targets.tolist(), sources.tolist(), strict=True)],
                                 y=[(y[s] + y[t]) / 2 for t, s in zip(targets.tolist(), sources.tolist(), strict=True)],
                                 mode="markers", marker=dict(size=6, color="rgba(0,0,0,0.05)"),
                                 hovertext=mid_text, hoverinfo="text", showlegend=False, name="edges"))
    hover = {} if hover is None else hover
    for kind in ("token", "bias", "latent", "error", "logit"):
        nodes = graph.index(kind)
        if not nodes:
            continue
        text = [f"<b>{graph.labels[i]}</b><br>value {float(graph.values[i]):+.2f}"
                + (f"<br>{hover[i]}" if i in hover else "") for i in nodes]
        fig.add_trace(go.Scatter(
            x=[x[i] for i in nodes], y=[y[i] for i in nodes], mode="markers+text", name=kind,
            marker=dict(size=16 if kind != "token" else 11, color=_COLOR[kind], line=dict(color="white", width=1)),
            text=[graph.labels[i].split(" @")[0] if kind == "token" else graph.labels[i].replace("latent ", "")
                  for i in nodes],
            textposition="bottom center" if kind == "token" else "top center",
            hovertext=text, hoverinfo="text"))
    fig.update_xaxes(title="position in the prompt", showgrid=False, zeroline=False)
    fig.update_yaxes(tickvals=[0, 1, 2], ticktext=["input bytes", "latents", "logit"], showgrid=False,
                     zeroline=False, range=[-0.4, 2.4])
    fig.update_layout(legend=dict(orientation="h", y=1.08, x=1, xanchor="right"))
    return styled(fig, title=title, height=480)
