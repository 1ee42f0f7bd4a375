"""Exercises of notebook 07 (sparse autoencoders): references and verifiers."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float
from torch import Tensor

from course_utils.data.synthetic import SyntheticConfig
from course_utils.exercises import (
    Case,
    CheckFailure,
    compare_values,
    make_exercise,
    replayed,
    verifier,
)
from course_utils.sae import SAEConfig, SAEKind, TrainConfig

NOTEBOOK = "07_sparse_autoencoders"

SYNTHETIC = SyntheticConfig(n_feats=64, d_hidden=32, mean_active=3)
"""The notebook's synthetic set: Sharkey et al.'s generator, scaled down to train in a second or two."""


def synthetic_recipe(kind: SAEKind) -> tuple[SyntheticConfig, SAEConfig, TrainConfig, int]:
    """The notebook's settings for each SAE kind on SYNTHETIC: (data, SAE, training, batch size)."""
    if kind == "l1":
        sae = SAEConfig(d_in=SYNTHETIC.d_hidden, d_sae=128, kind="l1", l1_coeff=0.3)
        train = TrainConfig(steps=400, lr=2e-2, log_every=25)
    else:
        sae = SAEConfig(d_in=SYNTHETIC.d_hidden, d_sae=128, kind="topk", k=4)
        train = TrainConfig(steps=400, lr=1e-2, log_every=25)
    return SYNTHETIC, sae, train, 256


def _g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------ why L1 gives zeros


def soft_threshold(z: Float[Tensor, ...], threshold: float) -> Float[Tensor, ...]:
    """argmin_f 1/2 (f - z)^2 + threshold * |f|, elementwise: shrink towards 0 and stop at exactly 0."""
    return torch.sign(z) * torch.clamp(z.abs() - threshold, min=0.0)


def _soft_threshold_cases() -> list[Case]:
    z = torch.randn(6, 5, generator=_g(0)) * 2
    return [
        Case((torch.tensor([3.0, -3.0, 0.5, -0.5, 0.0]), 1.0), description="z=[3, -3, 0.5, -0.5, 0], threshold=1"),
        Case((z, 0.7)),
        Case((z, 0.0), description="threshold 0 leaves z unchanged"),
    ]


make_exercise(
    name="soft_threshold",
    notebook=NOTEBOOK,
    reference=soft_threshold,
    verify=verifier(soft_threshold, _soft_threshold_cases),
    summary="the proximal step of the L1 penalty",
)


# ------------------------------------------------------------------ the SAE forward pass and loss


def sae_forward(
    x: Float[Tensor, "batch inst hidden"],
    W_enc: Float[Tensor, "inst d_sae hidden"],
    b_enc: Float[Tensor, "inst d_sae"],
    W_dec: Float[Tensor, "inst d_sae hidden"],
    b_dec: Float[Tensor, "inst hidden"],
) -> tuple[Float[Tensor, "batch inst d_sae"], Float[Tensor, "batch inst hidden"]]:
    """f = ReLU(W_enc (x - b_dec) + b_enc) and x_hat = W_dec f + b_dec; returns (f, x_hat)."""
    acts = torch.relu(torch.einsum("bih,idh->bid", x - b_dec, W_enc) + b_enc)
    x_hat = torch.einsum("bid,idh->bih", acts, W_dec) + b_dec
    return acts, x_hat


def _sae_params(batch: int, inst: int, d_sae: int, hidden: int, seed: int) -> tuple:
    g = _g(seed)
    return (
        torch.randn(batch, inst, hidden, generator=g),
        torch.randn(inst, d_sae, hidden, generator=g) / hidden**0.5,
        torch.randn(inst, d_sae, generator=g) * 0.3,
        F.normalize(torch.randn(inst, d_sae, hidden, generator=g), dim=-1),
        torch.randn(inst, hidden, generator=g),
    )


