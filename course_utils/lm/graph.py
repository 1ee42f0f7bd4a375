"""An attribution graph for one prediction, and its pruning to the edges that explain a stated share.

Nodes: the input bytes (by position), a bias node, the transcoder latents active at the predicted position,
the transcoder's error, and the output logit. Edge weights are the exact linear attributions of
`course_utils.lm.attribution`: each node's incoming weights sum to its value (a latent's activation, the logit).
Pruning keeps, for the logit and then for every latent kept, the fewest largest incoming edges whose absolute
weights reach `share` of that node's total absolute incoming weight (in the spirit of Ameisen et al. 2025,
"Pruning", who keep the nodes and edges that carry most of the influence on the logit).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from course_utils.lm.attribution import Attributions

NodeKind = Literal["token", "bias", "latent", "error", "logit"]


@dataclass(frozen=True, kw_only=True)
class AttributionGraph:
    """Nodes and the weight of every edge, weights[target, source] (0 where there is no edge)."""

    labels: list[str]
    kinds: list[NodeKind]
    positions: list[int]
    """The position a node sits at: the byte's for tokens; the predicted position for the others."""
    latent_ids: list[int]
    """The transcoder latent behind each latent node, -1 for the others."""
    values: Float[Tensor, " node"]
    """Each node's value: a latent's activation, the logit; the summed outgoing weight for sources."""
    weights: Float[Tensor, "node node"]

    def index(self, kind: NodeKind) -> list[int]:
        """The nodes of one kind, in order."""
        return [i for i, k in enumerate(self.kinds) if k == kind]

    @property
    def logit(self) -> int:
        return self.kinds.index("logit")


def build_graph(attributions: Attributions, token_labels: list[str], target_label: str) -> AttributionGraph:
    """The full graph of one prediction (every active latent, every source position), before pruning."""
    a = attributions
    n_src = len(a.source_to_logit)
    if len(token_labels) < n_src:
        raise ValueError(f"{len(token_labels)} token labels for {n_src} source positions; give one per byte up to the position")
    n_lat = len(a.latents)
    kinds: list[NodeKind] = ["token"] * n_src + ["bias"] + ["latent"] * n_lat + ["error", "logit"]
    labels = [f"{token_labels[s]} @{s}" for s in range(n_src)] + ["bias"] + [f"latent {int(j)}" for j in a.latents]
    labels += ["transcoder error", f"logit {target_label}"]
    n = len(kinds)
    bias, lat0, error, logit = n_src, n_src + 1, n_src + 1 + n_lat, n_src + 2 + n_lat
    weights = torch.zeros(n, n)
    weights[lat0:error, :n_src] = a.source_to_latent
    weights[lat0:error, bias] = a.bias_to_latent
    weights[logit, :n_src] = a.source_to_logit
    weights[logit, bias] = a.bias_to_logit
    weights[logit, lat0:error] = a.latent_to_logit
    weights[logit, error] = a.error_to_logit
    values = weights.sum(0)
    values[lat0:error] = a.acts
    values[logit] = a.logit
    return AttributionGraph(
        labels=labels, kinds=kinds, positions=list(range(n_src)) + [a.position] * (n - n_src),
        latent_ids=[-1] * (n_src + 1) + [int(j) for j in a.latents] + [-1, -1], values=values, weights=weights,
    )


def prune_to_share(weights: Float[Tensor, " edges"], share: float) -> Bool[Tensor, " edges"]:
    """The fewest edges, largest |weight| first, whose |weights| sum to at least `share` of the total |weight|."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must lie in [0, 1], got {share}")
    magnitude = weights.abs()
    order = magnitude.argsort(descending=True, stable=True)
    cumulative = magnitude[order].cumsum(0)
    # a relative tolerance, so that float32 rounding of an exact share (4 + 3 of 10 at 0.7) does not add an edge
    needed = int((cumulative < share * magnitude.sum() * (1 - 1e-6)).sum()) + 1 if share > 0 else 0
    keep = torch.zeros(len(weights), dtype=torch.bool)
    keep[order[: min(needed, len(weights))]] = True
    return keep


def prune_graph(graph: AttributionGraph, share: float = 0.8) -> AttributionGraph:
    """Keep the logit's strongest incoming edges (share of its |attribution|), then each kept latent's; drop the rest."""
    kept = torch.zeros_like(graph.weights, dtype=torch.bool)
    logit = graph.logit
    kept[logit] = prune_to_share(graph.weights[logit], share) & (graph.weights[logit] != 0)
    for node in graph.index("latent"):
        if kept[logit, node]:
            kept[node] = prune_to_share(graph.weights[node], share) & (graph.weights[node] != 0)
    alive = kept.any(0) | kept.any(1)
    alive[logit] = True
    index = alive.nonzero().squeeze(1)
    pick = index.tolist()
    weights = (graph.weights * kept)[index][:, index]
    return replace(
        graph, labels=[graph.labels[i] for i in pick], kinds=[graph.kinds[i] for i in pick],
        positions=[graph.positions[i] for i in pick], latent_ids=[graph.latent_ids[i] for i in pick],
        values=graph.values[index], weights=weights,
    )


def explained_share(full: AttributionGraph, pruned: AttributionGraph) -> float:
    """The share of the logit's total absolute incoming attribution that the pruned graph keeps."""
    total = full.weights[full.logit].abs().sum()
    return float(pruned.weights[pruned.logit].abs().sum() / total)


def top_latents(graph: AttributionGraph, n: int) -> Int[Tensor, " n"]:
    """The n latent nodes with the largest |edge| into the logit, as indices among the graph's latent nodes."""
    latent_nodes = graph.index("latent")
    to_logit = graph.weights[graph.logit, latent_nodes].abs()
    return to_logit.argsort(descending=True, stable=True)[:n]
