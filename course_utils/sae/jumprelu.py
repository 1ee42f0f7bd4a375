"""The JumpReLU SAE of Rajamanoharan et al. (2024b), "Jumping Ahead": a per-latent threshold below which a
latent is zero and above which it passes its pre-activation unchanged, and an L0 penalty trained directly.

    f    = JumpReLU_theta(z) = z * H(z - theta)                 z = W_enc (x - b_dec) + b_enc   (sec. 3)
    loss = ||x - x_hat||^2 + lambda * sum_j H(z_j - theta_j)                                    (sec. 3)

H has zero derivative almost everywhere, so theta gets its gradient from straight-through estimators: the
pseudo-derivatives of sec. 4 (eqs. 11-12), with a rectangle kernel K(u) = 1[|u| < 1/2] of bandwidth eps,

    d/dtheta JumpReLU_theta(z) := -(theta / eps) K((z - theta) / eps)
    d/dtheta H(z - theta)      := -(1 / eps) K((z - theta) / eps)

and no pseudo-gradient into z through H (z still gets the ordinary H(z - theta) from JumpReLU). We train
log(theta), so theta stays positive; SAELens stores theta itself (`threshold`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor, nn

from course_utils.sae.base import SAE, SAEConfig, SAEOutput, mse_loss


def rectangle(u: Tensor) -> Tensor:
    """The rectangle kernel K(u) = 1 for |u| < 1/2, else 0."""
    return ((u > -0.5) & (u < 0.5)).to(u.dtype)


class JumpReLUFunction(torch.autograd.Function):
    """JumpReLU_theta(z) = z * 1[z > theta], with the pseudo-derivative of eq. 11 for theta."""

    @staticmethod
    def forward(ctx: Any, z: Tensor, threshold: Tensor, bandwidth: float) -> Tensor:
        ctx.save_for_backward(z, threshold)
        ctx.bandwidth = bandwidth
        return z * (z > threshold).to(z.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, None]:
        z, threshold = ctx.saved_tensors
        eps = ctx.bandwidth
        grad_z = (z > threshold).to(z.dtype) * grad
        grad_threshold = -(threshold / eps) * rectangle((z - threshold) / eps) * grad
        return grad_z, _sum_to(grad_threshold, threshold.shape), None


class StepFunction(torch.autograd.Function):
    """H(z - theta) = 1[z > theta], with the pseudo-derivative of eq. 12 for theta and none for z."""

    @staticmethod
    def forward(ctx: Any, z: Tensor, threshold: Tensor, bandwidth: float) -> Tensor:
        ctx.save_for_backward(z, threshold)
        ctx.bandwidth = bandwidth
        return (z > threshold).to(z.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, Tensor, None]:
        z, threshold = ctx.saved_tensors
        eps = ctx.bandwidth
        grad_threshold = -(1.0 / eps) * rectangle((z - threshold) / eps) * grad
        return None, _sum_to(grad_threshold, threshold.shape), None


def _sum_to(grad: Tensor, shape: torch.Size) -> Tensor:
    """Sum a broadcast gradient back to the threshold's shape (over the batch dimensions in front)."""
    return grad.sum(tuple(range(grad.ndim - len(shape)))) if grad.ndim > len(shape) else grad


class JumpReLUSAE(SAE):
    """JumpReLU SAE: a learned threshold per latent, MSE + lambda * L0 (Rajamanoharan et al. 2024b)."""

    def __init__(self, cfg: SAEConfig, *, generator: torch.Generator | None = None):
        if cfg.kind != "jumprelu":
            raise ValueError(f"JumpReLUSAE needs cfg.kind='jumprelu', got {cfg.kind!r}; use make_sae(cfg)")
        super().__init__(cfg, generator=generator)
        self.log_threshold = nn.Parameter(torch.full((cfg.n_inst, cfg.d_sae), math.log(cfg.jumprelu_init_threshold)))
        self.register_buffer("l0_coeff", cfg.per_instance("l0_coeff"), persistent=False)

    @property
    def threshold(self) -> Float[Tensor, "inst d_sae"]:
        """theta = exp(log_threshold), one per latent."""
        return self.log_threshold.exp()

    def activation(self, pre_acts: Tensor) -> Tensor:
        return JumpReLUFunction.apply(pre_acts, self.threshold, self.cfg.jumprelu_bandwidth)

    def losses(self, x: Tensor, out: SAEOutput, *, l1_scale: float = 1.0, **kwargs) -> dict[str, Tensor]:
        """mse, l0 (through the step's pseudo-derivative) and loss = mse + l1_scale * l0_coeff * l0, each [inst]."""
        mse = mse_loss(x, out.x_hat)
        l0 = StepFunction.apply(out.pre_acts, self.threshold, self.cfg.jumprelu_bandwidth).sum(-1).mean(0)
        return {"loss": mse + l1_scale * self.l0_coeff * l0, "mse": mse, "l0": l0}

    def resample_defaults(self) -> dict[str, float]:
        return {"log_threshold": math.log(self.cfg.jumprelu_init_threshold)}