def _sae_forward_cases() -> list[Case]:
    return [
        Case(_sae_params(8, 1, 6, 4, 0), description="batch 8, one instance, d_sae 6, hidden 4, non-zero biases"),
        Case(_sae_params(5, 3, 10, 7, 1), description="batch 5, 3 instances, d_sae 10, hidden 7, non-zero biases"),
    ]


make_exercise(
    name="sae_forward",
    notebook=NOTEBOOK,
    reference=sae_forward,
    verify=verifier(sae_forward, _sae_forward_cases),
    summary="encoder with pre-encoder bias and ReLU, linear decoder",
)


def sae_loss(
    x: Float[Tensor, "batch inst hidden"],
    acts: Float[Tensor, "batch inst d_sae"],
    x_hat: Float[Tensor, "batch inst hidden"],
    l1_coeff: Float[Tensor, " inst"],
) -> Float[Tensor, " inst"]:
    """Per instance: ||x - x_hat||^2 (summed over hidden) + l1_coeff * ||f||_1, averaged over the batch."""
    mse = (x - x_hat).pow(2).sum(-1).mean(0)
    l1 = acts.abs().sum(-1).mean(0)
    return mse + l1_coeff * l1


def _sae_loss_cases() -> list[Case]:
    g = _g(2)
    cases = []
    for batch, inst, d_sae, hidden in ((6, 1, 8, 4), (5, 3, 12, 6)):
        x = torch.randn(batch, inst, hidden, generator=g)
        acts = torch.relu(torch.randn(batch, inst, d_sae, generator=g))
        x_hat = x + 0.3 * torch.randn(batch, inst, hidden, generator=g)
        cases.append(Case((x, acts, x_hat, torch.rand(inst, generator=g) + 0.1),
                          description=f"batch {batch}, {inst} instance(s), d_sae {d_sae}, hidden {hidden}"))
    return cases


make_exercise(
    name="sae_loss",
    notebook=NOTEBOOK,
    reference=sae_loss,
    verify=verifier(sae_loss, _sae_loss_cases),
    summary="MSE plus lambda times the L1 norm of the latent activations",
)


# ------------------------------------------------------------------ unit-norm decoder


def constrained_decoder_step(
    W_dec: Float[Tensor, "inst d_sae hidden"], grad: Float[Tensor, "inst d_sae hidden"], lr: float
) -> Float[Tensor, "inst d_sae hidden"]:
    """One SGD step on unit-norm decoder directions: drop the gradient's part along each direction, step, renormalise."""
    parallel = (grad * W_dec).sum(-1, keepdim=True) * W_dec
    W_new = W_dec - lr * (grad - parallel)
    return W_new / W_new.norm(dim=-1, keepdim=True)


def _decoder_step_cases() -> list[Case]:
    g = _g(3)
    W = F.normalize(torch.randn(2, 6, 5, generator=g), dim=-1)
    grad = torch.randn(2, 6, 5, generator=g) + 2 * W  # a strong parallel part
    return [
        Case((torch.tensor([[[1.0, 0.0], [0.6, 0.8]]]), torch.tensor([[[3.0, 4.0], [1.0, 0.0]]]), 0.5),
             description="W_dec=[[1, 0], [0.6, 0.8]], grad=[[3, 4], [1, 0]], lr=0.5"),
        Case((W, grad, 0.3), description="2 instances, 6 latents, hidden 5, a gradient with a large parallel part"),
    ]


make_exercise(
    name="constrained_decoder_step",
    notebook=NOTEBOOK,
    reference=constrained_decoder_step,
    verify=verifier(constrained_decoder_step, _decoder_step_cases),
    summary="gradient projection and renormalisation of the decoder",
)


# ------------------------------------------------------------------ resampling


