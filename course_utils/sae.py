"""Sparse autoencoders: the L1 SAE (Bricken et al. 2023) and the TopK SAE (Gao et al. 2024), and training.

Stable API (notebooks 05 and 06 use it)::

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

Layout: every parameter has a leading instance dimension `inst` (independent SAEs trained at once, e.g. an
L1 sweep whose `l1_coeff` is a tuple with one value per instance). `W_enc[i, j]` is latent j's encoder row
and `W_dec[i, j]` latent j's decoder direction (a column of the papers' W_dec), both of size `hidden`.

    f     = act(W_enc (x - b_dec) + b_enc)       act = ReLU (L1 SAE) or ReLU(TopK_k(.)) (TopK SAE)
    x_hat = W_dec f + b_dec                      (b_pre is tied to b_dec, as in both papers)
    loss  = ||x - x_hat||^2 + l1_coeff ||f||_1   (L1)  or  ||x - x_hat||^2 + aux_coeff * AuxK  (TopK)

Squared errors are summed over `hidden` and averaged over the batch. Decoder directions have unit norm:
`train` removes the gradient component parallel to each direction before the step and renormalises after.
`train` computes each step's gradients by hand on the active latents only (course_utils.sae_step), with
the values autograd gives through `losses`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

import einops
import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float
from torch import Tensor, nn
from tqdm.auto import tqdm

SAEKind = Literal["l1", "topk"]


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
    k: int | tuple[int, ...] = 32
    """Active latents per input of the TopK SAE, one value or one per instance (Gao et al. 2024)."""
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
    matrix (exact: the same gradients). None = when that is faster (see course_utils.sae_step)."""

    def __post_init__(self) -> None:
        if self.d_in < 1 or self.d_sae < 1 or self.n_inst < 1:
            raise ValueError(f"d_in, d_sae and n_inst must be positive, got {self.d_in}, {self.d_sae}, {self.n_inst}")
        if self.kind not in ("l1", "topk"):
            raise ValueError(f"kind must be 'l1' or 'topk', got {self.kind!r}")
        for name in ("l1_coeff", "k"):
            value = getattr(self, name)
            if isinstance(value, tuple) and len(value) != self.n_inst:
                raise ValueError(f"{name} has {len(value)} values but n_inst={self.n_inst}; give one per instance")
        ks = self.k if isinstance(self.k, tuple) else (self.k,)
        if self.kind == "topk" and any(k < 1 or k > self.d_sae for k in ks):
            raise ValueError(f"k must lie in 1..d_sae={self.d_sae}, got {self.k}")

    def per_instance(self, name: Literal["l1_coeff", "k"]) -> Tensor:
        """`l1_coeff` or `k` as a tensor with one entry per instance."""
        value = getattr(self, name)
        values = value if isinstance(value, tuple) else (value,) * self.n_inst
        return torch.tensor(values, dtype=torch.float32 if name == "l1_coeff" else torch.long)


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
        """Encode and decode (dense; `train` uses the faster hand-written step of course_utils.sae_step)."""
        pre = self.pre_acts(x)
        acts = self.activation(pre)
        return SAEOutput(x_hat=self.decode(acts), acts=acts, pre_acts=pre)

    def losses(self, x: Tensor, out: SAEOutput, **kwargs) -> dict[str, Float[Tensor, " inst"]]:
        raise NotImplementedError


def mse_loss(x: Tensor, x_hat: Float[Tensor, "batch inst hidden"]) -> Float[Tensor, " inst"]:
    """||x - x_hat||^2 summed over hidden, averaged over the batch, per instance."""
    x = _as_instances(x, x_hat.shape[1], x_hat.shape[2])
    return (x_hat - x).pow(2).sum(-1).mean(0)


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


def make_sae(cfg: SAEConfig, *, generator: torch.Generator | None = None) -> SAE:
    """An L1SAE or a TopKSAE, as cfg.kind says."""
    return (L1SAE if cfg.kind == "l1" else TopKSAE)(cfg, generator=generator)


# ---------------------------------------------------------------------------------------------- constraints


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


# ---------------------------------------------------------------------------------------------- training


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
    which keeps a revived L1 latent as selective as the others (notebook 05, section 7)."""
    resample_source: Literal["input", "residual"] = "input"
    """New decoder directions: the sampled input (Bricken et al.) or its residual x - x_hat, which points
    at what the dictionary is missing (much faster on synthetic data, see notebook 05)."""
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
    from course_utils.metrics.dictionary import mmcs as mmcs_fn
    from course_utils.sae_step import sae_step_grads_

    opt = torch.optim.Adam(sae.parameters(), lr=cfg.lr, betas=cfg.betas, fused=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, cfg))
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
        result = sae_step_grads_(sae, x, dead=dead, l1_scale=l1_scale)  # sets .grad; autograd's values
        losses, x_hat = result.losses, result.x_hat
        project_decoder_grad_(sae)
        opt.step()
        sched.step()
        normalize_decoder_(sae)
        with torch.no_grad():
            since_fired = torch.where(result.fires > 0, 0, since_fired + x.shape[0])
            fires += result.fires
            window += x.shape[0]
            if cfg.resample_every and (step + 1) % cfg.resample_every == 0 and step < cfg.resample_until * cfg.steps:
                dead = since_fired >= cfg.dead_after
                counts = resample_dead_(sae, opt, x, x_hat, dead, scale=cfg.resample_scale, generator=gen,
                                        bias=cfg.resample_bias,
                                        source=cfg.resample_source)
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
    opt: torch.optim.Optimizer | None,
    x: Tensor,
    x_hat: Float[Tensor, "batch inst hidden"],
    dead: Bool[Tensor, "inst d_sae"],
    *,
    scale: float = 0.2,
    generator: torch.Generator | None = None,
    source: Literal["input", "residual"] = "input",
    bias: Literal["zero", "alive_mean"] = "zero",
) -> list[int]:
    """Bricken et al. (2023) resampling of the dead latents; returns how many were resampled per instance.

    Each dead latent gets an input drawn with probability proportional to its squared loss: the decoder
    direction becomes the normalised input (or, with source="residual", its normalised x - x_hat), the
    encoder row the same times `scale` x the mean alive encoder norm, the encoder bias 0 (or, with
    bias="alive_mean", `scale` x the mean alive bias), and Adam's moments for those entries are reset.
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
        picks = torch.multinomial(sq_loss, rows.numel(), replacement=True, generator=generator)
        chosen = xi[picks, i] - x_hat[picks, i] if source == "residual" else xi[picks, i]
        directions = chosen / chosen.norm(dim=-1, keepdim=True).clamp_min(1e-8)
        alive = ~dead[i]
        enc_norm = sae.W_enc[i, alive].norm(dim=-1).mean() if alive.any() else torch.tensor(1.0)
        new_bias = scale * sae.b_enc[i, alive].mean() if bias == "alive_mean" and alive.any() else 0.0
        sae.W_dec[i, rows] = directions
        sae.W_enc[i, rows] = directions * scale * enc_norm
        sae.b_enc[i, rows] = new_bias
        if opt is not None:
            for param in (sae.W_dec, sae.W_enc, sae.b_enc):
                state = opt.state.get(param, {})
                for key in ("exp_avg", "exp_avg_sq"):
                    if key in state:
                        state[key][i, rows] = 0.0
    return counts
