"""The phase diagram of two features in one hidden dimension (TMS, "Superposition as a phase change").

Feature 1 has importance 1, feature 2 importance r; each is 0 with probability 1 - p, else Uniform[0, 1].
The model h = w1 x1 + w2 x2, x'_i = ReLU(w_i h + b_i) settles in one of three solutions:

| code | solution | W |
| --- | --- | --- |
| 0 | feature 2 not learned | [1, 0] (b2 = E[x2]) |
| 1 | feature 2 takes the dimension | [0, 1] (b1 = E[x1]) |
| 2 | the antipodal pair | [1, -1] (b = 0) |

`candidate_losses` gives their expected losses in closed form; `train_phase_diagram` trains a grid of
(r, p) cells (best of several restarts) and `classify_solutions` names what each cell learned.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from course_utils.data.correlated import feature_batches
from course_utils.toy_models.model import ToyModel, ToyModelConfig
from course_utils.toy_models.training import TrainConfig, train

SOLUTIONS: tuple[str, ...] = ("feature 2 not learned", "feature 2 takes the dimension", "antipodal pair")
"""The names of solution codes 0, 1, 2; code -1 is anything else."""
OTHER = -1


def candidate_losses(r: Float[Tensor, ...], p: Float[Tensor, ...]) -> Float[Tensor, "... 3"]:
    """Expected loss (importance-weighted mean over the 2 features) of solutions 0, 1, 2 at importance ratio r, density p.

    A dropped feature is read back as its mean p/2, which costs its variance p/3 - p^2/4; the pair
    errs only when both are on (probability p^2), by min(x1, x2) on each readout, E[min^2] = 1/6.
    """
    r, p = torch.broadcast_tensors(torch.as_tensor(r, dtype=torch.float32), torch.as_tensor(p, dtype=torch.float32))
    variance = p / 3 - p**2 / 4
    not_learned = r * variance / 2
    takes_dimension = variance / 2
    antipodal = (1 + r) * p**2 / 6 / 2
    return torch.stack([not_learned, takes_dimension, antipodal], dim=-1)


def boundary_density(r: Float[Tensor, ...]) -> Float[Tensor, ...]:
    """The density below which the antipodal pair has the lowest expected loss (from `candidate_losses`)."""
    r = torch.as_tensor(r, dtype=torch.float32)
    if torch.any(r <= 0):
        raise ValueError("importance ratios r must be positive")
    return torch.where(r <= 1, 4 * r / (2 + 5 * r), 4 / (5 + 2 * r))


def predicted_solutions(r: Float[Tensor, ...], p: Float[Tensor, ...]) -> Int[Tensor, ...]:
    """The code (0, 1, 2) of the candidate with the lowest expected loss."""
    return candidate_losses(r, p).argmin(dim=-1)


def classify_solutions(W: Float[Tensor, "inst 1 2"], threshold: float = 0.5) -> Int[Tensor, " inst"]:
    """Name each trained 2-in-1 model: 0 (only feature 1), 1 (only feature 2), 2 (antipodal pair), -1 (other)."""
    if W.ndim != 3 or W.shape[1:] != (1, 2):
        raise ValueError(f"W must have shape (inst, 1, 2): two features in one hidden dimension; got {tuple(W.shape)}")
    w1, w2 = W[:, 0, 0], W[:, 0, 1]
    on1, on2 = w1.abs() > threshold, w2.abs() > threshold
    codes = torch.full(w1.shape, OTHER, dtype=torch.int64)
    codes[on1 & ~on2] = 0
    codes[~on1 & on2] = 1
    codes[on1 & on2 & (w1 * w2 < 0)] = 2
    return codes


@dataclass(frozen=True, kw_only=True)
class PhaseDiagram:
    """A trained grid: axes, each cell's kept W, its final loss and its solution code."""

    ratios: Float[Tensor, " r"]
    densities: Float[Tensor, " p"]
    W: Float[Tensor, "p r 1 2"]
    b: Float[Tensor, "p r 2"]
    losses: Float[Tensor, "p r"]
    codes: Int[Tensor, "p r"]


