"""Feature batches with a correlation structure (TMS, "Superposition with correlated features").

Features come in consecutive pairs (0, 1), (2, 3), ...; every active feature is Uniform[0, 1]:

- `"independent"`: each feature on with probability p, as in `course_utils.data.sparse`;
- `"correlated"`: the two features of a pair are on together or off together (probability p);
- `"anticorrelated"`: a pair is on with probability 2p, and then exactly one of its features,
  so the two are never on together (each feature is still on with probability p).

`feature_batches(...)` returns a batch function `step -> [batch inst feats]` for
`course_utils.toy_models.training`. It draws from a `torch.Generator` (cheap in plain PyTorch, unlike
the counter-based hash of `sparse_batches`, which pays off only when compiled), so it is *stateful*:
each call draws a fresh batch, and the same seed gives the same sequence of batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor

from course_utils.data.sparse import as_density, sparse_batch

Correlation = Literal["independent", "correlated", "anticorrelated"]
CORRELATIONS: tuple[str, ...] = ("independent", "correlated", "anticorrelated")


def feature_batch(
    batch_size: int,
    density: Float[Tensor, "inst feats"],
    *,
    correlation: Correlation = "independent",
    generator: torch.Generator,
) -> Float[Tensor, "batch inst feats"]:
    """One batch in which each feature is on with probability `density`, paired as `correlation` says."""
    _check(density, correlation)
    if correlation == "independent":
        return sparse_batch(batch_size, density, generator=generator)
    n_inst, n_feats = density.shape
    shape = (batch_size, n_inst, n_feats)
    values = torch.rand(shape, generator=generator, device=density.device)
    pair_density = density[:, 0::2]  # a pair's features share one density (checked in _check)
    u = torch.rand((batch_size, n_inst, n_feats // 2), generator=generator, device=density.device)
    if correlation == "correlated":
        on = (u < pair_density).repeat_interleave(2, dim=-1)
    else:
        pair_on = u < 2 * pair_density
        first = u < pair_density  # given the pair is on, each half of [0, 2p) picks one feature
        on = torch.stack([pair_on & first, pair_on & ~first], dim=-1).flatten(-2)
    return values * on


@dataclass(frozen=True, kw_only=True, eq=False)
class FeatureBatches:
    """A batch function step -> batch that draws from its generator (see the module docstring)."""

    density: Float[Tensor, "inst feats"]
    batch_size: int = 1024  # TMS notebook: n_batch=1024
    correlation: Correlation = "independent"
    generator: torch.Generator

    def __call__(self, step: Int[Tensor, ""] | int | None = None) -> Float[Tensor, "batch inst feats"]:
        return feature_batch(self.batch_size, self.density, correlation=self.correlation, generator=self.generator)


def feature_batches(
    density: float | Sequence[float] | Tensor,
    *,
    n_instances: int,
    n_features: int,
    correlation: Correlation = "independent",
    batch_size: int = 1024,
    generator: torch.Generator,
) -> FeatureBatches:
    """A batch function for `train`; `density` is a number, one per instance, or an (inst, feats) table."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    table = as_density(density, n_instances, n_features)
    _check(table, correlation)
    return FeatureBatches(density=table, batch_size=batch_size, correlation=correlation, generator=generator)


def _check(density: Tensor, correlation: str) -> None:
    if correlation not in CORRELATIONS:
        raise ValueError(f"correlation must be one of {CORRELATIONS}, got {correlation!r}")
    if density.ndim != 2:
        raise ValueError(f"density must have shape (inst, feats); got {tuple(density.shape)} (see as_density)")
    if correlation == "independent":
        return
    if density.shape[1] % 2:
        raise ValueError(f"{correlation} features come in pairs: give an even number of features, not {density.shape[1]}")
    if not torch.equal(density[:, 0::2], density[:, 1::2]):
        raise ValueError(f"{correlation} pairs need equal densities for the two features of each pair")
    if correlation == "anticorrelated" and torch.any(density > 0.5):
        raise ValueError("anticorrelated pairs need density <= 0.5 (a pair is on with probability 2p)")


def pair_cosines(W: Float[Tensor, "inst hidden feats"], eps: float = 1e-6) -> Float[Tensor, "inst pairs"]:
    """The cosine between the two features of each pair (0, 1), (2, 3), ... of every instance."""
    if W.ndim != 3 or W.shape[2] % 2:
        raise ValueError(f"W must have shape (inst, hidden, feats) with an even number of features; got {tuple(W.shape)}")
    w_hat = W / (W.norm(dim=1, keepdim=True) + eps)
    return (w_hat[..., 0::2] * w_hat[..., 1::2]).sum(dim=1)


__all__ = ["CORRELATIONS", "FeatureBatches", "feature_batch", "feature_batches", "pair_cosines"]
