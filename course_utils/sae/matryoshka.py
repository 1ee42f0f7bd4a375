"""The Matryoshka SAE (Bussmann, Nabeshima, Karvonen & Nanda 2025; Nabeshima 2024): nested prefixes of the
dictionary must each reconstruct the input on their own.

    loss = sum over m in (m_1 < ... < m_n = d_sae) of ||x - (W_dec[:m] f[:m] + b_dec)||^2  + aux_coeff * AuxK

with BatchTopK activations (Bussmann et al. 2025, sec. 3; SAELens adds each inner MSE to the outer one, the
same sum). The first m_1 latents get no help from the others, so they must carry the general features
(a parent) wherever they occur: absorbing a parent into its children would cost the small prefixes their
reconstruction, which is how the nesting fights feature absorption.
"""

from __future__ import annotations

import einops
import torch
from jaxtyping import Bool, Float
from torch import Tensor

from course_utils.sae.base import SAEConfig, SAEOutput, _as_instances, mse_loss
from course_utils.sae.batchtopk import BatchTopKSAE


class MatryoshkaSAE(BatchTopKSAE):
    """Matryoshka SAE: BatchTopK activations, one reconstruction loss per nested prefix."""

    kind = "matryoshka"

    def __init__(self, cfg: SAEConfig, *, generator: torch.Generator | None = None):
        super().__init__(cfg, generator=generator)
        widths = tuple(cfg.matryoshka_widths)
        self.widths = widths if widths[-1] == cfg.d_sae else (*widths, cfg.d_sae)

    def losses(
        self, x: Tensor, out: SAEOutput, *, dead: Bool[Tensor, "inst d_sae"] | None = None, **kwargs
    ) -> dict[str, Tensor]:
        """mse (the full dictionary's), prefix_mse (the sum over all prefixes), aux, loss; each [inst]."""
        prefix = matryoshka_loss(x, out.acts, self.W_dec, self.b_dec, self.widths)
        aux = self.aux_loss(x, out, dead)
        return {"loss": prefix + self.cfg.aux_coeff * aux, "mse": mse_loss(x, out.x_hat), "prefix_mse": prefix,
                "aux": aux}


def matryoshka_loss(
    x: Tensor,
    acts: Float[Tensor, "batch inst d_sae"],
    W_dec: Float[Tensor, "inst d_sae hidden"],
    b_dec: Float[Tensor, "inst hidden"],
    widths: tuple[int, ...],
) -> Float[Tensor, " inst"]:
    """Sum over the prefix widths m of the squared error of W_dec[:m] f[:m] + b_dec (summed over hidden,
    averaged over the batch), per instance."""
    x = _as_instances(x, W_dec.shape[0], W_dec.shape[2])
    total = torch.zeros(W_dec.shape[0], device=acts.device, dtype=acts.dtype)
    for m in widths:
        recon = einops.einsum(acts[..., :m], W_dec[:, :m], "batch inst m, inst m hidden -> batch inst hidden") + b_dec
        total = total + (recon - x).pow(2).sum(-1).mean(0)
    return total