def log_grid(low: float, high: float, n: int) -> Float[Tensor, " n"]:
    """n values from low to high, evenly spaced on a log scale."""
    if not 0 < low < high or n < 2:
        raise ValueError(f"need 0 < low < high and n >= 2; got low={low}, high={high}, n={n}")
    return torch.logspace(torch.log10(torch.tensor(low)), torch.log10(torch.tensor(high)), n)


def train_phase_diagram(
    ratios: Float[Tensor, " r"],
    densities: Float[Tensor, " p"],
    train_cfg: TrainConfig,
    *,
    restarts: int = 3,
    generator: torch.Generator,
) -> PhaseDiagram:
    """Train every (density, ratio) cell `restarts` times in one batched run; keep each cell's lowest final loss."""
    if ratios.ndim != 1 or densities.ndim != 1:
        raise ValueError("ratios and densities must be 1-D tensors (the two axes of the grid)")
    if restarts < 1:
        raise ValueError(f"restarts must be at least 1, got {restarts}")
    n_p, n_r, k = densities.numel(), ratios.numel(), restarts
    p_cell = densities[:, None].expand(n_p, n_r).reshape(-1).repeat_interleave(k)
    r_cell = ratios[None, :].expand(n_p, n_r).reshape(-1).repeat_interleave(k)
    importance = torch.stack([torch.ones_like(r_cell), r_cell], dim=-1)
    n_inst = n_p * n_r * k
    cfg = ToyModelConfig(
        n_features=2, d_hidden=1, n_instances=n_inst,
        importance=tuple(map(tuple, importance.tolist())), density=tuple(p_cell.tolist()),
    )
    model = ToyModel(cfg, generator=generator)
    batches = feature_batches(p_cell, n_instances=n_inst, n_features=2, batch_size=train_cfg.batch_size, generator=generator)
    log = train(model, train_cfg, batches)
    # Compare restarts by their loss per unit importance: restarts of one cell share the importance.
    best = log.final_loss().view(n_p * n_r, k).argmin(dim=1) + torch.arange(n_p * n_r) * k
    W = model.W.detach()[best]
    return PhaseDiagram(
        ratios=ratios, densities=densities,
        W=W.view(n_p, n_r, 1, 2), b=model.b.detach()[best].view(n_p, n_r, 2),
        losses=log.final_loss()[best].view(n_p, n_r), codes=classify_solutions(W).view(n_p, n_r),
    )


def band_mask(ratios: Float[Tensor, " r"], densities: Float[Tensor, " p"], *, factor: float = 1.5) -> Float[Tensor, "p r"]:
    """Cells near the boundary: p within `factor` of the boundary density, or r within `factor` of 1."""
    r, p = ratios[None, :], densities[:, None]
    near_p = (torch.log(p / boundary_density(r)).abs() < torch.log(torch.tensor(factor)))
    near_r = torch.log(r).abs() < torch.log(torch.tensor(factor))
    return (near_p | near_r.expand_as(near_p))


def agreement(diagram: PhaseDiagram, *, factor: float = 1.5) -> tuple[float, int]:
    """The fraction of cells outside the band (see `band_mask`) whose trained solution is the predicted one, and their count."""
    predicted = predicted_solutions(diagram.ratios[None, :], diagram.densities[:, None])
    outside = ~band_mask(diagram.ratios, diagram.densities, factor=factor)
    n = int(outside.sum())
    if n == 0:
        raise ValueError("every cell lies inside the band; use a wider grid or a smaller factor")
    return float((predicted == diagram.codes)[outside].float().mean()), n


__all__ = [
    "OTHER",
    "SOLUTIONS",
    "PhaseDiagram",
    "agreement",
    "band_mask",
    "boundary_density",
    "candidate_losses",
    "classify_solutions",
    "log_grid",
    "predicted_solutions",
    "train_phase_diagram",
]
