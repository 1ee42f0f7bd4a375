"""Training SAEs: Adam with warm-up and linear decay, the unit-norm decoder, dead-latent resampling
(Bricken et al. 2023) and a log of MSE, L0, FVU, dead fraction and MMCS.

`train` computes each step's gradients by hand on the active latents only (`course_utils.sae.step`),
with the values autograd gives through `SAE.losses`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

import torch
from jaxtyping import Bool, Float
from torch import Tensor
from tqdm.auto import tqdm

from course_utils.metrics.dictionary import mmcs as mmcs_fn
from course_utils.sae.adam import FusedAdam
from course_utils.sae.autograd_step import autograd_step_grads_
from course_utils.sae.base import SAE, _as_instances, normalize_decoder_, project_decoder_grad_
from course_utils.sae.relu import L1SAE
from course_utils.sae.step import sae_step_grads_
from course_utils.sae.topk import TopKSAE


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """How to train an SAE with Adam."""

    steps: int = 2_000
    lr: float = 1e-3
    """Adam learning rate (Bricken et al. 2023 use 1e-4 on real activations; toy data takes far more)."""
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 0
    decay_start: float = 0.8
    """Fraction of the steps after which the lr decays linearly to 0 (Conerly et al. 2024: the last 20%)."""
    l1_warmup_steps: int = 0
    """lambda ramps up linearly over these steps (Conerly et al. 2024 use the first 5%)."""
    dead_after: int = 50_000
    """A latent is dead when it has not fired for this many inputs (Gao et al. use 10M tokens)."""
    resample_every: int | None = None
    """Resample the dead latents (see dead_after) every so many steps (Bricken et al. 2023; any SAE kind)."""
    resample_until: float = 0.5
    """Stop resampling after this fraction of the steps (Bricken et al. resample 4 times in the first half)."""
    resample_scale: float = 0.2
    """Resampled encoder rows get this times the mean norm of the alive rows (Bricken et al. 2023)."""
    resample_bias: Literal["zero", "alive_mean"] = "zero"
    """Resampled encoder biases: 0 (Bricken et al.), or resample_scale x the mean bias of the alive latents,
    which keeps a revived L1 latent as selective as the others (notebook 07, section 7)."""
    resample_source: Literal["input", "residual"] = "input"
    """New decoder directions: the sampled input (Bricken et al.) or its residual x - x_hat, which points
    at what the dictionary is missing (much faster on synthetic data, see notebook 07)."""
    resample_distinct: bool = False
    """Draw a distinct input for every dead latent (sampling without replacement), not independent draws that
    may repeat one input (Bricken et al.): more of the badly reconstructed inputs get a latent each."""
    log_every: int = 50
    snapshot_every: int | None = None
    """Keep a copy of W_dec every so many steps (for plots of the directions during training)."""
    seed: int = 0
    """Seeds the generator used by resampling."""


@dataclass(kw_only=True)
class TrainLog:
    """Per-log-step measurements (detached CPU tensors of shape [n_logs] or [n_logs, inst])."""

    step: Tensor
    seconds: Tensor
    loss: Tensor
    mse: Tensor
    l0: Tensor
    fvu: Tensor
    dead_frac: Tensor
    mmcs: Tensor
    density: Tensor
    """[inst, d_sae]: fraction of inputs each latent fired on, over the last log window."""
    resampled: list[tuple[int, list[int]]] = field(default_factory=list)
    """(step, number of latents resampled per instance) for every resampling."""
    snapshots: Tensor | None = None
    """[n_snapshots, inst, d_sae, hidden] decoder directions, when cfg.snapshot_every is set."""
    snapshot_steps: Tensor | None = None

    def last(self, name: str) -> Tensor:
        """The final logged value of a metric, one number per instance."""
        return getattr(self, name)[-1]


def _lr_factor(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    start = int(cfg.decay_start * cfg.steps)
    if step >= start and cfg.steps > start:
        return max(1.0 - (step - start) / (cfg.steps - start), 0.0)
    return 1.0


def train(
    sae: SAE,
    cfg: TrainConfig,
    batches: Iterable[Tensor],
    *,
    true_features: Tensor | None = None,
    callback: Callable[[int, SAE, TrainLog], bool] | None = None,
    progress: bool = True,
) -> TrainLog:
    """Train with Adam on `batches` (x of [batch hidden] or [batch inst hidden]) for cfg.steps steps.

    true_features ([feats hidden] or [inst feats hidden]) adds MMCS to the log. callback(step, sae, log)
    runs at every log step; returning True stops training.
    """
    # L1 and TopK have the hand-written step on the active latents; the other kinds go through autograd.
    step_grads_ = sae_step_grads_ if type(sae) in (L1SAE, TopKSAE) else autograd_step_grads_
    opt = FusedAdam(sae.parameters(), lr=cfg.lr, betas=cfg.betas)
    gen = torch.Generator(device=sae.W_dec.device).manual_seed(cfg.seed)
    n_inst, d_sae = sae.cfg.n_inst, sae.cfg.d_sae
    since_fired = torch.zeros(n_inst, d_sae, dtype=torch.long, device=sae.W_dec.device)
    fires = torch.zeros(n_inst, d_sae, device=sae.W_dec.device)
    window = 0
    rows: dict[str, list] = {k: [] for k in ("step", "seconds", "loss", "mse", "l0", "fvu", "dead_frac", "mmcs")}
    log = TrainLog(**{k: torch.empty(0) for k in rows}, density=torch.zeros(n_inst, d_sae))
    snaps, snap_steps = [], []
    start = time.perf_counter()
    bar = tqdm(total=cfg.steps, disable=not progress, desc=f"{sae.cfg.kind} SAE")
    step, iterator = 0, iter(batches)
    for step in range(cfg.steps):
        try:
            x = next(iterator)
        except StopIteration:
            break
        dead = since_fired >= cfg.dead_after
        l1_scale = min(1.0, (step + 1) / cfg.l1_warmup_steps) if cfg.l1_warmup_steps else 1.0
        result = step_grads_(sae, x, dead=dead, l1_scale=l1_scale)  # sets .grad; autograd's values
        losses, x_hat = result.losses, result.x_hat
        project_decoder_grad_(sae)
        opt.lr = cfg.lr * _lr_factor(step, cfg)  # as torch's LambdaLR sets it
        opt.step()
        normalize_decoder_(sae)
        with torch.no_grad():
            since_fired = torch.where(result.fires > 0, 0, since_fired + x.shape[0])
            fires += result.fires
            window += x.shape[0]
            if cfg.resample_every and (step + 1) % cfg.resample_every == 0 and step < cfg.resample_until * cfg.steps:
                dead = since_fired >= cfg.dead_after
                counts = resample_dead_(sae, opt, x, x_hat, dead, scale=cfg.resample_scale, generator=gen,
                                        bias=cfg.resample_bias, source=cfg.resample_source,
                                        distinct=cfg.resample_distinct)
                log.resampled.append((step + 1, counts))
                since_fired[dead] = 0
            if cfg.snapshot_every and step % cfg.snapshot_every == 0:
                snaps.append(sae.W_dec.detach().cpu().clone())
                snap_steps.append(step)
            if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
                xi = _as_instances(x, n_inst, sae.cfg.d_in)
                rows["step"].append(step + 1)
                rows["seconds"].append(time.perf_counter() - start)
                rows["loss"].append(losses["loss"].detach().cpu())
                rows["mse"].append(losses["mse"].detach().cpu())
                rows["l0"].append((result.fires.sum(-1) / x.shape[0]).cpu())
                total = (xi - xi.mean(0)).pow(2).sum((0, 2)).clamp_min(1e-12)
                rows["fvu"].append(((xi - x_hat).pow(2).sum((0, 2)) / total).cpu())
                rows["dead_frac"].append((since_fired >= cfg.dead_after).float().mean(-1).cpu())
                mm = mmcs_fn(sae.W_dec, true_features) if true_features is not None else torch.full((n_inst,), float("nan"))
                rows["mmcs"].append(mm.cpu())
                log.density = (fires / max(window, 1)).cpu()
                fires.zero_()
                window = 0
                for name, values in rows.items():
                    setattr(log, name, torch.stack([torch.as_tensor(v) for v in values]))
                bar.set_postfix(mse=f"{float(losses['mse'].mean()):.4f}", l0=f"{float(rows['l0'][-1].mean()):.1f}")
                if callback is not None and callback(step + 1, sae, log):
                    bar.update(1)
                    break
        bar.update(1)
    bar.close()
    if snaps:
        log.snapshots, log.snapshot_steps = torch.stack(snaps), torch.tensor(snap_steps)
    return log


@torch.no_grad()
def resample_dead_(
    sae: SAE,
    opt: FusedAdam | torch.optim.Optimizer | None,
    x: Tensor,
    x_hat: Float[Tensor, "batch inst hidden"],
    dead: Bool[Tensor, "inst d_sae"],
    *,
    scale: float = 0.2,
    generator: torch.Generator | None = None,
    source: Literal["input", "residual"] = "input",
    bias: Literal["zero", "alive_mean"] = "zero",
    distinct: bool = False,
) -> list[int]:
    """Bricken et al. (2023) resampling of the dead latents; returns how many were resampled per instance.

    Each dead latent gets an input drawn with probability proportional to its squared loss: the decoder
    direction becomes the normalised input (or, with source="residual", its normalised x - x_hat), the
    encoder row the same times `scale` x the mean alive encoder norm, the encoder bias 0 (or, with
    bias="alive_mean", `scale` x the mean alive bias), and Adam's moments for those entries are reset.
    distinct=True draws a different input for each dead latent (while there are enough inputs with a loss).
    """
    if source not in ("input", "residual"):
        raise ValueError(f"source must be 'input' or 'residual', got {source!r}")
    if bias not in ("zero", "alive_mean"):
        raise ValueError(f"bias must be 'zero' or 'alive_mean', got {bias!r}")
    xi = _as_instances(x, sae.cfg.n_inst, sae.cfg.d_in)
    counts = []
    for i in range(sae.cfg.n_inst):
        rows = dead[i].nonzero().squeeze(-1)
        counts.append(int(rows.numel()))
        if rows.numel() == 0:
            continue
        sq_loss = (xi[:, i] - x_hat[:, i]).pow(2).sum(-1).pow(2)
        if float(sq_loss.sum()) <= 0:
            continue
        distinct_ok = distinct and rows.numel() <= int((sq_loss > 0).sum())
        picks = torch.multinomial(sq_loss, rows.numel(), replacement=not distinct_ok, generator=generator)
        chosen = xi[picks, i] - x_hat[picks, i] if source == "residual" else xi[picks, i]
        directions = chosen / chosen.norm(dim=-1, keepdim=True).clamp_min(1e-8)
        alive = ~dead[i]
        enc_norm = sae.W_enc[i, alive].norm(dim=-1).mean() if alive.any() else torch.tensor(1.0)
        new_bias = scale * sae.b_enc[i, alive].mean() if bias == "alive_mean" and alive.any() else 0.0
        sae.W_dec[i, rows] = directions
        sae.W_enc[i, rows] = directions * scale * enc_norm
        sae.b_enc[i, rows] = new_bias
        extra = sae.resample_defaults()  # e.g. the Gated SAE's magnitude path, the JumpReLU threshold
        for name, value in extra.items():
            getattr(sae, name)[i, rows] = value
        if opt is not None:
            for param in (sae.W_dec, sae.W_enc, sae.b_enc, *(getattr(sae, name) for name in extra)):
                state = opt.state.get(param, {})
                for key in ("exp_avg", "exp_avg_sq"):
                    if key in state:
                        state[key][i, rows] = 0.0
    return counts
