"""The TopK SAE of Gao et al. (2024): keep the k largest pre-activations (then ReLU); loss MSE + AuxK."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float
from torch import Tensor

from course_utils.sae.base import SAE, SAEConfig, SAEOutput, _as_instances, mse_loss


class TopKSAE(SAE):
    """The TopK SAE of Gao et al. (2024): keep the k largest pre-activations (then ReLU); MSE + AuxK."""

    def __init__(self, cfg: SAEConfig, *, generator: torch.Generator | None = None):
        if cfg.kind != "topk":
            raise ValueError(f"TopKSAE needs cfg.kind='topk', got {cfg.kind!r}; use make_sae(cfg)")
        super().__init__(cfg, generator=generator)
        self.register_buffer("k", cfg.per_instance("k"), persistent=False)
        self.aux_k = min(cfg.aux_k if cfg.aux_k is not None else max(cfg.d_in // 2, 1), cfg.d_sae)

    def activation(self, pre_acts: Tensor) -> Tensor:
        return topk_activation(pre_acts, self.k)

    def losses(
        self, x: Tensor, out: SAEOutput, *, dead: Bool[Tensor, "inst d_sae"] | None = None, **kwargs
    ) -> dict[str, Tensor]:
        """mse, aux (AuxK on the dead latents; 0 when none) and loss = mse + aux_coeff * aux, each [inst]."""
        mse = mse_loss(x, out.x_hat)
        aux = self.aux_loss(x, out, dead) if dead is not None and bool(dead.any()) else torch.zeros_like(mse)
        return {"loss": mse + self.cfg.aux_coeff * aux, "mse": mse, "aux": aux}

    def aux_loss(self, x: Tensor, out: SAEOutput, dead: Bool[Tensor, "inst d_sae"]) -> Float[Tensor, " inst"]:
        """AuxK: reconstruct the residual x - x_hat with the aux_k largest dead latents (Gao et al. A.2)."""
        x = _as_instances(x, self.cfg.n_inst, self.cfg.d_in)
        residual = (x - out.x_hat).detach()
        masked = out.pre_acts.detach().masked_fill(~dead, float("-inf"))
        k = min(self.aux_k, int(dead.sum(-1).max()))
        idx = masked.topk(k, dim=-1, sorted=False).indices
        alive_pick = ~torch.gather(dead.expand(idx.shape[0], -1, -1), -1, idx)  # when fewer than k are dead
        vals = F.relu(out.pre_acts.gather(-1, idx)).masked_fill(alive_pick, 0.0)
        recon = self.decode(torch.zeros_like(out.pre_acts).scatter(-1, idx, vals)) - self.b_dec
        return (recon - residual).pow(2).sum(-1).mean(0)


def topk_activation(pre_acts: Float[Tensor, "batch inst d_sae"], k: int | Tensor) -> Float[Tensor, "batch inst d_sae"]:
    """ReLU of the k largest pre-activations of each row, zeros elsewhere (k: an int or one per instance)."""
    k = torch.as_tensor(k, device=pre_acts.device).reshape(-1)
    vals, idx = pre_acts.topk(int(k.max()), dim=-1, sorted=True)
    keep = torch.arange(vals.shape[-1], device=pre_acts.device) < k[:, None]
    return torch.zeros_like(pre_acts).scatter(-1, idx, F.relu(vals) * keep)
