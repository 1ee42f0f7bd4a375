"""Synthetic activations whose features form a hierarchy (for feature absorption) or clusters (for splitting).

Hierarchy (after the toy model of Chanin et al. 2024, Fig. 1, and the first-letter task it stands for): each
parent feature ("starts with S") fires on its own with probability p_parent; when it fires, one of its
children ("snake", "sun", ...) fires too with probability p_child. A child never fires without its parent.
Features are random unit directions, parents first: feature P + p * n_children + c is parent p's child c.

Clusters (for feature splitting): fine features grouped around cluster centres; at most one fine feature of
a cluster fires at a time. A small dictionary can only afford one latent per cluster, a wide one a latent
per fine feature.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor


@dataclass(frozen=True, kw_only=True)
class HierarchyConfig:
    """Parents with children that fire only with them (defaults: the setup of notebook 08)."""

    n_parents: int = 8
    n_children: int = 3
    """Children per parent; at most one fires at a time (they are mutually exclusive, like first letters)."""
    d_hidden: int = 48
    p_parent: float = 0.12
    """Probability that a parent fires, independently of the other parents."""
    p_child: float = 0.6
    """Probability that one of its children (uniformly chosen) fires when the parent does."""
    magnitude: float = 1.0
    """Every active feature has this coefficient (binary features, as "starts with S" is)."""

    def __post_init__(self) -> None:
        if min(self.n_parents, self.n_children, self.d_hidden) < 1:
            raise ValueError(f"n_parents, n_children and d_hidden must be positive, got {self.n_parents}, "
                             f"{self.n_children}, {self.d_hidden}")
        for name in ("p_parent", "p_child"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")

    @property
    def n_feats(self) -> int:
        return self.n_parents * (1 + self.n_children)

    def children(self) -> Int[Tensor, "parents children"]:
        """The feature index of every parent's children."""
        return self.n_parents + torch.arange(self.n_parents * self.n_children).reshape(self.n_parents, self.n_children)

    def true_l0(self) -> float:
        """Expected number of active features per input: p_parent * (1 + p_child) per parent."""
        return self.n_parents * self.p_parent * (1 + self.p_child)


def hierarchy_directions(cfg: HierarchyConfig, *, generator: torch.Generator | None = None) -> Float[Tensor, "feats hidden"]:
    """Random unit directions for the parents, then the children."""
    return F.normalize(torch.randn(cfg.n_feats, cfg.d_hidden, generator=generator), dim=-1)


def hierarchical_coefficients(
    cfg: HierarchyConfig, batch: int, *, generator: torch.Generator | None = None
) -> Float[Tensor, "batch feats"]:
    """Feature coefficients of `batch` inputs: parents at random, at most one child per active parent."""
    parent_on = torch.rand(batch, cfg.n_parents, generator=generator) < cfg.p_parent
    child_on = (torch.rand(batch, cfg.n_parents, generator=generator) < cfg.p_child) & parent_on
    which = torch.randint(0, cfg.n_children, (batch, cfg.n_parents), generator=generator)
    coeffs = torch.zeros(batch, cfg.n_feats)
    coeffs[:, : cfg.n_parents] = parent_on * cfg.magnitude
    child = cfg.children()[torch.arange(cfg.n_parents), which]  # batch parents
    coeffs.scatter_(1, child, child_on * cfg.magnitude)
    return coeffs


def hierarchical_batch(
    cfg: HierarchyConfig, directions: Float[Tensor, "feats hidden"], batch: int, *, generator: torch.Generator | None = None
) -> tuple[Float[Tensor, "batch hidden"], Float[Tensor, "batch feats"]]:
    """Activations x = coefficients @ directions, and the coefficients (the ground truth)."""
    _check(cfg, directions)
    coeffs = hierarchical_coefficients(cfg, batch, generator=generator)
    return coeffs @ directions, coeffs


def hierarchical_batches(
    cfg: HierarchyConfig, directions: Float[Tensor, "feats hidden"], batch: int, *, generator: torch.Generator | None = None
) -> Iterator[Float[Tensor, "batch hidden"]]:
    """An endless stream of hierarchical activation batches (for `course_utils.sae.train`)."""
    _check(cfg, directions)
    while True:
        yield hierarchical_coefficients(cfg, batch, generator=generator) @ directions


def _check(cfg: HierarchyConfig, directions: Tensor) -> None:
    if directions.shape != (cfg.n_feats, cfg.d_hidden):
        raise ValueError(f"directions have shape {tuple(directions.shape)}; the hierarchy needs "
                         f"({cfg.n_feats}, {cfg.d_hidden}) (see hierarchy_directions)")


@dataclass(frozen=True, kw_only=True)
class ClusterConfig:
    """Fine features in clusters around shared centres (defaults: notebook 08's splitting sweep)."""

    n_clusters: int = 8
    per_cluster: int = 4
    d_hidden: int = 32
    spread: float = 1.0
    """Fine feature = normalise(centre + spread * a unit direction orthogonal to it): cosine 1/sqrt(1 + spread^2)
    with its centre (0.71 at spread 1)."""
    p_cluster: float = 0.15
    """Probability that a cluster fires; then one of its fine features, uniformly, with a Uniform[0, 1] coefficient."""

    def __post_init__(self) -> None:
        if min(self.n_clusters, self.per_cluster, self.d_hidden) < 1 or self.spread < 0:
            raise ValueError("n_clusters, per_cluster and d_hidden must be positive and spread non-negative")
        if not 0 <= self.p_cluster <= 1:
            raise ValueError(f"p_cluster must lie in [0, 1], got {self.p_cluster}")


def cluster_directions(
    cfg: ClusterConfig, *, generator: torch.Generator | None = None
) -> tuple[Float[Tensor, "clusters hidden"], Float[Tensor, "feats hidden"]]:
    """The cluster centres and the fine features (cluster c owns rows c * per_cluster ...)."""
    centres = F.normalize(torch.randn(cfg.n_clusters, cfg.d_hidden, generator=generator), dim=-1)
    noise = torch.randn(cfg.n_clusters, cfg.per_cluster, cfg.d_hidden, generator=generator)
    noise = F.normalize(noise - (noise * centres[:, None]).sum(-1, keepdim=True) * centres[:, None], dim=-1)
    fine = F.normalize(centres[:, None] + cfg.spread * noise, dim=-1)
    return centres, fine.reshape(-1, cfg.d_hidden)


def clustered_batches(
    cfg: ClusterConfig, fine: Float[Tensor, "feats hidden"], batch: int, *, generator: torch.Generator | None = None
) -> Iterator[Float[Tensor, "batch hidden"]]:
    """An endless stream of batches: each cluster fires w.p. p_cluster, through one of its fine features."""
    if fine.shape != (cfg.n_clusters * cfg.per_cluster, cfg.d_hidden):
        raise ValueError(f"fine features have shape {tuple(fine.shape)}; expected "
                         f"({cfg.n_clusters * cfg.per_cluster}, {cfg.d_hidden})")
    first = torch.arange(cfg.n_clusters) * cfg.per_cluster
    while True:
        on = torch.rand(batch, cfg.n_clusters, generator=generator) < cfg.p_cluster
        which = torch.randint(0, cfg.per_cluster, (batch, cfg.n_clusters), generator=generator)
        coeffs = torch.zeros(batch, fine.shape[0])
        coeffs.scatter_(1, first + which, on * torch.rand(batch, cfg.n_clusters, generator=generator))
        yield coeffs @ fine
