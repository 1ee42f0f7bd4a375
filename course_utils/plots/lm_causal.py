"""Figures of notebook 09's causal tests: steering (with a slider), ablation effects, attribution vs ablation,
and feature splitting across SAE widths."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import torch
from jaxtyping import Float, Int
from plotly.subplots import make_subplots
from torch import Tensor

from course_utils.plots.lm import byte_label
from course_utils.plots.style import PALETTE, styled


def plot_steering(
    multiples: Sequence[float],
    probs: Float[Tensor, "multiples vocab"],
    *,
    samples: Sequence[str] | None = None,
    highlight: Sequence[int] = (),
    n_bytes: int = 12,
    title: str = "Steering",
) -> go.Figure:
    """The next-byte distribution at each steering multiple, one multiple at a time behind a slider.

    The bytes shown are the n_bytes most probable at any multiple; `highlight` (e.g. the latent's promoted
    bytes) are drawn in another colour; `samples` (one completion per multiple) are shown under the bars.
    """
    if probs.ndim != 2 or len(probs) != len(multiples):
        raise ValueError(f"probs must be [multiples, vocab] with {len(multiples)} rows, got {tuple(probs.shape)}")
    if samples is not None and len(samples) != len(multiples):
        raise ValueError(f"give one sample per multiple ({len(multiples)}), got {len(samples)}")
    shown = probs.max(0).values.topk(min(n_bytes, probs.shape[1])).indices.sort().values.tolist()
    labels = [byte_label(t) for t in shown]
    colors = [PALETTE[1] if t in set(highlight) else PALETTE[0] for t in shown]
    fig = go.Figure()
    for i, multiple in enumerate(multiples):
        values = [round(float(probs[i, t]), 4) for t in shown]
        fig.add_trace(go.Bar(x=labels, y=values, marker_color=colors, visible=i == 0, showlegend=False,
                             name=f"multiple {multiple:g}"))

    def caption(i: int) -> str:
        if samples is None:
            return ""
        text = html.escape(samples[i]).replace("\n", "⏎")
        return "sample: <span style='font-family:monospace'>" + text + "</span>"

    steps = []
    for i, multiple in enumerate(multiples):
        visible = [j == i for j in range(len(multiples))]
        steps.append(dict(method="update", label=f"{multiple:g}",
                          args=[{"visible": visible}, {"annotations": [_caption_annotation(caption(i))]}]))
    fig.update_layout(sliders=[dict(active=0, steps=steps, currentvalue=dict(prefix="multiple of the max activation: "),
                                    pad=dict(t=70))],
                      annotations=[_caption_annotation(caption(0))])
    fig.update_xaxes(title="next byte", type="category")
    fig.update_yaxes(title="probability (mean over held-out positions)", range=[0, 1])
    return styled(fig, title=title, height=480)


def _caption_annotation(text: str) -> dict:
    return dict(text=text, xref="paper", yref="paper", x=0, y=1.06, showarrow=False, xanchor="left", align="left",
                font=dict(size=11))


def plot_ablation_effects(
    loss_bits: Float[Tensor, " latents"], promoted: Float[Tensor, " latents"] | None = None
) -> go.Figure:
    """Histograms over latents: the mean change in next-byte loss when the latent is ablated where it fires,
    and the mean change in the log-probability of the bytes its dashboard says it promotes."""
    cols = 1 if promoted is None else 2
    titles = ["change in next-byte loss (bits)"] + ([] if promoted is None else ["change in log p of its promoted bytes"])
    fig = make_subplots(rows=1, cols=cols, subplot_titles=titles, horizontal_spacing=0.12)
    fig.add_trace(go.Histogram(x=loss_bits.float().numpy().round(4), nbinsx=50, marker_color=PALETTE[0],
                               showlegend=False), 1, 1)
    fig.add_vline(x=0, line_dash="dot", line_color="#555", row=1, col=1)
    if promoted is not None:
        fig.add_trace(go.Histogram(x=promoted.float().numpy().round(4), nbinsx=50, marker_color=PALETTE[1],
                                   showlegend=False), 1, 2)
        fig.add_vline(x=0, line_dash="dot", line_color="#555", row=1, col=2)
        fig.update_xaxes(title_text="nats, mean over the rows where it fires", row=1, col=2)
    fig.update_xaxes(title_text="mean over the rows where it fires", row=1, col=1)
    fig.update_yaxes(title_text="latents", row=1, col=1)
    return styled(fig, title=f"Ablating each of {len(loss_bits)} latents where it fires (held-out rows)", height=380)


def plot_attribution_vs_ablation(
    predicted: Float[Tensor, " pairs"], actual: Float[Tensor, " pairs"], *, max_points: int = 3000, seed: int = 0
) -> go.Figure:
    """Scatter of the attribution's prediction of an ablation against the ablation's true effect, with y = x."""
    if predicted.shape != actual.shape or predicted.ndim != 1:
        raise ValueError(f"predicted {tuple(predicted.shape)} and actual {tuple(actual.shape)} must be the same 1-D shape")
    corr = float(torch.corrcoef(torch.stack([predicted.float(), actual.float()]))[0, 1])
    pick = torch.randperm(len(actual), generator=torch.Generator().manual_seed(seed))[:max_points]
    x, y = predicted[pick].float().numpy().round(4), actual[pick].float().numpy().round(4)
    low, high = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
    fig = go.Figure([go.Scattergl(x=x, y=y, mode="markers", marker=dict(size=4, opacity=0.4, color=PALETTE[0]),
                                  name=f"{len(pick)} of {len(actual)} (row, latent) pairs"),
                     go.Scatter(x=[low, high], y=[low, high], mode="lines", line=dict(dash="dash", color="#555"),
                                name="y = x")])
    fig.update_xaxes(title="attribution's prediction: −f·∂L/∂f (nats)")
    fig.update_yaxes(title="true ablation effect ΔL (nats)")
    fig.update_layout(legend=dict(x=0.02, y=0.98))
    return styled(fig, title=f"Attribution vs ablation on held-out rows (correlation {corr:.3f})", height=450)


def plot_match_cosines(best: Mapping[str, Float[Tensor, " latents"]]) -> go.Figure:
    """Overlaid histograms of each latent's best decoder cosine in another SAE, one trace per pair of widths."""
    fig = go.Figure()
    for (name, values), color in zip(best.items(), PALETTE, strict=False):
        fig.add_trace(go.Histogram(x=values.float().numpy().round(3), xbins=dict(start=0, end=1.0, size=0.025),
                                   histnorm="percent", opacity=0.6, marker_color=color,
                                   name=f"{name} (median {float(values.median()):.2f})"))
    fig.update_layout(barmode="overlay", legend=dict(x=0.02, y=0.98))
    fig.update_xaxes(title="cosine with the closest decoder direction in the other SAE", range=[0, 1])
    fig.update_yaxes(title="% of latents")
    return styled(fig, title="Matching latents across widths", height=380)


def side_by_side_html(columns: Sequence[tuple[str, str]]) -> str:
    """Several HTML blocks (e.g. contexts_html of a latent and of its children) in columns, each with a heading."""
    cells = "".join(f'<div style="flex:1;min-width:260px;padding-right:12px"><b>{html.escape(title)}</b>{body}</div>'
                    for title, body in columns)
    return f'<div style="display:flex;flex-wrap:wrap;align-items:flex-start">{cells}</div>'


def top_bytes_text(logits: Float[Tensor, " vocab"], k: int = 5, shown: Int[Tensor, " vocab"] | None = None) -> str:
    """The k bytes a direction promotes most, as readable labels ('( : ⏎ ...')."""
    values = logits if shown is None else logits.masked_fill(~shown.bool(), float("-inf"))
    return " ".join(byte_label(t) for t in values.topk(k).indices.tolist())
