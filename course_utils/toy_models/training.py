"""Training toy models: AdamW on every instance at once, with a fused hand-written step for `ToyModel`.

- `TrainConfig`, `train(model, cfg, batches) -> TrainLog`: `batches` is a batch function
  `step -> [batch inst feats]` (see `course_utils.data.sparse`) or an iterable of batches. A `ToyModel`
  trains with a fused step (hand-written gradients and AdamW), compiled with `torch.compile` when
  `TrainConfig.compile` asks for it and plain otherwise; a module with a `fused_update(cfg, batch_fn, step,
  losses)` method (e.g. `AbsModel`) brings its own step; any other module trains with autograd and
  `torch.optim.AdamW`, towards `model.target(x)` where the module defines one (else x).
- `learning_rate(cfg, step)`: the rate of a step; constant by default, or a linear warm-up
  (`TrainConfig.warmup_steps`) then constant or cosine decay to zero (`schedule="cosine"`, Henighan et al. 2023).
  A fixed dataset trains full batch with a batch function that returns the same tensor at every step.
- `train_with_restarts(model_cfg, train_cfg, restarts=k, generator=...)`: trains k restarts of every
  instance in one call and keeps the one with the lowest final loss.
"""

from __future__ import annotations

import functools
import itertools
import math
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn
from tqdm.auto import tqdm

from course_utils.data.sparse import SparseBatches, sparse_batches
from course_utils.toy_models.model import ToyModel, ToyModelConfig, importance_weighted_mse

