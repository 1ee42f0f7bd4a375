"""Figures and HTML of notebook 09: losses, top-activating contexts, latent dashboards, purity scores."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import torch
from jaxtyping import Bool, Float, Int
from plotly.subplots import make_subplots
from torch import Tensor

from course_utils.plots.style import PALETTE, styled

_SHOWN = {ord(" "): "␣", ord("\n"): "⏎", ord("\t"): "⇥"}


def byte_label(token: int) -> str:
    """A readable label for one byte token: the character, or a symbol for whitespace, or \\xNN."""
    if token in _SHOWN:
        return _SHOWN[token]
    if 33 <= token < 127:
        return chr(token)
    return f"\\x{token:02x}"


def _token_text(token: int) -> str:
    if token == ord("\n"):
        return "⏎"
    if token == ord("\t"):
        return "⇥"
    if 32 <= token < 127:
        return html.escape(chr(token)).replace(" ", "&nbsp;")
    return f"<small>\\x{token:02x}</small>"


def contexts_html(
    tokens: Int[Tensor, "k ctx"],
    values: Float[Tensor, "k ctx"],
    *,
    focus: int,
    title: str = "",
    vmax: float | None = None,
) -> str:
    """One line of text per context, each byte's background as orange as the unit's activation on it.

    tokens holds -1 where the context has no byte (the window's edge); `focus` is the column of the
    top-activating byte (underlined); the activation there is printed on the left.
    """
    if tokens.shape != values.shape or tokens.ndim != 2:
        raise ValueError(f"tokens {tuple(tokens.shape)} and values {tuple(values.shape)} must be the same [k, ctx] shape")
    if not 0 <= focus < tokens.shape[1]:
        raise ValueError(f"focus must be a column index in 0..{tokens.shape[1] - 1}, got {focus}")
    scale = float(vmax) if vmax is not None else max(float(values.max()), 1e-8)
    lines = []
    for row_tokens, row_values in zip(tokens.tolist(), values.tolist(), strict=True):
        spans = []
        for col, (token, value) in enumerate(zip(row_tokens, row_values, strict=True)):
            if token < 0:
                continue
            alpha = min(max(value / scale, 0.0), 1.0)
            style = f"background:rgba(255,127,14,{alpha:.2f})"
            if col == focus:
                style += ";border-bottom:2px solid #222"
            spans.append(f'<span style="{style}" title="{value:.2f}">{_token_text(token)}</span>')
        lines.append(
            f'<div style="white-space:nowrap"><span style="color:#888;display:inline-block;width:4em">'
            f'{row_values[focus]:.2f}</span><code>{"".join(spans)}</code></div>'
        )
    header = f"<b>{html.escape(title)}</b>" if title else ""
    return f'<div style="font-size:13px;line-height:1.5">{header}{"".join(lines)}</div>'


def plot_loss_comparison(bits: Mapping[str, float], *, title: str = "Held-out loss") -> go.Figure:
    """Horizontal bars of held-out loss in bits per byte, one per model, lowest at the bottom."""
    names = list(bits)
    values = [float(bits[name]) for name in names]
    fig = go.Figure(go.Bar(x=values, y=names, orientation="h", marker_color=PALETTE[0],
                           text=[f"{v:.2f}" for v in values], textposition="outside"))
    fig.update_xaxes(title="bits per byte (lower is better)", range=[0, max(values) * 1.15])
    fig.update_yaxes(autorange="reversed", automargin=True)
    return styled(fig, title=title, height=100 + 40 * len(names))


def plot_latent_dashboard(
    values: Float[Tensor, " nnz"],
    logits: Float[Tensor, " vocab"],
    *,
    title: str,
    density: float | None = None,
    k: int = 10,
    shown: Bool[Tensor, " vocab"] | None = None,
) -> go.Figure:
    """A unit's dashboard: the histogram of its non-zero activations, and the bytes it promotes and suppresses most.

    shown: the bytes that may be listed (e.g. those seen in training; unseen bytes' logits are untrained noise).
    """
    fig = make_subplots(rows=1, cols=2, column_widths=[0.55, 0.45], horizontal_spacing=0.12,
                        subplot_titles=("activations when it fires" + (f" (density {density:.2%})" if density is not None else ""),
                                        "direct effect on next-byte logits"))
    fig.add_trace(go.Histogram(x=values.float().numpy(), nbinsx=40, marker_color=PALETTE[1], showlegend=False), 1, 1)
    allowed = torch.ones_like(logits, dtype=torch.bool) if shown is None else shown
    top = logits.masked_fill(~allowed, float("-inf")).topk(k).indices.tolist()
    bottom = (-logits).masked_fill(~allowed, float("-inf")).topk(k).indices.tolist()  # plotly draws the first at the bottom
    order = bottom + top[::-1]
    fig.add_trace(go.Bar(x=[float(logits[t]) for t in order], y=[f"{byte_label(t)} " for t in order], orientation="h",
                         marker_color=[PALETTE[2] if logits[t] > 0 else PALETTE[0] for t in order], showlegend=False), 1, 2)
    fig.update_xaxes(title_text="activation", row=1, col=1)
    fig.update_yaxes(title_text="count", type="log", row=1, col=1)
    fig.update_xaxes(title_text="logit change per unit of activation", row=1, col=2)
    fig.update_yaxes(type="category", dtick=1, row=1, col=2)  # every byte labelled
    return styled(fig, title=title, height=420)


def plot_purity(
    scores: Mapping[str, Float[Tensor, " units"]], *, chance: float | None = None, k: int | None = None
) -> go.Figure:
    """Overlaid histograms of the token-purity score, one per kind of unit, means in the legend."""
    fig = go.Figure()
    bins = dict(start=-0.025, end=1.025, size=0.05)  # scores are multiples of 1/k: centre the bins on them
    for (name, values), color in zip(scores.items(), PALETTE, strict=False):
        fig.add_trace(go.Histogram(x=values.float().numpy(), xbins=bins, histnorm="percent", opacity=0.6,
                                   marker_color=color, name=f"{name} (n={len(values)}, mean {float(values.mean()):.2f})"))
    if chance is not None:
        fig.add_vline(x=chance, line_dash="dot", line_color="#555",
                      annotation_text=f"random positions: {chance:.2f}", annotation_position="top")
    fig.update_layout(barmode="overlay", legend=dict(x=0.98, xanchor="right", y=0.98))
    fig.update_xaxes(title="token purity of the top-" + (f"{k} " if k else "k ") + "activations", range=[0, 1.02])
    fig.update_yaxes(title="% of units")
    return styled(fig, title="Monosemanticity score: neurons vs SAE latents", height=400)


def byte_labels(tokens: Sequence[int] | Tensor) -> list[str]:
    """byte_label of each token."""
    values = tokens.tolist() if isinstance(tokens, Tensor) else list(tokens)
    return [byte_label(int(t)) for t in values]

