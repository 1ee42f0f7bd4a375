"""Synthetic activations with known features, after Sharkey, Braun & Millidge (2022).

G unit-norm random directions in d dimensions; feature i is active with probability proportional to
decay**i, scaled so that on average `mean_active` features are active; active coefficients ~ Uniform[0, 1].
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor


@dataclass(frozen=True, kw_only=True)
class SyntheticConfig:
    """The ground truth of a synthetic data set (defaults: Sharkey et al. 2022's setup)."""

    n_feats: int = 512
    """G, the number of true features (Sharkey et al.: 512)."""
    d_hidden: int = 256
    """d, the dimension of the activations (Sharkey et al.: 256)."""
    mean_active: float = 5.0
    """Expected number of active features per input (Sharkey et al.: 5)."""
    decay: float = 0.99
    """Feature i is active with probability proportional to decay**i (Sharkey et al.: 0.99)."""

    def __post_init__(self) -> None:
        if self.n_feats < 1 or self.d_hidden < 1:
            raise ValueError(f"n_feats and d_hidden must be positive, got {self.n_feats} and {self.d_hidden}")
        if not 0 < self.decay <= 1:
            raise ValueError(f"decay must lie in (0, 1], got {self.decay}")
        if not 0 < self.mean_active:
            raise ValueError(f"mean_active must be positive, got {self.mean_active}")
        if float(feature_probabilities(self).max()) > 1.0:
            raise ValueError(
                f"mean_active={self.mean_active} makes the commonest feature's probability exceed 1; "
                "lower mean_active or raise decay"
            )


def feature_probabilities(cfg: SyntheticConfig) -> Float[Tensor, " feats"]:
    """P(feature i active) = mean_active * decay**i / sum_j decay**j."""
    raw = cfg.decay ** torch.arange(cfg.n_feats, dtype=torch.float64)
    return (cfg.mean_active * raw / raw.sum()).float()


def feature_directions(cfg: SyntheticConfig, *, generator: torch.Generator | None = None) -> Float[Tensor, "feats hidden"]:
    """G random unit-norm directions in d_hidden dimensions (the true features)."""
    return F.normalize(torch.randn(cfg.n_feats, cfg.d_hidden, generator=generator), dim=-1)


def sample_coefficients(
    probs: Float[Tensor, " feats"], batch: int, *, generator: torch.Generator | None = None
) -> Float[Tensor, "batch feats"]:
    """Sparse coefficients: feature i is Uniform[0, 1] with probability probs[i], else 0."""
    u = torch.rand(batch, probs.shape[0], generator=generator, device=probs.device)
    # One draw serves both: given u < p, u / p is Uniform[0, 1].
    return torch.where(u < probs, u / probs, 0.0)


def synthetic_batch(
    directions: Float[Tensor, "feats hidden"],
    probs: Float[Tensor, " feats"],
    batch: int,
    *,
    generator: torch.Generator | None = None,
) -> tuple[Float[Tensor, "batch hidden"], Float[Tensor, "batch feats"]]:
    """Activations x = coefficients @ directions, and the coefficients themselves."""
    if directions.shape[0] != probs.shape[0]:
        raise ValueError(f"{directions.shape[0]} directions but {probs.shape[0]} probabilities; they must match")
    coeffs = sample_coefficients(probs, batch, generator=generator)
    return coeffs @ directions, coeffs


def synthetic_batches(
    directions: Float[Tensor, "feats hidden"],
    probs: Float[Tensor, " feats"],
    batch: int,
    *,
    generator: torch.Generator | None = None,
) -> Iterator[Float[Tensor, "batch hidden"]]:
    """An endless stream of synthetic activation batches (for `course_utils.sae.train`)."""
    while True:
        yield synthetic_batch(directions, probs, batch, generator=generator)[0]