BatchFn = Callable[[Int[Tensor, ""]], Float[Tensor, "batch inst feats"]]


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """How to train; defaults are the settings of the TMS notebook's `optimize`."""

    steps: int = 10_000  # TMS notebook: steps=10_000
    batch_size: int = 1024  # TMS notebook: n_batch=1024
    lr: float = 1e-3  # TMS notebook: lr=1e-3, constant schedule
    weight_decay: float = 0.01  # TMS notebook: torch.optim.AdamW's default
    betas: tuple[float, float] = (0.9, 0.999)  # AdamW defaults
    eps: float = 1e-8
    warmup_steps: int = 0
    """Steps of linear warm-up to `lr` (Henighan et al. 2023, "Experiment Setup": 2,500); 0 starts at `lr`."""
    schedule: Literal["constant", "cosine"] = "constant"
    """After the warm-up: 'constant' (the TMS notebook), or 'cosine': a half cosine from `lr` down to zero at
    the last step (Henighan et al. 2023, "Experiment Setup")."""
    snapshot_every: int | None = None
    """Keep a copy of W every this many steps (for an animation); None keeps none."""
    compile: bool | Literal["auto"] = False
    """True: torch.compile the fused step, falling back (with a warning) to plain PyTorch when that fails.
    'auto': compile when the run is long enough to repay the warm-up. False: plain PyTorch."""
    progress: bool = True

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch_size must be positive, got {self.steps} and {self.batch_size}")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}")
        if not 0 <= self.warmup_steps < self.steps:
            raise ValueError(f"warmup_steps must lie in [0, steps) = [0, {self.steps}), got {self.warmup_steps}")
        if self.snapshot_every is not None and self.snapshot_every < 1:
            raise ValueError(f"snapshot_every must be a positive number of steps or None, got {self.snapshot_every}")


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """The learning rate of step `step` (0-based): linear warm-up to `cfg.lr`, then constant or cosine to zero."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    progress = (step - cfg.warmup_steps + 1) / (cfg.steps - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def _scheduled(cfg: TrainConfig) -> bool:
    return cfg.warmup_steps > 0 or cfg.schedule != "constant"


@dataclass(frozen=True, kw_only=True)
class TrainLog:
    """What a run leaves behind: detached CPU tensors, ready for the plots."""

    losses: Float[Tensor, "steps inst"]
    snapshots: Float[Tensor, "snap inst hidden feats"] | None = None
    """W at the start and after every `snapshot_every` steps (and after the last)."""
    snapshot_steps: Int[Tensor, " snap"] | None = None
    backend: str = "plain"
    """'compiled', 'plain', or 'plain (compile failed: ...)'."""
    seconds: float = 0.0
    """Wall time of the whole loop."""
    first_step_seconds: float = 0.0
    """Wall time of the first step alone (it includes torch.compile's warm-up)."""

    def final_loss(self, last: float = 0.1) -> Float[Tensor, " inst"]:
        """Each instance's mean loss over the last fraction of the steps (less noisy than the last step)."""
        n = max(1, math.ceil(self.losses.shape[0] * last))
        return self.losses[-n:].mean(0)


COMPILE_AUTO_MIN_WORK = 2e5
"""`compile='auto'` compiles when steps * instances reaches this: the warm-up takes tens of seconds on a
cold cache (20-60 s measured on a busy 2-core machine) and a few seconds on a warm one."""


def train(model: nn.Module, cfg: TrainConfig, batches: BatchFn | Iterable[Tensor]) -> TrainLog:
    """Train every instance of `model` with AdamW on `batches` (a batch function or an iterable)."""
    device = next(model.parameters()).device
    step = torch.zeros((), dtype=torch.int64, device=device)
    batch_fn = batches if callable(batches) else None
    batch_iter = None if callable(batches) else iter(batches)
    if batch_iter is not None:
        first = next(batch_iter, None)
        if first is None:
            raise ValueError("batches is an empty iterable; pass a batch function or at least cfg.steps batches")
        batch_iter = itertools.chain([first], batch_iter)
    x0 = batch_fn(step) if batch_fn is not None else first
    if x0.ndim != 3:
        raise ValueError(f"a batch must have shape (batch, inst, feats); got {tuple(x0.shape)}")
    losses = torch.zeros(cfg.steps, x0.shape[1], device=device)
    wants = cfg.compile is True or (cfg.compile == "auto" and cfg.steps * x0.shape[1] >= COMPILE_AUTO_MIN_WORK)
    wants = wants and isinstance(model, ToyModel)

    def make_body(compiled: bool) -> Callable[[Tensor | None], None]:
        if isinstance(model, ToyModel):
            return _fused_update(model, cfg, batch_fn, step, losses, compiled=compiled)
        if callable(getattr(model, "fused_update", None)):  # a model that brings its own step (e.g. AbsModel)
            return model.fused_update(cfg, batch_fn, step, losses)
        return _autograd_update(model, cfg, batch_fn, step, losses)

    run, backend = make_body(wants), "compiled" if wants else "plain"
    snaps, snap_steps = ([model.W.detach().clone()], [0]) if cfg.snapshot_every else ([], [])
    start = time.perf_counter()
    for i in tqdm(range(cfg.steps), disable=not cfg.progress, desc="training", mininterval=0.5):
        x = None if batch_iter is None else next(batch_iter, None)
        if batch_iter is not None and x is None:
            raise ValueError(f"batches ran out after {i} of {cfg.steps} steps; give one batch per step")
        if i == 0 and backend == "compiled":
            try:
                run(x)
            except Exception as error:  # no C++ compiler, an unsupported platform, ...
                reason = f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0][:160]}"
                warnings.warn(f"torch.compile failed ({reason}); training with plain PyTorch instead", stacklevel=2)
                run, backend = make_body(False), f"plain (compile failed: {reason})"
                step.zero_()
                run(x)
        else:
            run(x)
        if i == 0:
            first_step_seconds = time.perf_counter() - start
        if cfg.snapshot_every and ((i + 1) % cfg.snapshot_every == 0 or i + 1 == cfg.steps):
            snaps.append(model.W.detach().clone())
            snap_steps.append(i + 1)
    return TrainLog(
        losses=losses.cpu(),
        snapshots=torch.stack(snaps).cpu() if snaps else None,
        snapshot_steps=torch.tensor(snap_steps) if snaps else None,
        backend=backend,
        seconds=time.perf_counter() - start,
        first_step_seconds=first_step_seconds,
    )


CHUNK_FLOATS = 1 << 17
"""Plain PyTorch steps through instances in chunks of about this many floats per tensor (512 KiB), so
that each chunk stays in the CPU's cache; big models (200 features, batch 1024) run ~2x faster so."""


BROADCAST_BMM_MAX_SIZE = 64
"""Compiled steps write the matrix products elementwise (`_broadcast_bmm`) when feats x hidden is at most
this. Measured (10 instances, batch 1024, steps/s bmm -> elementwise): 2x1 6,300 -> 12,000; 5x2 3,700 ->
5,600; 10x4 1,950 -> 2,180; 20x5 1,150 -> 930; 200x20 33 -> 12."""


