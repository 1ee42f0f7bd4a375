"""Synthetic activations with known features, after Sharkey, Braun & Millidge (2022).

G unit-norm random directions in d dimensions; feature i is active with probability proportional to
decay**i, scaled so that on average `mean_active` features are active; active coefficients ~ Uniform[0, 1].
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
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


def sample_active(
    probs: Float[Tensor, " feats"], batch: int, *, generator: torch.Generator | None = None
) -> tuple[Int[Tensor, " n"], Int[Tensor, " n"]]:
    """(input, feature) of every active entry, sorted by input: entry (b, i) is active w.p. probs[i], independently.

    Instead of one uniform number per entry (batch x feats), each feature's active inputs are drawn as a
    Bernoulli process, from geometric gaps between them: a few numbers per *active* entry, which makes a
    batch of 2048 in Sharkey et al.'s setup (5 of 512 active) 3x cheaper, 3 ms instead of 10 (notebook 07,
    section 7).
    """
    p = probs.to(torch.float64).clamp(0.0, 1.0)
    log_miss = torch.log1p(-p)[:, None]  # log P(inactive); -inf where p = 1 (every gap is 1)
    expected = batch * float(p.max())
    n_draws = math.ceil(expected + 10 * math.sqrt(expected) + 10)
    positions = torch.empty(p.shape[0], 0, dtype=torch.float64, device=probs.device)
    last = torch.full((p.shape[0], 1), -1.0, dtype=torch.float64, device=probs.device)
    while bool((last < batch).any()):  # extend every row until it passes the batch end (exact, not a redraw)
        u = torch.rand(p.shape[0], n_draws, generator=generator, dtype=torch.float64, device=probs.device)
        gaps = torch.where(p[:, None] > 0, torch.floor(torch.log1p(-u) / log_miss) + 1, math.inf)
        steps = last + gaps.clamp(max=batch + 1).cumsum(1)
        positions, last = torch.cat([positions, steps], 1), steps[:, -1:]
    feature, column = (positions < batch).nonzero(as_tuple=True)
    inputs = positions[feature, column].long()
    order = torch.argsort(inputs * p.shape[0] + feature)
    return inputs[order], feature[order]


def sample_coefficients(
    probs: Float[Tensor, " feats"], batch: int, *, generator: torch.Generator | None = None
) -> Float[Tensor, "batch feats"]:
    """Sparse coefficients: feature i is Uniform[0, 1] with probability probs[i], else 0."""
    return _coefficient_matrix(probs, batch, generator=generator).to_dense()


def _coefficient_matrix(probs: Tensor, batch: int, *, generator: torch.Generator | None) -> Tensor:
    """The coefficients as a [batch, feats] CSR matrix."""
    inputs, feature = sample_active(probs, batch, generator=generator)
    values = torch.rand(inputs.shape[0], generator=generator, device=probs.device)
    crow = torch.zeros(batch + 1, dtype=torch.long, device=probs.device)
    crow[1:] = torch.bincount(inputs, minlength=batch).cumsum(0)
    with warnings.catch_warnings():  # torch says once that its CSR support is "in beta"
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
        return torch.sparse_csr_tensor(crow, feature, values, (batch, probs.shape[0]), check_invariants=False)


def synthetic_batch(
    directions: Float[Tensor, "feats hidden"],
    probs: Float[Tensor, " feats"],
    batch: int,
    *,
    generator: torch.Generator | None = None,
) -> tuple[Float[Tensor, "batch hidden"], Float[Tensor, "batch feats"]]:
    """Activations x = coefficients @ directions, and the coefficients themselves."""
    _check(directions, probs)
    coeffs = _coefficient_matrix(probs, batch, generator=generator)
    return coeffs @ directions, coeffs.to_dense()


def synthetic_batches(
    directions: Float[Tensor, "feats hidden"],
    probs: Float[Tensor, " feats"],
    batch: int,
    *,
    generator: torch.Generator | None = None,
) -> Iterator[Float[Tensor, "batch hidden"]]:
    """An endless stream of synthetic activation batches (for `course_utils.sae.train`, the training loop)."""
    _check(directions, probs)
    while True:
        yield _coefficient_matrix(probs, batch, generator=generator) @ directions


def _check(directions: Tensor, probs: Tensor) -> None:
    if directions.shape[0] != probs.shape[0]:
        raise ValueError(f"{directions.shape[0]} directions but {probs.shape[0]} probabilities; they must match")
