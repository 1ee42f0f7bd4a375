"""Feature geometry beyond the 2-D pictures (TMS, "The geometry of superposition" and
"Superposition in a privileged basis"), and what the optimiser does to the hidden basis.

- `feature_dimensionality(W)`: D_i = ||W_i||^2 / sum_j (W_hat_i . W_j)^2, the share of a dimension feature i gets.
- `dimensions_per_feature(W)`: D* = m / ||W||_F^2.
- `STICKY_FRACTIONS`: the fractions D_i sticks to (TMS Figure "feature dimensionality").
- `PrivilegedToyModel`: h = ReLU(W x), x' = ReLU(W^T h + b), whose neurons are a privileged basis.
- `monosemantic_neurons(W)`: which neurons read (almost) one feature.
- `train_with_optimizer(...)`, `excess_kurtosis(...)`, `basis_alignment(...)`: Adam against SGD.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from einops import einsum
from jaxtyping import Bool, Float
from torch import Tensor, nn
from tqdm.auto import tqdm

from course_utils.data.correlated import feature_batches
from course_utils.metrics.geometry import _check_w
from course_utils.toy_models.model import (
    ToyModel,
    ToyModelConfig,
    ToyParameters,
    importance_weighted_mse,
)
from course_utils.toy_models.training import TrainConfig, train

STICKY_FRACTIONS: dict[str, float] = {
    "dedicated dimension": 1.0,
    "tetrahedron": 3 / 4,
    "triangle": 2 / 3,
    "antipodal pair": 1 / 2,
    "pentagon": 2 / 5,
    "square antiprism": 3 / 8,
}
"""The values D_i sticks to, and the configuration each comes from (TMS, "The geometry of superposition")."""


def feature_dimensionality(W: Float[Tensor, "inst hidden feats"], eps: float = 1e-12) -> Float[Tensor, "inst feats"]:
    """D_i = ||W_i||^2 / sum_j (W_hat_i . W_j)^2 (the sum includes j = i); 0 for a feature with W_i = 0."""
    _check_w(W)
    norm_sq = (W**2).sum(dim=1)
    w_hat = W / (norm_sq.sqrt().unsqueeze(1) + eps)
    overlap = einsum(w_hat, W, "inst hidden f1, inst hidden f2 -> inst f1 f2") ** 2
    return norm_sq / (overlap.sum(-1) + eps)


def dimensions_per_feature(W: Float[Tensor, "inst hidden feats"]) -> Float[Tensor, " inst"]:
    """D* = m / ||W||_F^2: how many hidden dimensions each (fully) learned feature gets."""
    _check_w(W)
    return W.shape[1] / (W**2).sum(dim=(1, 2))


def train_density_sweep(
    density: Float[Tensor, " inst"],
    *,
    n_features: int = 100,
    d_hidden: int = 10,
    steps: tuple[int, int] = (1000, 300),
    lr: float = 1e-2,
    batch_size: int = 256,
    generator: torch.Generator,
    progress: bool = True,
) -> ToyModel:
    """One toy model per density, all features equally important (TMS "The geometry of superposition").

    The paper trains n = 400, m = 30 for 10k+ steps at lr 1e-3; to fit a notebook we train n = 100,
    m = 10 (n and m matter little while n >> m) for steps[0] steps at lr, then steps[1] at lr / 10.
    """
    if density.ndim != 1:
        raise ValueError(f"density must be a 1-D tensor, one value per instance; got shape {tuple(density.shape)}")
    cfg = ToyModelConfig(n_features=n_features, d_hidden=d_hidden, n_instances=density.numel(),
                         importance=(1.0,) * n_features, density=tuple(density.tolist()))
    model = ToyModel(cfg, generator=generator)
    batches = feature_batches(density, n_instances=cfg.n_instances, n_features=n_features, batch_size=batch_size,
                              generator=generator)
    for n_steps, step_lr in zip(steps, (lr, lr / 10), strict=True):
        train(model, TrainConfig(steps=n_steps, lr=step_lr, batch_size=batch_size, progress=progress), batches)
    return model


class PrivilegedToyModel(ToyParameters):
    """h = ReLU(W x), x' = ReLU(W^T h + b): the ReLU on h makes its neurons a privileged basis (TMS section 7)."""

    def hidden(self, x: Float[Tensor, "batch inst feats"]) -> Float[Tensor, "batch inst hidden"]:
        return torch.relu(einsum(x, self.W, "batch inst feats, inst hidden feats -> batch inst hidden"))

    def forward(self, x: Float[Tensor, "batch inst feats"]) -> Float[Tensor, "batch inst feats"]:
        self._check_input(x)
        out = einsum(self.hidden(x), self.W, "batch inst hidden, inst hidden feats -> batch inst feats")
        return torch.relu(out + self.b)