def _fused_update(
    model: ToyModel, cfg: TrainConfig, batch_fn: BatchFn | None, step: Tensor, losses: Tensor, *, compiled: bool
) -> Callable[[Tensor | None], None]:
    """`update(x)`: one in-place training step of a ToyModel on x, or on batch_fn(step) (see `_toy_step`)."""
    W, b = model.W.detach(), model.b.detach()  # views: updating them updates the parameters
    moments = (torch.zeros_like(W), torch.zeros_like(W), torch.zeros_like(b), torch.zeros_like(b))
    hyper = (cfg.lr, *cfg.betas, cfg.eps, cfg.weight_decay)
    # A schedule changes the rate every step: a Python number in plain PyTorch; a 0-d tensor filled in
    # place under torch.compile, so that one compiled graph serves every step.
    lr_tensor = torch.full((), cfg.lr, device=W.device) if compiled and _scheduled(cfg) else None
    if lr_tensor is not None:
        hyper = (lr_tensor, *hyper[1:])
    done = [0]  # steps taken, as a Python number
    step_fn = _compiled_toy_step() if compiled else _toy_step
    n_inst, n_feats = b.shape
    chunk = n_inst if compiled else max(1, CHUNK_FLOATS // (n_feats * cfg.batch_size))
    chunks = [slice(i, min(i + chunk, n_inst)) for i in range(0, n_inst, chunk)]
    small = compiled and n_feats * W.shape[1] <= BROADCAST_BMM_MAX_SIZE
    whole_batch = len(chunks) > 1 and batch_fn is not None and not isinstance(batch_fn, SparseBatches)
    # The views and sub-batch functions of every chunk, made once: slicing costs microseconds a step.
    per_chunk = [
        (
            s,
            batch_fn.instances(s) if len(chunks) > 1 and isinstance(batch_fn, SparseBatches) else batch_fn,
            losses[:, s],
            (W[s], b[s]),
            tuple(m[s] for m in moments),
            model.importance[s],
        )
        for s in chunks
    ]
    linear = model.cfg.linear

    def update(x: Tensor | None) -> None:
        step_hyper = hyper
        if _scheduled(cfg):
            lr = learning_rate(cfg, done[0])
            if lr_tensor is not None:
                lr_tensor.fill_(lr)
            else:
                step_hyper = (lr, *hyper[1:])
        if x is None and whole_batch:
            x = batch_fn(step)  # a batch function we cannot restrict to some instances: draw it whole
        for s, sub_fn, sub_losses, params, moms, imp in per_chunk:
            step_fn(None if x is None else x[:, s], sub_fn, step, sub_losses, params, moms, imp, step_hyper, linear, small)
        step.add_(1)
        done[0] += 1

    return update


@functools.cache
def _compiled_toy_step() -> Callable[..., None]:
    # One module-level function, so that every run with the same shapes reuses one compiled graph.
    return torch.compile(_toy_step, dynamic=False, fullgraph=True)


def _toy_step(
    x: Float[Tensor, "batch inst feats"] | None,
    batch_fn: BatchFn | None,
    step: Int[Tensor, ""],
    losses: Float[Tensor, "steps inst"],
    params: tuple[Tensor, Tensor],
    moments: tuple[Tensor, Tensor, Tensor, Tensor],
    imp: Float[Tensor, "inst feats"],
    hyper: tuple[float, float, float, float, float],
    linear: bool,
    small: bool = False,
) -> None:
    """Batch (x, or batch_fn(step)), forward, hand-written gradients and AdamW, all in place.

    Each instance is a (feats, batch) matrix with the batch innermost: small matrix products and long
    contiguous loops, the fastest layout both plain and under torch.compile (measured). `small` writes
    the matrix products as broadcast multiply-and-sum, which torch.compile fuses with everything else
    into one loop nest: for the 5x2 models that is 2x faster than calling bmm (measured).
    """
    W, b = params
    lr, beta1, beta2, eps, wd = hyper
    x = batch_fn(step) if x is None else x
    n_batch, _, n_feats = x.shape
    x = x.permute(1, 2, 0).contiguous()  # inst feats batch (no copy for SparseBatches' layout)
    bmm = _broadcast_bmm if small else torch.bmm
    h = bmm(W, x)  # inst hidden batch
    pre = bmm(W.transpose(1, 2), h) + b.unsqueeze(-1)  # inst feats batch
    out = pre if linear else torch.relu(pre)
    err = out - x
    weighted = imp.unsqueeze(-1) * err
    per_feature = (weighted * err).mean(dim=2)  # inst feats
    losses.index_copy_(0, step.view(1), per_feature.mean(dim=1).unsqueeze(0))
    g = weighted * (2.0 / (n_batch * n_feats))  # dL/dpre
    if not linear:
        g = g * out.sign()  # the ReLU's derivative; float arithmetic runs far faster than a bool mask here
    g_h = bmm(W, g)  # inst hidden batch
    grad_w = bmm(h, g.transpose(1, 2)) + bmm(g_h, x.transpose(1, 2))
    grad_b = g.sum(dim=2)
    if torch.compiler.is_compiling():  # the step stays a tensor, so the graph serves every step
        t = (step + 1).to(torch.float32)
        step_size, root_bc2 = lr / (1 - beta1**t), torch.sqrt(1 - beta2**t)
    else:  # plain PyTorch: Python numbers spare a handful of 0-d tensor operations per step
        t = int(step) + 1
        step_size, root_bc2 = lr / (1 - beta1**t), math.sqrt(1 - beta2**t)
    for param, grad, m, v in ((W, grad_w, *moments[:2]), (b, grad_b, *moments[2:])):
        param.mul_(1 - lr * wd)  # AdamW, as torch.optim.AdamW computes it
        m.lerp_(grad, 1 - beta1)
        v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        param.sub_(step_size * m / (v.sqrt() / root_bc2 + eps))


def _broadcast_bmm(a: Float[Tensor, "inst p k"], b: Float[Tensor, "inst k q"]) -> Float[Tensor, "inst p q"]:
    """torch.bmm as an elementwise product and a sum, which torch.compile fuses into its loops."""
    return (a.unsqueeze(-1) * b.unsqueeze(1)).sum(dim=2)


def _autograd_update(
    model: nn.Module, cfg: TrainConfig, batch_fn: BatchFn | None, step: Tensor, losses: Tensor
) -> Callable[[Tensor | None], None]:
    """`update(x)`: one training step of any module with autograd and torch.optim.AdamW."""
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay)
    imp = getattr(model, "importance", None)

    def update(x: Tensor | None) -> None:
        x = batch_fn(step) if x is None else x
        if _scheduled(cfg):
            for group in opt.param_groups:
                group["lr"] = learning_rate(cfg, int(step))
        target = model.target(x) if callable(getattr(model, "target", None)) else x  # the task: x, or e.g. |x|
        per_instance = importance_weighted_mse(model(x), target, imp if imp is not None else torch.ones(x.shape[-1]))
        opt.zero_grad(set_to_none=True)
        per_instance.sum().backward()
        opt.step()
        losses.index_copy_(0, step.view(1), per_instance.detach().unsqueeze(0))
        step.add_(1)

    return update


