"""What every SAE architecture shares: the config, the parameters with a leading instance dimension, the
tied pre-encoder bias, the unit-norm decoder and its constraints, and the MSE.

Layout: `W_enc[i, j]` is latent j's encoder row and `W_dec[i, j]` latent j's decoder direction (a column of
the papers' W_dec), both of size `hidden`, for instance i (independent SAEs trained at once).

    f     = act(W_enc (x - b_dec) + b_enc)       act: the architecture's (relu.py, topk.py)
    x_hat = W_dec f + b_dec                      (b_pre is tied to b_dec, as in Bricken et al. and Gao et al.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import einops
import torch
from jaxtyping import Float
from torch import Tensor, nn

SAEKind = Literal["l1", "topk", "gated", "jumprelu", "batchtopk", "matryoshka"]
PerInstance = Literal["l1_coeff", "k", "l0_coeff"]


@dataclass(frozen=True, kw_only=True)
class SAEConfig:
    """The shape and sparsity mechanism of a (batch of) sparse autoencoder(s)."""

    d_in: int
    """Size of the activations the SAE reads (the `hidden` dimension)."""
    d_sae: int
    """Number of latents (dictionary size)."""
    n_inst: int = 1
    """Independent SAEs trained side by side."""
    kind: SAEKind = "l1"
    l1_coeff: float | tuple[float, ...] = 0.1
    """lambda of the L1 penalty, one value or one per instance (Bricken et al. 2023 sweep it)."""
    k: float | tuple[float, ...] = 32
    """Active latents per input of the TopK SAE, one value or one per instance (Gao et al. 2024); for the
    BatchTopK and Matryoshka SAEs the mean over the batch, which need not be whole (Bussmann et al. 2024)."""
    l0_coeff: float | tuple[float, ...] = 1.0
    """lambda of the JumpReLU SAE's L0 penalty, one value or one per instance (Rajamanoharan et al. 2024b, sec. 3)."""
    jumprelu_bandwidth: float = 0.001
    """epsilon, the width of the rectangle kernel in the JumpReLU pseudo-derivatives (Rajamanoharan et al.
    2024b, sec. 4; 0.001 on their normalised activations at batch 4096)."""
    jumprelu_init_threshold: float = 0.001
    """Starting threshold of every JumpReLU latent (Rajamanoharan et al. 2024b use 0.001)."""
    threshold_lr: float = 0.01
    """BatchTopK: the inference threshold is a running average of the smallest kept activation, updated
    with this weight each step (Bussmann et al. 2024, sec. 3; the rate SAELens uses)."""
    matryoshka_widths: tuple[int, ...] = ()
    """Matryoshka SAE: the nested prefix sizes m_1 < ... < d_sae whose latents must each reconstruct x
    (Bussmann et al. 2025, sec. 3); d_sae is added when missing."""
    aux_k: int | None = None
    """Dead latents used by AuxK; None = d_in // 2 (EleutherAI sparsify; Gao et al. A.2 use 512)."""
    aux_coeff: float = 1 / 32
    """alpha of the AuxK loss (Gao et al. 2024, A.2)."""
    b_enc_init: float = 0.0
    """Starting encoder bias (0 in both papers). Negative makes the latents start selective: an L1 SAE
    then begins sparse instead of with half its latents on (notebook 05, section 7)."""
    encoder_init: Literal["decoder", "random"] = "decoder"
    """'decoder': W_enc starts as the decoder's transpose (Gao et al. 2024, sec. 2.3; Conerly et al. 2024)."""
    sparse_kernel: bool | None = None
    """`train` computes everything but the encoder's product on the active latents only, as a sparse
    matrix (exact: the same gradients). None = when that is faster (see course_utils.sae.step)."""

    def __post_init__(self) -> None:
        if self.d_in < 1 or self.d_sae < 1 or self.n_inst < 1:
            raise ValueError(f"d_in, d_sae and n_inst must be positive, got {self.d_in}, {self.d_sae}, {self.n_inst}")
        if self.kind not in get_args(SAEKind):
            raise ValueError(f"kind must be one of {get_args(SAEKind)}, got {self.kind!r}")
        for name in get_args(PerInstance):
            value = getattr(self, name)
            if isinstance(value, tuple) and len(value) != self.n_inst:
                raise ValueError(f"{name} has {len(value)} values but n_inst={self.n_inst}; give one per instance")
        ks = self.k if isinstance(self.k, tuple) else (self.k,)
        if self.kind == "topk" and any(k < 1 or k > self.d_sae or k != int(k) for k in ks):
            raise ValueError(f"k must lie in 1..d_sae={self.d_sae} and be whole, got {self.k}")
        if self.kind in ("batchtopk", "matryoshka") and any(not 0 < k <= self.d_sae for k in ks):
            raise ValueError(f"k (mean active latents per input) must lie in (0, d_sae={self.d_sae}], got {self.k}")
        if self.kind == "jumprelu" and not (self.jumprelu_bandwidth > 0 and self.jumprelu_init_threshold > 0):
            raise ValueError("jumprelu_bandwidth and jumprelu_init_threshold must be positive, got "
                             f"{self.jumprelu_bandwidth} and {self.jumprelu_init_threshold}")
        widths = self.matryoshka_widths
        if self.kind == "matryoshka" and (not widths or list(widths) != sorted(set(widths)) or widths[0] < 1
                                          or widths[-1] > self.d_sae):
            raise ValueError(f"matryoshka_widths must rise strictly within 1..d_sae={self.d_sae}, got {widths}")

    def per_instance(self, name: PerInstance) -> Tensor:
        """`l1_coeff`, `k` or `l0_coeff` as a tensor with one entry per instance (k: long for the TopK SAE)."""
        value = getattr(self, name)
        values = value if isinstance(value, tuple) else (value,) * self.n_inst
        whole = name == "k" and self.kind == "topk"
        return torch.tensor([int(v) for v in values] if whole else values, dtype=torch.long if whole else torch.float32)