def resample_dead(
    W_enc: Float[Tensor, "d_sae hidden"],
    b_enc: Float[Tensor, " d_sae"],
    W_dec: Float[Tensor, "d_sae hidden"],
    dead: Bool[Tensor, " d_sae"],
    x: Float[Tensor, "batch hidden"],
    x_hat: Float[Tensor, "batch hidden"],
    *,
    generator: torch.Generator,
    scale: float = 0.2,
) -> tuple[Tensor, Tensor, Tensor]:
    """Bricken et al.'s resampling: each dead latent gets an input drawn with probability proportional to the
    square of its loss ||x - x_hat||^2; returns new copies (W_enc, b_enc, W_dec), alive latents unchanged."""
    W_enc, b_enc, W_dec = W_enc.clone(), b_enc.clone(), W_dec.clone()
    loss = (x - x_hat).pow(2).sum(-1)
    picks = torch.multinomial(loss.pow(2), int(dead.sum()), replacement=True, generator=generator)
    unit = x[picks] / x[picks].norm(dim=-1, keepdim=True)
    alive_norm = W_enc[~dead].norm(dim=-1).mean()
    W_dec[dead] = unit
    W_enc[dead] = unit * scale * alive_norm
    b_enc[dead] = 0.0
    return W_enc, b_enc, W_dec


def _resample_setting(n_dead: int, seed: int) -> tuple[Tensor, ...]:
    """4 inputs along the 4 axes (times 2), with squared errors 0, 1, 2, 3: weights 0, 1, 4, 9 (of 14)."""
    g = _g(seed)
    hidden, d_alive = 4, 6
    W_enc = torch.randn(d_alive + n_dead, hidden, generator=g) * 2
    W_dec = F.normalize(torch.randn(d_alive + n_dead, hidden, generator=g), dim=-1)
    b_enc = torch.randn(d_alive + n_dead, generator=g)
    dead = torch.zeros(d_alive + n_dead, dtype=torch.bool)
    dead[torch.randperm(d_alive + n_dead, generator=g)[:n_dead]] = True
    x = 2 * torch.eye(hidden)
    errors = torch.tensor([0.0, 1.0, 2.0, 3.0]).sqrt()
    x_hat = x - errors[:, None] * F.normalize(torch.randn(hidden, hidden, generator=g), dim=-1)
    return W_enc, b_enc, W_dec, dead, x, x_hat


def _verify_resample_dead(candidate) -> int:
    """Deterministic parts compared exactly; the draw checked by its frequencies (loss^2, not loss, nor argmax)."""
    W_enc, b_enc, W_dec, dead, x, x_hat = _resample_setting(n_dead=3000, seed=4)
    where = "6 alive and 3000 dead latents; 4 inputs with squared errors 0, 1, 2, 3"
    try:
        got = candidate(W_enc.clone(), b_enc.clone(), W_dec.clone(), dead.clone(), x.clone(), x_hat.clone(),
                        generator=_g(40), scale=0.2)
    except (NotImplementedError, CheckFailure):
        raise
    except Exception as error:
        raise CheckFailure(f"raised {type(error).__name__}: {error}", inputs=where) from error
    if not (isinstance(got, tuple) and len(got) == 3):
        raise CheckFailure("return a tuple (W_enc, b_enc, W_dec)", inputs=where)
    new_enc, new_b, new_dec = got
    compare_values(new_enc[~dead], W_enc[~dead], atol=0, rtol=0, where="alive encoder rows (must not change)")
    compare_values(new_dec[~dead], W_dec[~dead], atol=0, rtol=0, where="alive decoder rows (must not change)")
    compare_values(new_b[dead], torch.zeros(int(dead.sum())), atol=1e-6, rtol=0, where="dead encoder biases")
    picked = (new_dec[dead] @ F.normalize(x, dim=-1).T).argmax(-1)
    compare_values(new_dec[dead], F.normalize(x, dim=-1)[picked], atol=1e-5, rtol=1e-4,
                   where="dead decoder rows (each the unit vector of its sampled input)")
    alive_norm = W_enc[~dead].norm(dim=-1).mean()
    compare_values(new_enc[dead], new_dec[dead] * 0.2 * alive_norm, atol=1e-5, rtol=1e-4,
                   where="dead encoder rows (decoder row x scale x mean alive encoder norm, taken before the change)")
    share = torch.bincount(picked, minlength=4).float() / len(picked)
    wanted = torch.tensor([0.0, 1.0, 4.0, 9.0]) / 14
    if (share - wanted).abs().max() > 0.04:
        raise CheckFailure(
            f"inputs were drawn with frequencies {[round(v, 3) for v in share.tolist()]} over 3000 dead latents; "
            f"probability proportional to the squared loss gives {[round(v, 3) for v in wanted.tolist()]}",
            inputs=where,
        )
    again = candidate(W_enc.clone(), b_enc.clone(), W_dec.clone(), dead.clone(), x.clone(), x_hat.clone(),
                      generator=_g(40), scale=0.2)
    if not torch.equal(again[2], new_dec):
        raise CheckFailure("two calls with the same generator seed drew different inputs: draw with generator=generator",
                           inputs=where)
    return 3