def train_with_restarts(
    model_cfg: ToyModelConfig,
    train_cfg: TrainConfig,
    *,
    restarts: int = 3,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
) -> tuple[ToyModel, TrainLog]:
    """Train `restarts` copies of every instance in one run; keep, per instance, the lowest final loss.

    Optimising in 2-D is hard (TMS: some runs get stuck in worse local minima), so the paper's sweeps
    keep the best of several seeds. The returned log holds the kept instances only.
    """
    if restarts < 1:
        raise ValueError(f"restarts must be at least 1, got {restarts}")
    n, k = model_cfg.n_instances, restarts
    big_cfg = replace(
        model_cfg,
        n_instances=n * k,
        importance=_nested(model_cfg.importance_tensor().repeat_interleave(k, dim=0)),
        density=_nested(model_cfg.density_tensor().repeat_interleave(k, dim=0)),
    )
    big = ToyModel(big_cfg, generator=generator, device=device)
    batches = sparse_batches(big_cfg.density_tensor().to(device), batch_size=train_cfg.batch_size, generator=generator)
    log = train(big, train_cfg, batches)
    best = log.final_loss().view(n, k).argmin(dim=1) + torch.arange(n) * k
    model = ToyModel(model_cfg, generator=generator, device=device)
    with torch.no_grad():
        model.W.copy_(big.W[best])
        model.b.copy_(big.b[best])
    kept = replace(
        log,
        losses=log.losses[:, best],
        snapshots=None if log.snapshots is None else log.snapshots[:, best],
    )
    return model, kept


def _nested(table: Tensor) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(row) for row in table.tolist())