@dataclass(frozen=True)
class SAEOutput:
    """What a forward pass returns."""

    x_hat: Float[Tensor, "batch inst hidden"]
    acts: Float[Tensor, "batch inst d_sae"]
    pre_acts: Float[Tensor, "batch inst d_sae"]


def _as_instances(x: Tensor, n_inst: int, d_in: int) -> Float[Tensor, "batch inst hidden"]:
    if x.ndim == 2 and x.shape[-1] == d_in:
        return x[:, None, :].expand(-1, n_inst, -1)
    if x.ndim == 3 and x.shape[1:] == (n_inst, d_in):
        return x
    raise ValueError(
        f"SAE input has shape {tuple(x.shape)}; expected [batch, {d_in}] or [batch, {n_inst}, {d_in}]"
    )


class SAE(nn.Module):
    """Shared parameters, decoder and constraints of both SAE kinds; subclasses define the activation."""

    def __init__(self, cfg: SAEConfig, *, generator: torch.Generator | None = None):
        super().__init__()
        self.cfg = cfg
        shape = (cfg.n_inst, cfg.d_sae, cfg.d_in)
        W_dec = torch.randn(shape, generator=generator)
        W_dec /= W_dec.norm(dim=-1, keepdim=True)
        if cfg.encoder_init == "decoder":
            W_enc = W_dec.clone()
        else:
            W_enc = torch.empty(shape).uniform_(-1, 1, generator=generator) / math.sqrt(cfg.d_in)
        self.W_enc = nn.Parameter(W_enc)
        self.b_enc = nn.Parameter(torch.full((cfg.n_inst, cfg.d_sae), float(cfg.b_enc_init)))
        self.W_dec = nn.Parameter(W_dec)
        self.b_dec = nn.Parameter(torch.zeros(cfg.n_inst, cfg.d_in))

    def pre_acts(self, x: Tensor) -> Float[Tensor, "batch inst d_sae"]:
        """W_enc (x - b_dec) + b_enc: the pre-encoder bias b_pre is tied to b_dec."""
        x = _as_instances(x, self.cfg.n_inst, self.cfg.d_in)
        return einops.einsum(x - self.b_dec, self.W_enc, "batch inst hidden, inst d_sae hidden -> batch inst d_sae") + self.b_enc

    def activation(self, pre_acts: Float[Tensor, "batch inst d_sae"]) -> Float[Tensor, "batch inst d_sae"]:
        raise NotImplementedError

    def encode(self, x: Tensor) -> Float[Tensor, "batch inst d_sae"]:
        """The latent activations f."""
        return self.activation(self.pre_acts(x))

    def decode(self, acts: Float[Tensor, "batch inst d_sae"]) -> Float[Tensor, "batch inst hidden"]:
        """W_dec f + b_dec."""
        return einops.einsum(acts, self.W_dec, "batch inst d_sae, inst d_sae hidden -> batch inst hidden") + self.b_dec

    def forward(self, x: Tensor) -> SAEOutput:
        """Encode and decode (dense; `train` uses the faster hand-written step of course_utils.sae.step)."""
        pre = self.pre_acts(x)
        acts = self.activation(pre)
        return SAEOutput(x_hat=self.decode(acts), acts=acts, pre_acts=pre)

    def losses(self, x: Tensor, out: SAEOutput, **kwargs) -> dict[str, Float[Tensor, " inst"]]:
        raise NotImplementedError

    def training_forward(self, x: Tensor) -> SAEOutput:
        """The forward pass a training step differentiates (BatchTopK: batch-level, unlike inference)."""
        return self.forward(x)

    def resample_defaults(self) -> dict[str, float]:
        """Parameters besides W_enc, b_enc and W_dec that resampling resets for a revived latent: name -> value."""
        return {}


