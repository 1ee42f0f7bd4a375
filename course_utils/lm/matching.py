"""Matching latents across SAEs of different widths by the cosine of their decoder directions (feature splitting)."""

from __future__ import annotations

from jaxtyping import Float, Int
from torch import Tensor


def decoder_cosines(
    W_small: Float[Tensor, "n_small hidden"], W_large: Float[Tensor, "n_large hidden"]
) -> Float[Tensor, "n_small n_large"]:
    """Cosine similarity of every decoder direction of one SAE with every direction of another."""
    if W_small.ndim != 2 or W_large.ndim != 2 or W_small.shape[1] != W_large.shape[1]:
        raise ValueError(
            f"decoders must be [latents, hidden] with the same hidden size, got {tuple(W_small.shape)} and {tuple(W_large.shape)}"
        )
    a = W_small / W_small.norm(dim=1, keepdim=True).clamp_min(1e-12)
    b = W_large / W_large.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return a @ b.T


def best_matches(cosines: Float[Tensor, "n_small n_large"]) -> tuple[Float[Tensor, " n_small"], Int[Tensor, " n_small"]]:
    """For each latent of the first SAE, its closest latent in the second and their cosine."""
    values, index = cosines.max(dim=1)
    return values, index


def children(cosines: Float[Tensor, "n_small n_large"], latent: int, *, threshold: float = 0.5) -> Int[Tensor, " m"]:
    """The latents of the larger SAE whose decoder direction is within `threshold` cosine of one small latent,
    most similar first (for each, that small latent must also be its closest parent)."""
    if not 0 <= latent < cosines.shape[0]:
        raise ValueError(f"latent must lie in 0..{cosines.shape[0] - 1}, got {latent}")
    parent = cosines.argmax(dim=0)
    column = cosines[latent]
    picked = ((column >= threshold) & (parent == latent)).nonzero().squeeze(1)
    return picked[column[picked].argsort(descending=True)]
