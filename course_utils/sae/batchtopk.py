"""The BatchTopK SAE of Bussmann, Leask & Nanda (2024): the top-k budget is spent over the whole batch.

    training:  f = the k * batch largest entries of ReLU(z) over the batch, zeros elsewhere     (sec. 3)
    inference: f = z * 1[z > theta], theta a running average of the smallest kept activation  (sec. 3)

So some inputs get more latents than k and others fewer; the mean is k. At inference the batch is gone,
and the global threshold theta takes its place, which makes a trained BatchTopK SAE a JumpReLU SAE with
the same threshold for every latent (SAELens saves it that way). Loss: MSE + aux_coeff * AuxK, as TopK.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float
from torch import Tensor

from course_utils.sae.base import SAE, SAEConfig, SAEOutput, mse_loss
from course_utils.sae.topk import TopKSAE


class BatchTopKSAE(SAE):
    """BatchTopK SAE: batch-level top-k in training, the learned global threshold at inference."""

    kind = "batchtopk"

    def __init__(self, cfg: SAEConfig, *, generator: torch.Generator | None = None):
        if cfg.kind != self.kind:
            raise ValueError(f"{type(self).__name__} needs cfg.kind={self.kind!r}, got {cfg.kind!r}; use make_sae(cfg)")
        super().__init__(cfg, generator=generator)
        self.register_buffer("k", cfg.per_instance("k"), persistent=False)
        self.register_buffer("threshold", torch.zeros(cfg.n_inst))
        self.aux_k = min(cfg.aux_k if cfg.aux_k is not None else max(cfg.d_in // 2, 1), cfg.d_sae)

    def activation(self, pre_acts: Tensor) -> Tensor:
        """Inference: ReLU(z) where z exceeds the instance's global threshold."""
        return F.relu(pre_acts) * (pre_acts > self.threshold[:, None]).to(pre_acts.dtype)

    def training_forward(self, x: Tensor) -> SAEOutput:
        """Batch-level top-k; updates the running threshold from the kept activations."""
        pre = self.pre_acts(x)
        acts = batchtopk_activation(pre, self.k)
        with torch.no_grad():
            self.threshold.copy_(updated_threshold(self.threshold, acts, self.cfg.threshold_lr))
        return SAEOutput(x_hat=self.decode(acts), acts=acts, pre_acts=pre)

    def losses(
        self, x: Tensor, out: SAEOutput, *, dead: Bool[Tensor, "inst d_sae"] | None = None, **kwargs
    ) -> dict[str, Tensor]:
        """mse, aux (AuxK on the dead latents, Gao et al. A.2) and loss = mse + aux_coeff * aux, each [inst]."""
        mse = mse_loss(x, out.x_hat)
        aux = self.aux_loss(x, out, dead)
        return {"loss": mse + self.cfg.aux_coeff * aux, "mse": mse, "aux": aux}

    def aux_loss(self, x: Tensor, out: SAEOutput, dead: Bool[Tensor, "inst d_sae"] | None) -> Float[Tensor, " inst"]:
        """The TopK SAE's AuxK (0 when no latent is dead)."""
        if dead is None or not bool(dead.any()):
            return torch.zeros(self.cfg.n_inst, device=out.x_hat.device)
        return TopKSAE.aux_loss(self, x, out, dead)  # type: ignore[arg-type]  # uses only cfg, aux_k, decode


def batchtopk_activation(
    pre_acts: Float[Tensor, "batch inst d_sae"], k: float | Tensor
) -> Float[Tensor, "batch inst d_sae"]:
    """Per instance, keep the round(k * batch) largest entries of ReLU(pre_acts) over the whole batch."""
    n_batch, n_inst, d_sae = pre_acts.shape
    k = torch.as_tensor(k, dtype=torch.float32, device=pre_acts.device).reshape(-1).expand(n_inst)
    budget = (k * n_batch).round().long().clamp(max=n_batch * d_sae)
    flat = F.relu(pre_acts).transpose(0, 1).reshape(n_inst, n_batch * d_sae)
    vals, idx = flat.topk(int(budget.max()), dim=-1, sorted=True)
    keep = torch.arange(vals.shape[-1], device=pre_acts.device) < budget[:, None]
    kept = torch.zeros_like(flat).scatter(-1, idx, vals * keep)
    return kept.reshape(n_inst, n_batch, d_sae).transpose(0, 1)


def updated_threshold(
    threshold: Float[Tensor, " inst"], acts: Float[Tensor, "batch inst d_sae"], lr: float
) -> Float[Tensor, " inst"]:
    """(1 - lr) * threshold + lr * (smallest positive kept activation of the batch), per instance."""
    smallest = acts.masked_fill(acts <= 0, float("inf")).amin(dim=(0, 2))
    found = torch.isfinite(smallest)
    return torch.where(found, (1 - lr) * threshold + lr * smallest.where(found, threshold), threshold)