def mse_loss(x: Tensor, x_hat: Float[Tensor, "batch inst hidden"]) -> Float[Tensor, " inst"]:
    """||x - x_hat||^2 summed over hidden, averaged over the batch, per instance."""
    x = _as_instances(x, x_hat.shape[1], x_hat.shape[2])
    return (x_hat - x).pow(2).sum(-1).mean(0)


@torch.no_grad()
def normalize_decoder_(sae: SAE) -> None:
    """Rescale every decoder direction to unit norm."""
    sae.W_dec /= sae.W_dec.norm(dim=-1, keepdim=True).clamp_min(1e-8)


@torch.no_grad()
def project_decoder_grad_(sae: SAE) -> None:
    """Remove from W_dec's gradient the component parallel to each (unit) decoder direction."""
    if sae.W_dec.grad is None:
        return
    W = sae.W_dec
    parallel = (sae.W_dec.grad * W).sum(-1, keepdim=True)
    sae.W_dec.grad -= parallel * W


def geometric_median(x: Float[Tensor, "batch hidden"], *, iters: int = 50, eps: float = 1e-6) -> Float[Tensor, " hidden"]:
    """The geometric median of the rows of x (Weiszfeld's algorithm)."""
    median = x.mean(0)
    for _ in range(iters):
        weights = 1.0 / (x - median).norm(dim=-1).clamp_min(eps)
        median = (weights[:, None] * x).sum(0) / weights.sum()
    return median


@torch.no_grad()
def init_b_dec_(sae: SAE, x: Tensor) -> None:
    """Set b_dec (= b_pre) to the geometric median of a sample of inputs (Bricken et al.; Gao et al. 2.3)."""
    x = _as_instances(x, sae.cfg.n_inst, sae.cfg.d_in)
    for i in range(sae.cfg.n_inst):
        sae.b_dec[i] = geometric_median(x[:, i])
