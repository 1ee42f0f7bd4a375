"""Feature directions in activation space and sparse feature coefficients (seeded)."""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

EXAMPLE_FEATURE_NAMES: tuple[str, ...] = (
    "Shakespeare sonnet",
    "Python error",
    "sourdough baking",
    "DNA sequence",
    "legal contract",
    "French text",
)
"""Six unrelated concepts (the syllabus's example of a polysemantic neuron, extended)."""


def random_directions(
    n_feats: int,
    n_hidden: int,
    *,
    n_inst: int | None = None,
    generator: torch.Generator,
) -> Float[Tensor, "*inst feats hidden"]:
    """`n_feats` random unit vectors in R^`n_hidden` (uniform on the sphere), one per row."""
    if n_feats < 1 or n_hidden < 1:
        raise ValueError(f"need n_feats >= 1 and n_hidden >= 1, got n_feats={n_feats}, n_hidden={n_hidden}")
    if n_inst is not None and n_inst < 1:
        raise ValueError(f"n_inst must be a positive number of instances or None, got {n_inst}")
    shape = (n_feats, n_hidden) if n_inst is None else (n_inst, n_feats, n_hidden)
    gaussian = torch.randn(shape, generator=generator)
    return gaussian / gaussian.norm(dim=-1, keepdim=True)


def sparse_coefficients(
    batch: int,
    n_feats: int,
    *,
    density: float,
    generator: torch.Generator,
) -> Float[Tensor, "batch feats"]:
    """Each feature is active with probability `density`, with a magnitude uniform in [0, 1].

    The feature distribution of Elhage et al. (2022), "Toy Models of Superposition", section 2 (density = 1 - S).
    """
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"density is a probability and must lie in [0, 1], got {density}")
    if batch < 1 or n_feats < 1:
        raise ValueError(f"need batch >= 1 and n_feats >= 1, got batch={batch}, n_feats={n_feats}")
    active = torch.rand(batch, n_feats, generator=generator) < density
    magnitude = torch.rand(batch, n_feats, generator=generator)
    return torch.where(active, magnitude, torch.zeros(()))


def activation_vector(
    coeffs: Float[Tensor, "batch feats"], directions: Float[Tensor, "feats hidden"]
) -> Float[Tensor, "batch hidden"]:
    """The activation a = sum_j c_j f_j of each row of coefficients (notebook 01's first exercise)."""
    check_same_features(coeffs, directions)
    return coeffs @ directions


def check_same_features(coeffs: Tensor, directions: Tensor) -> None:
    """Raise a clear ValueError unless coeffs (..., feats) and directions (feats, hidden) agree on feats."""
    if directions.ndim != 2 or coeffs.shape[-1] != directions.shape[0]:
        raise ValueError(
            f"coeffs has shape {tuple(coeffs.shape)} and directions {tuple(directions.shape)}: expected coeffs "
            "(batch, feats) and directions (feats, hidden) with one row per feature"
        )


def one_hot_coefficients(
    active: list[int] | tuple[int, ...], n_feats: int, *, value: float = 1.0
) -> Float[Tensor, "batch feats"]:
    """One row of coefficients: `value` on the `active` features, 0 elsewhere."""
    bad = [index for index in active if not 0 <= index < n_feats]
    if bad:
        raise ValueError(f"feature indices {bad} are outside 0..{n_feats - 1}")
    coeffs = torch.zeros(1, n_feats)
    coeffs[0, list(active)] = value
    return coeffs
