"""The Gated SAE of Rajamanoharan et al. (2024a), "Improving Dictionary Learning with Gated Sparse
Autoencoders": one path decides which latents fire, another how strongly, so the L1 penalty (on the gate
only) no longer shrinks the magnitudes.

    pi_gate = W_gate (x - b_dec) + b_gate               (W_gate = W_enc, b_gate = b_enc here)
    pi_mag  = (exp(r_mag) * W_gate) (x - b_dec) + b_mag  weight sharing: one extra scale per latent (sec. 3.1)
    f       = 1[pi_gate > 0] * ReLU(pi_mag)
    loss    = ||x - x_hat(f)||^2 + lambda ||ReLU(pi_gate)||_1 + ||x - x_hat_frozen(ReLU(pi_gate))||^2   (sec. 3.2)

x_hat_frozen is the decoder under a stop-gradient: the auxiliary term trains the gate, not the decoder. The
Heaviside step passes no gradient, so the gate learns only from the last two terms and the magnitude path
(and W_gate through the weight sharing) from the first. The L1 term needs no decoder-norm weights here:
every decoder direction has unit norm.
"""

from __future__ import annotations

import einops
import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from course_utils.sae.base import SAE, SAEConfig, SAEOutput, _as_instances, mse_loss


class GatedSAE(SAE):
    """Gated SAE: W_enc and b_enc are the gate's; r_mag and b_mag make the magnitude path (sec. 3.1)."""

    def __init__(self, cfg: SAEConfig, *, generator: torch.Generator | None = None):
        if cfg.kind != "gated":
            raise ValueError(f"GatedSAE needs cfg.kind='gated', got {cfg.kind!r}; use make_sae(cfg)")
        super().__init__(cfg, generator=generator)
        self.r_mag = nn.Parameter(torch.zeros(cfg.n_inst, cfg.d_sae))
        self.b_mag = nn.Parameter(torch.zeros(cfg.n_inst, cfg.d_sae))
        self.register_buffer("l1_coeff", cfg.per_instance("l1_coeff"), persistent=False)

    def magnitude_pre_acts(self, x: Tensor) -> Float[Tensor, "batch inst d_sae"]:
        """pi_mag = (exp(r_mag) * W_gate) (x - b_dec) + b_mag."""
        x = _as_instances(x, self.cfg.n_inst, self.cfg.d_in)
        W_mag = self.W_enc * self.r_mag.exp()[..., None]
        return einops.einsum(x - self.b_dec, W_mag, "batch inst hidden, inst d_sae hidden -> batch inst d_sae") + self.b_mag

    def encode(self, x: Tensor) -> Float[Tensor, "batch inst d_sae"]:
        return gated_activation(self.pre_acts(x), self.magnitude_pre_acts(x))

    def forward(self, x: Tensor) -> SAEOutput:
        """pre_acts holds pi_gate (the losses need it); acts = 1[pi_gate > 0] * ReLU(pi_mag)."""
        gate = self.pre_acts(x)
        acts = gated_activation(gate, self.magnitude_pre_acts(x))
        return SAEOutput(x_hat=self.decode(acts), acts=acts, pre_acts=gate)

    def losses(self, x: Tensor, out: SAEOutput, *, l1_scale: float = 1.0, **kwargs) -> dict[str, Tensor]:
        """mse, l1 (of ReLU(pi_gate)), aux (frozen-decoder reconstruction) and their sum, each [inst]."""
        mse = mse_loss(x, out.x_hat)
        gate = F.relu(out.pre_acts)
        l1 = gate.sum(-1).mean(0)
        frozen = einops.einsum(gate, self.W_dec.detach(), "batch inst d_sae, inst d_sae hidden -> batch inst hidden")
        aux = mse_loss(x, frozen + self.b_dec.detach())
        return {"loss": mse + l1_scale * self.l1_coeff * l1 + aux, "mse": mse, "l1": l1, "aux": aux}

    def resample_defaults(self) -> dict[str, float]:
        return {"r_mag": 0.0, "b_mag": 0.0}


def gated_activation(
    pi_gate: Float[Tensor, "batch inst d_sae"], pi_mag: Float[Tensor, "batch inst d_sae"]
) -> Float[Tensor, "batch inst d_sae"]:
    """1[pi_gate > 0] * ReLU(pi_mag): the gate's step has no gradient, the magnitude's ReLU does."""
    return (pi_gate > 0).to(pi_mag.dtype) * F.relu(pi_mag)
