"""The toy model of Elhage et al. (2022), "Toy Models of Superposition", with a leading instance dimension.

    h = W x,   x' = ReLU(W^T h + b)      W: (inst, hidden, feats), b: (inst, feats)

`ToyModelConfig` (sizes, importance per feature, density per instance, the `linear` variant), `ToyModel`
(the nn.Module; `forward(x: [batch inst feats]) -> [batch inst feats]`) and `importance_weighted_mse`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from einops import einsum
from jaxtyping import Float
from torch import Tensor, nn

from course_utils.data.sparse import as_density


@dataclass(frozen=True, kw_only=True)
class ToyModelConfig:
    """Sizes and data of a toy model; defaults are the paper's intro sweep (TMS, "Demonstrating superposition")."""

    n_features: int = 5  # TMS intro: n = 5 features
    d_hidden: int = 2  # TMS intro: m = 2 hidden dimensions
    n_instances: int = 10  # TMS notebook: 10 instances, one per density
    importance: tuple[float, ...] | tuple[tuple[float, ...], ...] | None = None
    """Per feature (or per instance and feature); None means importance_decay ** i."""
    importance_decay: float = 0.9  # TMS intro: importance 0.9^i
    density: tuple[float, ...] | tuple[tuple[float, ...], ...] | None = None
    """Per instance (or per instance and feature); None means log-spaced from 1 to min_density."""
    min_density: float = 1 / 20  # TMS notebook: feature_probability = 20 ** -linspace(0, 1, n_instances)
    linear: bool = False
    """True: x' = W^T h + b, the linear model that never superposes."""

    def __post_init__(self) -> None:
        for name in ("n_features", "d_hidden", "n_instances"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.min_density <= 1:
            raise ValueError(f"min_density must lie in (0, 1], got {self.min_density}")
        self.importance_tensor()  # validates shapes
        self.density_tensor()

    def importance_tensor(self) -> Float[Tensor, "inst feats"]:
        """The importance of every feature of every instance."""
        if self.importance is None:
            imp = self.importance_decay ** torch.arange(self.n_features, dtype=torch.float32)
        else:
            imp = torch.as_tensor(self.importance, dtype=torch.float32)
        if imp.ndim == 1:
            imp = imp[None, :]
        if imp.shape[-1] != self.n_features or imp.shape[0] not in (1, self.n_instances):
            raise ValueError(
                f"importance has shape {tuple(imp.shape)}; give {self.n_features} values "
                f"(one per feature) or an ({self.n_instances}, {self.n_features}) table"
            )
        return imp.expand(self.n_instances, self.n_features).contiguous()

    def density_tensor(self) -> Float[Tensor, "inst feats"]:
        """The density (1 - sparsity S) of every feature of every instance."""
        if self.density is None:
            steps = torch.linspace(0, 1, self.n_instances) if self.n_instances > 1 else torch.zeros(1)
            density: Tensor | Sequence = self.min_density**steps
        else:
            density = self.density
        return as_density(density, self.n_instances, self.n_features)


class ToyParameters(nn.Module):
    """W (inst, hidden, feats) Xavier-normal and b (inst, feats) zero, as the TMS notebook; the forward is the subclass's."""

    def __init__(self, cfg: ToyModelConfig, *, generator: torch.Generator, device: torch.device | str = "cpu"):
        super().__init__()
        self.cfg = cfg
        w = torch.empty(cfg.n_instances, cfg.d_hidden, cfg.n_features, device=device)
        for i in range(cfg.n_instances):
            nn.init.xavier_normal_(w[i], generator=generator)  # TMS notebook: xavier_normal_ W, zero b
        self.W = nn.Parameter(w)
        self.b = nn.Parameter(torch.zeros(cfg.n_instances, cfg.n_features, device=device))
        self.register_buffer("importance", cfg.importance_tensor().to(device), persistent=False)

    def _check_input(self, x: Tensor) -> None:
        if x.ndim != 3 or x.shape[1:] != self.b.shape:
            raise ValueError(f"x must have shape (batch, {self.cfg.n_instances}, {self.cfg.n_features}); got {tuple(x.shape)}")


class ToyModel(ToyParameters):
    """n_instances independent toy models h = W x, x' = ReLU(W^T h + b), trained side by side."""

    def forward(self, x: Float[Tensor, "batch inst feats"]) -> Float[Tensor, "batch inst feats"]:
        self._check_input(x)
        h = einsum(x, self.W, "batch inst feats, inst hidden feats -> batch inst hidden")
        out = einsum(h, self.W, "batch inst hidden, inst hidden feats -> batch inst feats") + self.b
        return out if self.cfg.linear else torch.relu(out)


def importance_weighted_mse(
    x_hat: Float[Tensor, "batch inst feats"],
    x: Float[Tensor, "batch inst feats"],
    importance: Float[Tensor, "inst feats"] | Float[Tensor, " feats"],
) -> Float[Tensor, " inst"]:
    """Each instance's loss: the mean over batch and features of importance * (x - x')^2."""
    return (importance * (x - x_hat) ** 2).mean(dim=(0, 2))


def linear_optimum_loss(
    importance: Float[Tensor, "inst feats"], density: Float[Tensor, "inst feats"], d_hidden: int
) -> Float[Tensor, " inst"]:
    """The lowest loss of the linear toy model x' = W^T W x + b on independent Uniform[0, 1] features.

    W^T W has rank d_hidden, so it keeps the d_hidden features with the largest importance x variance
    (variance p/3 - p^2/4) exactly and the bias reads the rest as their means: a loss of
    (1/n) sum over the dropped features of importance x variance (PCA on a diagonal covariance).
    """
    if importance.shape != density.shape or importance.ndim != 2:
        raise ValueError(f"importance and density must both be (inst, feats); got {tuple(importance.shape)} and {tuple(density.shape)}")
    if not 0 <= d_hidden:
        raise ValueError(f"d_hidden must be non-negative, got {d_hidden}")
    cost = importance * (density / 3 - density**2 / 4)
    kept = cost.topk(min(d_hidden, cost.shape[-1]), dim=-1).values.sum(-1)
    return (cost.sum(-1) - kept) / cost.shape[-1]
