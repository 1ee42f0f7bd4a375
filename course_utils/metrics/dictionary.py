"""Dictionary quality: sparsity (L0, density, dead/dense latents), reconstruction (FVU), recovery (MMCS)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor


def _with_inst(t: Tensor, ndim: int, name: str, shape: str, *, at: int = 1) -> Tensor:
    """Add a missing instance dimension at position `at` (1 for [batch ...] tensors, 0 for weights)."""
    if t.ndim == ndim - 1:
        return t.unsqueeze(at)
    if t.ndim != ndim:
        raise ValueError(f"{name} has shape {tuple(t.shape)}; expected {shape}")
    return t


def l0(acts: Float[Tensor, "batch inst d_sae"]) -> Float[Tensor, " inst"]:
    """Mean number of non-zero latents per input."""
    acts = _with_inst(acts, 3, "acts", "[batch, inst, d_sae] or [batch, d_sae]")
    return (acts != 0).float().sum(-1).mean(0)


def fvu(x: Float[Tensor, "batch inst hidden"], x_hat: Float[Tensor, "batch inst hidden"]) -> Float[Tensor, " inst"]:
    """Fraction of variance unexplained: sum ||x - x_hat||^2 / sum ||x - mean(x)||^2."""
    x, x_hat = _with_inst(x, 3, "x", "[batch, inst, hidden]"), _with_inst(x_hat, 3, "x_hat", "[batch, inst, hidden]")
    x = x.expand_as(x_hat)
    return (x - x_hat).pow(2).sum((0, 2)) / (x - x.mean(0)).pow(2).sum((0, 2)).clamp_min(1e-12)


def feature_density(acts: Float[Tensor, "batch inst d_sae"]) -> Float[Tensor, "inst d_sae"]:
    """Fraction of inputs on which each latent is non-zero."""
    acts = _with_inst(acts, 3, "acts", "[batch, inst, d_sae] or [batch, d_sae]")
    return (acts != 0).float().mean(0)


def dead_fraction(density: Float[Tensor, "inst d_sae"], *, threshold: float = 0.0) -> Float[Tensor, " inst"]:
    """Fraction of latents whose density is at most `threshold` (0: never fired on the sample)."""
    return (density <= threshold).float().mean(-1)


def dense_fraction(density: Float[Tensor, "inst d_sae"], *, threshold: float = 0.1) -> Float[Tensor, " inst"]:
    """Fraction of latents firing on more than `threshold` of the inputs (dense, likely mixed latents)."""
    return (density > threshold).float().mean(-1)


def density_histogram(
    density: Float[Tensor, " d_sae"], *, bins: int = 40, low: float = -6.0
) -> tuple[Float[Tensor, " bins"], Float[Tensor, " edges"], int]:
    """Histogram of log10 density over [low, 0] (Bricken et al.'s feature-density plot) and the dead count."""
    if density.ndim != 1:
        raise ValueError(f"density has shape {tuple(density.shape)}; pass one instance, e.g. density[0]")
    alive = density[density > 0]
    counts = torch.histc(alive.log10().clamp(min=low), bins=bins, min=low, max=0.0)
    return counts, torch.linspace(low, 0.0, bins + 1), int((density <= 0).sum())


def _unit(v: Tensor) -> Tensor:
    return F.normalize(v.float(), dim=-1)


def cosine_matrix(
    W_dec: Float[Tensor, "inst d_sae hidden"], true_features: Float[Tensor, "inst feats hidden"]
) -> Float[Tensor, "inst feats d_sae"]:
    """Cosine similarity of every true feature with every decoder direction."""
    W_dec = _with_inst(W_dec.detach(), 3, "W_dec", "[inst, d_sae, hidden] or [d_sae, hidden]", at=0)
    true = _with_inst(true_features.detach().to(W_dec.device), 3, "true_features", "[inst, feats, hidden] or [feats, hidden]", at=0)
    if true.shape[-1] != W_dec.shape[-1]:
        raise ValueError(
            f"true features have {true.shape[-1]} dimensions but decoder directions {W_dec.shape[-1]}; "
            "pass true_features as [feats, hidden]"
        )
    return _unit(true) @ _unit(W_dec).transpose(-1, -2)


def max_cosine(W_dec: Tensor, true_features: Tensor) -> Float[Tensor, "inst feats"]:
    """For each true feature, its largest cosine with any decoder direction."""
    return cosine_matrix(W_dec, true_features).max(-1).values


def mmcs(W_dec: Tensor, true_features: Tensor) -> Float[Tensor, " inst"]:
    """Mean max cosine similarity (Sharkey et al. 2022): max_cosine averaged over the true features."""
    return max_cosine(W_dec, true_features).mean(-1)


def best_latents(W_dec: Tensor, true_features: Tensor) -> tuple[Int[Tensor, "inst feats"], Float[Tensor, "inst feats"]]:
    """For each true feature, the latent whose decoder direction is closest, and that cosine."""
    best = cosine_matrix(W_dec, true_features).max(-1)
    return best.indices, best.values


def match_latents(W_dec: Tensor, true_features: Tensor) -> tuple[Int[Tensor, "inst d_sae"], Float[Tensor, "inst d_sae"]]:
    """For each latent, the true feature its decoder direction is closest to, and that cosine."""
    best = cosine_matrix(W_dec, true_features).max(-2)
    return best.indices, best.values
