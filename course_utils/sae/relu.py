"""The standard SAE of Bricken et al. (2023): a ReLU encoder, loss MSE + lambda * L1 of the activations."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from course_utils.sae.base import SAE, SAEConfig, SAEOutput, mse_loss


class L1SAE(SAE):
    """The SAE of Bricken et al. (2023): ReLU encoder, loss MSE + lambda * L1 of the latent activations."""

    def __init__(self, cfg: SAEConfig, *, generator: torch.Generator | None = None):
        if cfg.kind != "l1":
            raise ValueError(f"L1SAE needs cfg.kind='l1', got {cfg.kind!r}; use make_sae(cfg)")
        super().__init__(cfg, generator=generator)
        self.register_buffer("l1_coeff", cfg.per_instance("l1_coeff"), persistent=False)

    def activation(self, pre_acts: Tensor) -> Tensor:
        return F.relu(pre_acts)

    def losses(self, x: Tensor, out: SAEOutput, *, l1_scale: float = 1.0, **kwargs) -> dict[str, Tensor]:
        """mse, l1 (mean sum of activations) and loss = mse + l1_scale * l1_coeff * l1, each [inst]."""
        mse = mse_loss(x, out.x_hat)
        l1 = out.acts.abs().sum(-1).mean(0)
        return {"loss": mse + l1_scale * self.l1_coeff * l1, "mse": mse, "l1": l1}