make_exercise(
    name="resample_dead",
    notebook=NOTEBOOK,
    reference=resample_dead,
    verify=replayed(resample_dead, _verify_resample_dead),
    summary="Bricken et al. (2023) resampling of dead latents, inputs drawn by squared loss",
)


# ------------------------------------------------------------------ MMCS and TopK


def mmcs(W_dec: Float[Tensor, "d_sae hidden"], true_features: Float[Tensor, "feats hidden"]) -> Float[Tensor, ""]:
    """Mean over true features of the largest cosine similarity with any decoder direction."""
    cos = F.normalize(true_features, dim=-1) @ F.normalize(W_dec, dim=-1).T
    return cos.max(dim=-1).values.mean()


def _mmcs_cases() -> list[Case]:
    g = _g(5)
    true = F.normalize(torch.randn(6, 4, generator=g), dim=-1)
    W = torch.cat([true[:3] * 3.0, torch.randn(7, 4, generator=g)])  # not unit norm, more latents than features
    return [
        Case((W, true), description="10 decoder directions (not unit norm), 6 true features in 4 dims"),
        Case((torch.randn(3, 8, generator=g), torch.randn(12, 8, generator=g)), description="3 latents, 12 features"),
    ]


make_exercise(
    name="mmcs",
    notebook=NOTEBOOK,
    reference=mmcs,
    verify=verifier(mmcs, _mmcs_cases),
    summary="mean max cosine similarity (Sharkey et al. 2022)",
)


def topk_activation(pre_acts: Float[Tensor, "batch d_sae"], k: int) -> Float[Tensor, "batch d_sae"]:
    """Keep the k largest pre-activations of each row (then ReLU), zero elsewhere."""
    vals, idx = pre_acts.topk(k, dim=-1)
    return torch.zeros_like(pre_acts).scatter(-1, idx, torch.relu(vals))


def _topk_cases() -> list[Case]:
    g = _g(6)
    return [
        Case((torch.tensor([[0.5, -1.0, 2.0, 0.1, 1.5]]), 2), description="one row [0.5, -1, 2, 0.1, 1.5], k=2"),
        Case((torch.tensor([[-0.5, -1.0, 2.0, -0.1]]), 3), description="row [-0.5, -1, 2, -0.1], k=3: negatives among the top 3"),
        Case((torch.randn(16, 32, generator=g), 4)),
    ]


make_exercise(
    name="topk_activation",
    notebook=NOTEBOOK,
    reference=topk_activation,
    verify=verifier(topk_activation, _topk_cases),
    summary="the TopK activation of Gao et al. (2024)",
)

__all__ = [
    "SYNTHETIC",
    "synthetic_recipe",
    "constrained_decoder_step",
    "mmcs",
    "resample_dead",
    "sae_forward",
    "sae_loss",
    "soft_threshold",
    "topk_activation",
]
