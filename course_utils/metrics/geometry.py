"""The geometry of a toy model's features: the columns W_i of W (TMS, "Demonstrating superposition").

All functions take W of shape (inst, hidden, feats): feature i of instance k is W[k, :, i].
"""

from __future__ import annotations

import torch
from einops import einsum
from jaxtyping import Bool, Float
from torch import Tensor

REPRESENTED_NORM = 0.5
"""A feature counts as represented when ||W_i|| exceeds this (TMS plots show ~0 or ~1)."""


def _check_w(W: Tensor) -> None:
    if W.ndim != 3:
        raise ValueError(f"W must have shape (inst, hidden, feats); got {tuple(W.shape)} (add a leading instance axis with W[None])")


def gram(W: Float[Tensor, "inst hidden feats"]) -> Float[Tensor, "inst feats feats"]:
    """W^T W per instance: norms squared on the diagonal, interference off it."""
    _check_w(W)
    return einsum(W, W, "inst hidden f1, inst hidden f2 -> inst f1 f2")


def feature_norms(W: Float[Tensor, "inst hidden feats"]) -> Float[Tensor, "inst feats"]:
    """||W_i||: how strongly each feature is represented."""
    _check_w(W)
    return W.norm(dim=1)


def represented(W: Float[Tensor, "inst hidden feats"], threshold: float = REPRESENTED_NORM) -> Bool[Tensor, "inst feats"]:
    """Which features have norm above `threshold`."""
    return feature_norms(W) > threshold


def superposition(W: Float[Tensor, "inst hidden feats"], eps: float = 1e-6) -> Float[Tensor, "inst feats"]:
    """sum_{j != i} (W_hat_i . W_j)^2: how much of feature i's direction other features also use."""
    _check_w(W)
    w_hat = W / (W.norm(dim=1, keepdim=True) + eps)
    overlap = einsum(w_hat, W, "inst hidden f1, inst hidden f2 -> inst f1 f2") ** 2
    return overlap.sum(-1) - torch.diagonal(overlap, dim1=-2, dim2=-1)


def pairwise_angles(W: Float[Tensor, "inst hidden feats"], eps: float = 1e-6) -> Float[Tensor, "inst feats feats"]:
    """The angle in degrees between every two features' directions."""
    _check_w(W)
    w_hat = W / (W.norm(dim=1, keepdim=True) + eps)
    cos = einsum(w_hat, w_hat, "inst hidden f1, inst hidden f2 -> inst f1 f2").clamp(-1, 1)
    return torch.rad2deg(torch.arccos(cos))


def consecutive_angles_2d(W: Float[Tensor, "hidden feats"], threshold: float = REPRESENTED_NORM) -> Float[Tensor, " gaps"]:
    """For one 2-D instance: the angles (degrees, summing to 360) between neighbouring represented features."""
    if W.ndim != 2 or W.shape[0] != 2:
        raise ValueError(f"W must be one instance with 2 hidden dimensions, shape (2, feats); got {tuple(W.shape)}")
    keep = W.norm(dim=0) > threshold
    angles = torch.sort(torch.rad2deg(torch.atan2(W[1, keep], W[0, keep])) % 360).values
    if angles.numel() == 0:
        return angles
    return torch.diff(angles, append=angles[:1] + 360)


def polar_angles_2d(W: Float[Tensor, "inst hidden feats"]) -> Float[Tensor, "inst feats"]:
    """Each feature's direction in a 2-D hidden space, in degrees in [0, 360)."""
    _check_w(W)
    if W.shape[1] != 2:
        raise ValueError(f"polar angles need 2 hidden dimensions; W has {W.shape[1]}")
    return torch.rad2deg(torch.atan2(W[:, 1], W[:, 0])) % 360


__all__ = [
    "REPRESENTED_NORM",
    "consecutive_angles_2d",
    "feature_norms",
    "gram",
    "pairwise_angles",
    "polar_angles_2d",
    "represented",
    "superposition",
]