MONOSEMANTIC_RATIO = 3.0
"""A neuron is monosemantic when its largest feature weight is more than this many times its second."""


def monosemantic_neurons(
    W: Float[Tensor, "inst hidden feats"], ratio: float = MONOSEMANTIC_RATIO, alive: float = 0.1
) -> Bool[Tensor, "inst hidden"]:
    """Neurons whose largest positive weight exceeds `alive` and `ratio` times every other positive weight.

    Only positive weights count: with h = ReLU(W x), a negative weight only silences the neuron.
    """
    _check_w(W)
    if W.shape[2] < 2:
        raise ValueError("a monosemanticity count needs at least 2 features")
    top2 = W.clamp(min=0).topk(2, dim=-1).values
    return (top2[..., 0] > alive) & (top2[..., 0] > ratio * top2[..., 1])


def train_with_optimizer(
    model: nn.Module,
    make_optimizer: Callable[[list[nn.Parameter]], torch.optim.Optimizer],
    batches: Callable[[int], Float[Tensor, "batch inst feats"]],
    *,
    steps: int,
    progress: bool = True,
) -> Float[Tensor, "steps inst"]:
    """Train `model` (loss: importance-weighted MSE, summed over instances) with any torch optimiser."""
    if steps < 1:
        raise ValueError(f"steps must be positive, got {steps}")
    optimizer = make_optimizer(list(model.parameters()))
    losses = torch.zeros(steps, model.b.shape[0])
    for step in tqdm(range(steps), disable=not progress, desc="training", mininterval=0.5):
        x = batches(step)
        per_instance = importance_weighted_mse(model(x), x, model.importance)
        optimizer.zero_grad(set_to_none=True)
        per_instance.sum().backward()
        optimizer.step()
        losses[step] = per_instance.detach().cpu()
    return losses


def excess_kurtosis(h: Float[Tensor, "batch inst hidden"], eps: float = 1e-12) -> Float[Tensor, "inst hidden"]:
    """Each neuron's excess kurtosis over the batch, E[(h - mu)^4] / Var^2 - 3 (0 for a Gaussian)."""
    if h.ndim != 3:
        raise ValueError(f"h must have shape (batch, inst, hidden); got {tuple(h.shape)}")
    centred = h - h.mean(0)
    var = (centred**2).mean(0)
    return (centred**4).mean(0) / (var**2 + eps) - 3.0


def random_rotation(d: int, *, generator: torch.Generator) -> Float[Tensor, "hidden hidden"]:
    """A uniformly random d x d orthogonal matrix (QR of a Gaussian matrix, signs fixed)."""
    q, r = torch.linalg.qr(torch.randn(d, d, generator=generator))
    return q * torch.sign(torch.diagonal(r))


@dataclass(frozen=True, kw_only=True)
class BasisAlignment:
    """Mean excess kurtosis of the hidden units, in the neuron basis and in random rotations of it."""

    neuron_basis: Float[Tensor, " inst"]
    rotated: Float[Tensor, " inst"]
    """The mean over `rotations` random rotations."""

    @property
    def ratio(self) -> Float[Tensor, " inst"]:
        return self.neuron_basis / self.rotated


def basis_alignment(
    h: Float[Tensor, "batch inst hidden"], *, rotations: int = 20, generator: torch.Generator
) -> BasisAlignment:
    """How much heavier-tailed the neurons are than random directions: kurtosis per neuron vs after rotation."""
    if rotations < 1:
        raise ValueError(f"rotations must be at least 1, got {rotations}")
    base = excess_kurtosis(h).mean(-1)
    rotated = []
    for _ in range(rotations):
        q = random_rotation(h.shape[-1], generator=generator)
        rotated.append(excess_kurtosis(h @ q).mean(-1))
    return BasisAlignment(neuron_basis=base, rotated=torch.stack(rotated).mean(0))


__all__ = [
    "MONOSEMANTIC_RATIO",
    "STICKY_FRACTIONS",
    "BasisAlignment",
    "PrivilegedToyModel",
    "basis_alignment",
    "dimensions_per_feature",
    "excess_kurtosis",
    "feature_dimensionality",
    "monosemantic_neurons",
    "random_rotation",
    "train_density_sweep",
    "train_with_optimizer",
]
