"""Geometry of feature directions: cosine matrices, the largest overlap, and interference."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from course_utils.data.directions import check_same_features, random_directions


def _check_directions(directions: Tensor, *, min_feats: int = 1) -> None:
    if not isinstance(directions, Tensor) or directions.ndim < 2:
        raise ValueError(
            "directions must be a tensor of shape (..., feats, hidden), one feature direction per row; "
            f"got {type(directions).__name__} of shape {tuple(getattr(directions, 'shape', ()))}"
        )
    if directions.shape[-2] < min_feats:
        raise ValueError(f"need at least {min_feats} feature directions (rows), got {directions.shape[-2]}")


def feature_cosines(directions: Float[Tensor, "*inst feats hidden"]) -> Float[Tensor, "*inst feats feats"]:
    """cos(f_i, f_j) for every pair of feature directions (rows); the diagonal is 1."""
    _check_directions(directions)
    unit = directions / directions.norm(dim=-1, keepdim=True)
    return unit @ unit.transpose(-1, -2)


def max_abs_cosine(directions: Float[Tensor, "*inst feats hidden"]) -> Float[Tensor, "*inst"]:
    """The largest |cos| between two different feature directions (rows): how far from orthogonal."""
    _check_directions(directions, min_feats=2)
    unit = directions / directions.norm(dim=-1, keepdim=True)
    cos = unit @ unit.transpose(-1, -2)
    diagonal = torch.eye(cos.shape[-1], dtype=torch.bool)
    return torch.where(diagonal, 0.0, cos.abs()).amax(dim=(-2, -1))


def read_back(
    activations: Float[Tensor, "batch hidden"], directions: Float[Tensor, "feats hidden"]
) -> Float[Tensor, "batch feats"]:
    """What a linear probe along each feature direction reads from the activations: f_j . a."""
    _check_directions(directions)
    if activations.shape[-1] != directions.shape[-1]:
        raise ValueError(
            f"activations have {activations.shape[-1]} neurons but the directions live in {directions.shape[-1]}; "
            "expected activations (batch, hidden) and directions (feats, hidden)"
        )
    return activations @ directions.T


def interference(
    coeffs: Float[Tensor, "batch feats"], directions: Float[Tensor, "feats hidden"]
) -> Float[Tensor, "batch feats"]:
    """The part of f_j . a that comes from the other features: sum over k != j of c_k f_k . f_j."""
    check_same_features(coeffs, directions)
    gram = directions @ directions.T
    off_diagonal = gram - torch.diag(torch.diagonal(gram))
    return coeffs @ off_diagonal


def exact_probes(directions: Float[Tensor, "feats hidden"]) -> Float[Tensor, "feats hidden"]:
    """Linear probes that read every feature back exactly, probes @ directions.T = I (the dual basis).

    They exist only for N <= d linearly independent directions: (F F^T)^-1 F. With N > d no linear read-out
    is exact for every input (that is superposition), so this raises ValueError.
    """
    _check_directions(directions, min_feats=1)
    n_feats, n_hidden = directions.shape[-2:]
    if n_feats > n_hidden:
        raise ValueError(f"{n_feats} directions in {n_hidden} dimensions: no exact linear read-back exists (N > d)")
    return torch.linalg.solve(directions @ directions.T, directions)


def random_cosine_scale(n_feats: int, n_hidden: int) -> float:
    """sqrt(2 ln(N(N-1)) / d): the expected max |cos| of N random unit vectors in d dimensions.

    Each cosine is about Normal(0, 1/d); this is the leading extreme-value term for the largest
    |cos| among the N(N-1)/2 pairs (the pairs are treated as independent).
    """
    if n_feats < 2 or n_hidden < 1:
        raise ValueError(f"need n_feats >= 2 and n_hidden >= 1, got n_feats={n_feats}, n_hidden={n_hidden}")
    return math.sqrt(2 * math.log(n_feats * (n_feats - 1)) / n_hidden)


def welch_bound(n_feats: int, n_hidden: int) -> float:
    """The smallest max |cos| that ANY N unit vectors in d dimensions can have (Welch, 1974)."""
    if n_feats < 2 or n_hidden < 1:
        raise ValueError(f"need n_feats >= 2 and n_hidden >= 1, got n_feats={n_feats}, n_hidden={n_hidden}")
    if n_feats <= n_hidden:
        return 0.0
    return math.sqrt((n_feats - n_hidden) / (n_hidden * (n_feats - 1)))


@dataclass(frozen=True, kw_only=True)
class CosineSweep:
    """Max |cos| among N random unit vectors in d dimensions, for a grid of N and d."""

    n_feats: tuple[int, ...]
    n_hidden: tuple[int, ...]
    max_cos: Tensor
    """Shape (len(n_feats), len(n_hidden), trials)."""


def max_abs_cosine_sweep(
    n_feats: Sequence[int],
    n_hidden: Sequence[int],
    *,
    trials: int,
    generator: torch.Generator,
) -> CosineSweep:
    """Sample `trials` sets of N random unit vectors in d dimensions for each (N, d); record max |cos|."""
    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}")
    if any(n < 2 for n in n_feats) or any(d < 1 for d in n_hidden):
        raise ValueError(f"every N must be >= 2 and every d >= 1, got N={list(n_feats)}, d={list(n_hidden)}")
    table = torch.empty(len(n_feats), len(n_hidden), trials)
    for i, n in enumerate(n_feats):
        for j, d in enumerate(n_hidden):
            directions = random_directions(n, d, n_inst=trials, generator=generator)
            table[i, j] = max_abs_cosine(directions)
    return CosineSweep(n_feats=tuple(n_feats), n_hidden=tuple(n_hidden), max_cos=table)
