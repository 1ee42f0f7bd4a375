"""SAE evaluation against known features: the Hungarian MCC, shrinkage, feature absorption, splitting.

- MCC: match latents to true features one-to-one (scipy's linear_sum_assignment, the Hungarian algorithm) by
  |cosine| of decoder direction and feature, and average the matched |cosines| (what SAELens's
  synthetic-data evaluation reports). Unlike MMCS, two features cannot share one latent.
- Shrinkage: the relative reconstruction bias gamma = argmin_g E||x_hat / g - x||^2 = E||x_hat||^2 / E[x_hat.x]
  of Rajamanoharan et al. (2024a), below 1 when reconstructions are too short; and the activation ratio,
  latent activation over true coefficient for a latent's matched feature.
- Absorption (Chanin et al. 2024): the fraction of inputs with a parent and one of its children active on
  which the parent's latent does not fire at all.
- Splitting: for each latent of a small dictionary, how many latents of a wider one have it as their
  nearest small latent (decoder cosine).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float, Int
from torch import Tensor

from course_utils.metrics.dictionary import cosine_matrix


def hungarian_match(
    W_dec: Float[Tensor, "inst d_sae hidden"], true_features: Float[Tensor, "feats hidden"]
) -> tuple[Int[Tensor, "inst feats"], Float[Tensor, "inst feats"]]:
    """For each true feature, its latent under the one-to-one matching that maximises the summed |cosine|,
    and that |cosine| (-1 and 0 for features left unmatched when there are fewer latents than features)."""
    # imported here, so that importing the metrics needs no scipy
    from scipy.optimize import linear_sum_assignment

    cos = cosine_matrix(W_dec, true_features).abs().cpu()  # inst feats d_sae
    latent = torch.full(cos.shape[:2], -1, dtype=torch.long)
    value = torch.zeros(cos.shape[:2])
    for i in range(cos.shape[0]):
        rows, cols = linear_sum_assignment(1.0 - cos[i].double().numpy())
        latent[i, torch.as_tensor(rows)] = torch.as_tensor(cols, dtype=torch.long)
        value[i, torch.as_tensor(rows)] = cos[i, torch.as_tensor(rows), torch.as_tensor(cols)]
    return latent, value


def mcc(W_dec: Float[Tensor, "inst d_sae hidden"], true_features: Float[Tensor, "feats hidden"]) -> Float[Tensor, " inst"]:
    """Mean |cosine| of the Hungarian-matched (latent, feature) pairs, per instance."""
    latent, value = hungarian_match(W_dec, true_features)
    matched = latent >= 0
    return (value * matched).sum(-1) / matched.sum(-1).clamp_min(1)


def reconstruction_bias(x: Float[Tensor, "batch inst hidden"], x_hat: Float[Tensor, "batch inst hidden"]) -> Float[Tensor, " inst"]:
    """gamma = E||x_hat||^2 / E[x_hat . x] (Rajamanoharan et al. 2024a): 1 without shrinkage, < 1 with it."""
    if x.ndim == 2:
        x = x[:, None]
    x = x.expand_as(x_hat)
    return x_hat.pow(2).sum((0, 2)) / (x_hat * x).sum((0, 2)).clamp_min(1e-12)


def activation_ratio(
    acts: Float[Tensor, "batch inst d_sae"],
    coeffs: Float[Tensor, "batch feats"],
    latent: Int[Tensor, "inst feats"],
    *,
    only: Bool[Tensor, "batch feats"] | None = None,
) -> Float[Tensor, " inst"]:
    """Mean of (activation of the feature's matched latent) / (true coefficient) over the inputs where the
    feature is active (and `only` holds), pooled over the matched features; 1 = no shrinkage."""
    active = coeffs > 0 if only is None else (coeffs > 0) & only
    ratios = []
    for i in range(acts.shape[1]):
        feats = (latent[i] >= 0).nonzero().squeeze(-1)
        picked = acts[:, i, latent[i, feats]]  # batch matched
        mask = active[:, feats]
        ratios.append((picked[mask] / coeffs[:, feats][mask]).mean() if bool(mask.any()) else torch.tensor(float("nan")))
    return torch.stack(ratios)


def absorption_rates(
    acts: Float[Tensor, "batch inst d_sae"],
    coeffs: Float[Tensor, "batch feats"],
    parent_latent: Int[Tensor, "inst parents"],
    children: Int[Tensor, "parents children"],
) -> Float[Tensor, "inst parents"]:
    """Per parent: the fraction of inputs with the parent and a child active where the parent's latent is 0."""
    n_parents = children.shape[0]
    parent_on = coeffs[:, :n_parents] > 0
    child_on = (coeffs[:, children] > 0).any(-1)  # batch parents
    both = parent_on & child_on
    silent = acts.gather(-1, parent_latent.clamp_min(0)[None].expand(acts.shape[0], -1, -1)) <= 0  # batch inst parents
    counts = both.sum(0).clamp_min(1)
    return (silent & both[:, None]).sum(0) / counts


def split_counts(
    W_small: Float[Tensor, "d_small hidden"],
    W_large: Float[Tensor, "d_large hidden"],
    *,
    min_cos: float = 0.5,
    alive: Bool[Tensor, " d_large"] | None = None,
) -> tuple[Int[Tensor, " d_small"], Float[Tensor, "d_large d_small"]]:
    """How many (alive) latents of the wide dictionary have each small latent as their nearest (cosine at
    least min_cos), and the cosine matrix."""
    cos = F.normalize(W_large.detach().float(), dim=-1) @ F.normalize(W_small.detach().float(), dim=-1).T
    best = cos.max(-1)
    keep = best.values >= min_cos
    if alive is not None:
        keep &= alive
    return torch.bincount(best.indices[keep], minlength=W_small.shape[0]), cos


def summary_table(rows: dict[str, dict[str, float]], columns: list[str], *, digits: int = 3) -> str:
    """A plain-text table: one row per name, one column per metric."""
    width = max(len(name) for name in rows) + 2
    head = "".ljust(width) + "".join(c.rjust(11) for c in columns)
    lines = [head]
    for name, values in rows.items():
        cells = "".join(
            (f"{values[c]:.{digits}f}" if isinstance(values[c], float) and np.isfinite(values[c]) else str(values[c])).rjust(11)
            for c in columns
        )
        lines.append(name.ljust(width) + cells)
    return "\n".join(lines)
