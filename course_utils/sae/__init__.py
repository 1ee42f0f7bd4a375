"""Sparse autoencoders, one file per architecture (as SAELens lays them out), and their training.

    base.py      SAEConfig, the shared parameters (instance dimension), tied b_pre, unit-norm decoder, MSE
    relu.py      L1SAE: ReLU + L1, the standard SAE (Bricken et al. 2023)
    topk.py      TopKSAE: TopK + AuxK (Gao et al. 2024)
    gated.py     GatedSAE: gate and magnitude paths, L1 on the gate, frozen-decoder aux (Rajamanoharan et al. 2024a)
    jumprelu.py  JumpReLUSAE: learned thresholds by straight-through estimators, L0 penalty (Rajamanoharan et al. 2024b)
    batchtopk.py BatchTopKSAE: top k*batch over the batch, a global threshold at inference (Bussmann et al. 2024)
    matryoshka.py MatryoshkaSAE: nested prefixes that each reconstruct x (Bussmann et al. 2025; Nabeshima 2024)
    saelens.py   export_saelens: a trained SAE in SAELens's on-disk format
    kinds.py     make_sae: the architecture that `SAEConfig.kind` names
    training.py  train(sae, cfg, batches) -> TrainLog; resample_dead_ (Bricken et al. 2023)
    step.py      the hand-written training step on the active latents only (L1, TopK)
    autograd_step.py  the step of every other kind, by autograd

Stable API (notebooks 07 and 09 use it)::

    cfg = SAEConfig(d_in=256, d_sae=1024, kind="l1", l1_coeff=0.1)      # or kind="topk", k=5
    sae = make_sae(cfg, generator=torch.Generator().manual_seed(0))       # L1SAE or TopKSAE
    init_b_dec_(sae, sample)                                              # optional: b_dec = geometric median
    out = sae(x)            # x: [batch hidden] (shared by every instance) or [batch inst hidden]
    out.x_hat, out.acts     # [batch inst hidden], [batch inst d_sae]
    losses = sae.losses(x, out)                                           # dict of [inst] tensors; "loss" is optimised
    log = train(sae, TrainConfig(steps=2000, lr=3e-3), batches)           # batches: any iterator of x
    log.mse, log.l0, log.fvu, log.dead_frac, log.mmcs                      # [n_logs, inst] CPU tensors
    train(..., true_features=W_true, callback=lambda step, sae, log: stop)  # MMCS in the log; early stop
    TrainConfig(resample_every=..., resample_source="input" | "residual")  # resampling (resample_dead_)
    SAEConfig(..., b_enc_init=-0.15), TrainConfig(..., resample_bias="alive_mean")  # selective L1 latents

Every parameter has a leading instance dimension `inst` (independent SAEs trained at once, e.g. an L1
sweep whose `l1_coeff` is a tuple with one value per instance).

    loss  = ||x - x_hat||^2 + l1_coeff ||f||_1   (L1)  or  ||x - x_hat||^2 + aux_coeff * AuxK  (TopK)

Squared errors are summed over `hidden` and averaged over the batch. Decoder directions have unit norm:
`train` removes the gradient component parallel to each direction before the step and renormalises after.
"""

from course_utils.sae.base import (
    SAE,
    SAEConfig,
    SAEKind,
    SAEOutput,
    geometric_median,
    init_b_dec_,
    mse_loss,
    normalize_decoder_,
    project_decoder_grad_,
)
from course_utils.sae.batchtopk import BatchTopKSAE, batchtopk_activation
from course_utils.sae.gated import GatedSAE, gated_activation
from course_utils.sae.jumprelu import JumpReLUFunction, JumpReLUSAE, StepFunction, rectangle
from course_utils.sae.kinds import SAE_CLASSES, make_sae
from course_utils.sae.matryoshka import MatryoshkaSAE, matryoshka_loss
from course_utils.sae.relu import L1SAE
from course_utils.sae.saelens import export_saelens, saelens_state
from course_utils.sae.topk import TopKSAE, topk_activation
from course_utils.sae.training import TrainConfig, TrainLog, resample_dead_, train

__all__ = [
    "BatchTopKSAE",
    "GatedSAE",
    "JumpReLUFunction",
    "JumpReLUSAE",
    "L1SAE",
    "MatryoshkaSAE",
    "StepFunction",
    "batchtopk_activation",
    "export_saelens",
    "gated_activation",
    "matryoshka_loss",
    "rectangle",
    "SAE",
    "SAE_CLASSES",
    "SAEConfig",
    "SAEKind",
    "SAEOutput",
    "TopKSAE",
    "TrainConfig",
    "TrainLog",
    "geometric_median",
    "init_b_dec_",
    "make_sae",
    "mse_loss",
    "normalize_decoder_",
    "project_decoder_grad_",
    "resample_dead_",
    "saelens_state",
    "topk_activation",
    "train",
]
