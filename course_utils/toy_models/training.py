"""Training toy models: AdamW on every instance at once, with a fused hand-written step for `ToyModel`.

- `TrainConfig`, `train(model, cfg, batches) -> TrainLog`: `batches` is a batch function
  `step -> [batch inst feats]` (see `course_utils.data.sparse`) or an iterable of batches. A `ToyModel`
  trains with a fused step (hand-written gradients and AdamW), compiled with `torch.compile` when
  `TrainConfig.compile` asks for it and plain otherwise (`_PlainToyStep`: the same arithmetic bit for bit,
  with buffers allocated once and the batch written in place); a module with a `fused_update(cfg, batch_fn, step,
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

from course_utils.data.sparse import sparse_batches
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
            return _fused_update(model, cfg, batch_fn, step, losses, compiled=compiled, n_batch=x0.shape[0])
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
"""Plain PyTorch steps through instances in chunks (of equal size) of at most about this many floats per
tensor (512 KiB), so that a chunk's buffers stay in the CPU's cache. Measured, 64 instances of 5x2, batch
1024, CPU steps/s by chunk size: 2^15 823, 2^16 991, 2^17 1,115, 2^19 1,025, 2^21 (one chunk) 833."""


BROADCAST_BMM_MAX_SIZE = 64
"""Compiled steps write the matrix products elementwise (`_broadcast_bmm`) when feats x hidden is at most
this. Measured (10 instances, batch 1024, steps/s bmm -> elementwise): 2x1 6,300 -> 12,000; 5x2 3,700 ->
5,600; 10x4 1,950 -> 2,180; 20x5 1,150 -> 930; 200x20 33 -> 12."""


def _fused_update(
    model: ToyModel,
    cfg: TrainConfig,
    batch_fn: BatchFn | None,
    step: Tensor,
    losses: Tensor,
    *,
    compiled: bool,
    n_batch: int,
) -> Callable[[Tensor | None], None]:
    """`update(x)`: one in-place training step of a ToyModel on x, or on batch_fn(step) (of n_batch points)."""
    if compiled:
        return _compiled_update(model, cfg, batch_fn, step, losses)
    return _PlainToyStep(model, cfg, batch_fn, step, losses, n_batch=n_batch)


def _compiled_update(
    model: ToyModel, cfg: TrainConfig, batch_fn: BatchFn | None, step: Tensor, losses: Tensor
) -> Callable[[Tensor | None], None]:
    """`update(x)` with the torch.compile'd `_toy_step`: one graph for every step of every run of these shapes.

    The step writes its losses into a buffer of LOSS_BLOCK rows (row step % LOSS_BLOCK) that eager code
    copies into the log every LOSS_BLOCK steps and at the end, so that the log's length (the step count) is no
    part of the compiled graph: a new `cfg.steps` does not recompile.
    """
    W, b = model.W.detach(), model.b.detach()  # views: updating them updates the parameters
    moments = (torch.zeros_like(W), torch.zeros_like(W), torch.zeros_like(b), torch.zeros_like(b))
    hyper = (cfg.lr, *cfg.betas, cfg.eps, cfg.weight_decay)
    # A schedule changes the rate every step: a 0-d tensor filled in place, so that one graph serves every step.
    lr_tensor = torch.full((), cfg.lr, device=W.device) if _scheduled(cfg) else None
    if lr_tensor is not None:
        hyper = (lr_tensor, *hyper[1:])
    loss_rows = torch.zeros(LOSS_BLOCK, b.shape[0], device=W.device)
    step_fn = _compiled_toy_step()
    small = b.shape[1] * W.shape[1] <= BROADCAST_BMM_MAX_SIZE
    done = [0]  # steps taken, as a Python number

    def update(x: Tensor | None) -> None:
        if lr_tensor is not None:
            lr_tensor.fill_(learning_rate(cfg, done[0]))
        step_fn(x, batch_fn, step, loss_rows, (W, b), moments, model.importance, hyper, model.cfg.linear, small)
        step.add_(1)
        done[0] += 1
        if done[0] % LOSS_BLOCK == 0 or done[0] == cfg.steps:
            start = (done[0] - 1) // LOSS_BLOCK * LOSS_BLOCK
            losses[start : done[0]] = loss_rows[: done[0] - start]

    return update


LOSS_BLOCK = 256
"""Rows of the compiled step's loss buffer (a fixed size, so that one graph serves every step count)."""


@functools.cache
def _compiled_toy_step() -> Callable[..., None]:
    # One module-level function, so that every run with the same shapes reuses one compiled graph.
    return torch.compile(_toy_step, dynamic=False, fullgraph=True)


def _toy_step(
    x: Float[Tensor, "batch inst feats"] | None,
    batch_fn: BatchFn | None,
    step: Int[Tensor, ""],
    loss_rows: Float[Tensor, "rows inst"],
    params: tuple[Tensor, Tensor],
    moments: tuple[Tensor, Tensor, Tensor, Tensor],
    imp: Float[Tensor, "inst feats"],
    hyper: tuple[float | Tensor, float, float, float, float],
    linear: bool,
    small: bool = False,
) -> None:
    """Batch (x, or batch_fn(step)), forward, hand-written gradients and AdamW, all in place (torch.compile'd).

    Each instance is a (feats, batch) matrix with the batch innermost: small matrix products and long
    contiguous loops, the fastest layout under torch.compile (measured). `small` writes the matrix
    products as broadcast multiply-and-sum, which torch.compile fuses with everything else into one
    loop nest: for the 5x2 models that is 2x faster than calling bmm (measured). `_PlainToyStep` is the
    same arithmetic for plain PyTorch.
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
    loss_rows.index_copy_(0, (step % loss_rows.shape[0]).view(1), per_feature.mean(dim=1).unsqueeze(0))
    g = weighted * (2.0 / (n_batch * n_feats))  # dL/dpre
    if not linear:
        g = g * out.sign()  # the ReLU's derivative; float arithmetic runs far faster than a bool mask here
    g_h = bmm(W, g)  # inst hidden batch
    grad_w = bmm(h, g.transpose(1, 2)) + bmm(g_h, x.transpose(1, 2))
    grad_b = g.sum(dim=2)
    if torch.compiler.is_compiling():  # the step stays a tensor, so the graph serves every step
        t = (step + 1).to(torch.float32)
        step_size, root_bc2 = lr / (1 - beta1**t), torch.sqrt(1 - beta2**t)
    else:  # eager (the reference that tests hold `_PlainToyStep` to): Python numbers, as `_PlainToyStep`
        t = int(step) + 1
        step_size, root_bc2 = lr / (1 - beta1**t), math.sqrt(1 - beta2**t)
    for param, grad, m, v in ((W, grad_w, *moments[:2]), (b, grad_b, *moments[2:])):
        param.mul_(1 - lr * wd)  # AdamW, as torch.optim.AdamW computes it
        m.lerp_(grad, 1 - beta1)
        v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        param.sub_(step_size * m / (v.sqrt() / root_bc2 + eps))


_threshold_backward = torch.ops.aten.threshold_backward.grad_input
"""g where out > 0, else 0, in one pass. The parameters come out bit for bit as with `_toy_step`'s g * sign(out):
the two differ only in the sign of some zeros, and AdamW's moments cannot see a zero's sign (m starts at +0, and
lerp_ and addcmul_ turn +0 and -0 into the same numbers)."""


@dataclass(frozen=True, kw_only=True, eq=False)
class _Chunk:
    """Some instances' views of the parameters and gradients, their batch writer, and their work buffers."""

    index: slice
    writer: Callable[[int, Tensor], None] | None
    W: Tensor
    W_t: Tensor
    b: Tensor
    imp: Tensor
    grad_w: Tensor
    grad_w2: Tensor
    grad_b: Tensor
    loss_rows: tuple[Tensor, ...]
    """Row r of the loss block for these instances: (inst, feats), the sums over the batch of step r."""
    x: Tensor
    x_t: Tensor
    h: Tensor
    out: Tensor
    err: Tensor
    g: Tensor
    g_t: Tensor
    g_h: Tensor


class _PlainToyStep:
    """One training step of a ToyModel in plain PyTorch: the arithmetic of `_toy_step`, bit for bit, faster.

    Every tensor is allocated once and every operation writes in place or with `out=`; constants and the
    per-step numbers (a bias correction, a scheduled rate) are 0-d float32 tensors, so that no operation
    converts a Python number; the gradients and AdamW's moments of W and b share one flat buffer, so that
    AdamW is one set of operations for the whole model; instances go in chunks that stay in the CPU's cache;
    the losses are kept as sums over the batch for LOSS_BLOCK steps and reduced for all of them at once.
    """

    def __init__(
        self, model: ToyModel, cfg: TrainConfig, batch_fn: BatchFn | None, step: Tensor, losses: Tensor, *, n_batch: int
    ):
        W, b = model.W.detach(), model.b.detach()  # views: updating them updates the parameters
        self.W, self.b, self.cfg, self.batch_fn, self.step, self.losses = W, b, cfg, batch_fn, step, losses
        self.linear, self.importance = model.cfg.linear, model.importance
        self.scheduled = _scheduled(cfg)
        device = W.device
        self.done = self.logged = 0  # steps taken, and steps whose losses are in the log

        def scalar(value: float) -> Tensor:
            return torch.tensor(value, dtype=torch.float32, device=device)

        lr, (beta1, beta2), eps, wd = cfg.lr, cfg.betas, cfg.eps, cfg.weight_decay
        self.decay, self.root_bc2 = scalar(1 - lr * wd), scalar(1.0)
        self.beta1_weight, self.beta2, self.beta2_weight, self.eps = 1 - beta1, scalar(beta2), 1 - beta2, scalar(eps)
        self.grad_scale, self.batch_count, self.feature_count = scalar(0.0), scalar(1.0), scalar(b.shape[1])
        n_w = W.numel()
        flat = torch.zeros(4, n_w + b.numel(), device=device)  # gradient, m, v, and AdamW's denominator
        self.grad, self.m, self.v, self.denom = flat
        self.grad_w, self.grad_b = self.grad[:n_w].view_as(W), self.grad[n_w:].view_as(b)
        self.m_w, self.m_b = self.m[:n_w].view_as(W), self.m[n_w:].view_as(b)
        self.denom_w, self.denom_b = self.denom[:n_w].view_as(W), self.denom[n_w:].view_as(b)
        self.loss_block = torch.zeros(LOSS_BLOCK, *b.shape, device=device)
        self._allocate(n_batch)

    def _allocate(self, n_batch: int) -> None:
        """The chunks of instances and their buffers for batches of n_batch points."""
        W, b, batch_fn = self.W, self.b, self.batch_fn
        n_inst, n_hidden, n_feats = W.shape
        device = W.device
        self.n_batch = n_batch
        self.grad_scale.fill_(2.0 / (n_batch * n_feats))
        self.batch_count.fill_(n_batch)
        n_chunks = math.ceil(n_inst / max(1, CHUNK_FLOATS // (n_feats * n_batch)))
        chunk = math.ceil(n_inst / n_chunks)  # chunks of equal size (or one less)
        chunks = [slice(i, min(i + chunk, n_inst)) for i in range(0, n_inst, chunk)]
        width = min(chunk, n_inst)
        buffers = {name: torch.zeros(width, rows, n_batch, device=device) for name, rows in
                   (("x", n_feats), ("h", n_hidden), ("out", n_feats), ("err", n_feats), ("g", n_feats), ("g_h", n_hidden))}
        writes = callable(getattr(batch_fn, "writer", None)) and device.type == "cpu"  # (tested on the CPU only)
        if writes and tuple(batch_fn.density.shape) != (n_inst, n_feats):
            raise ValueError(f"the batches have {tuple(batch_fn.density.shape)} (inst, feats) but the model "
                             f"{(n_inst, n_feats)}; make them from the model's config (cfg.density_tensor())")
        work = tuple(torch.zeros(width, n_feats, n_batch, dtype=torch.int32, device=device) for _ in range(2)) if writes else ()
        imp = self.importance.unsqueeze(-1)

        def views(s: slice) -> dict[str, Tensor]:
            mine = {name: buf[: s.stop - s.start] for name, buf in buffers.items()}
            return dict(mine, x_t=mine["x"].transpose(1, 2), g_t=mine["g"].transpose(1, 2))

        self.chunks = [
            _Chunk(
                index=s,
                writer=batch_fn.writer(s, work) if writes else None,
                W=W[s], W_t=W[s].transpose(1, 2), b=b[s].unsqueeze(-1), imp=imp[s],
                grad_w=self.grad_w[s], grad_b=self.grad_b[s], loss_rows=self.loss_block[:, s].unbind(0),
                grad_w2=torch.zeros_like(W[s]),
                **views(s),
            )
            for s in chunks
        ]

    def __call__(self, x: Tensor | None) -> None:
        cfg, i = self.cfg, self.done
        lr = learning_rate(cfg, i) if self.scheduled else cfg.lr
        if self.scheduled:
            self.decay.fill_(1 - lr * cfg.weight_decay)
        t = i + 1  # AdamW's bias corrections, as Python numbers (rounded to float32 as the operations would)
        step_size = lr / (1 - cfg.betas[0] ** t)
        self.root_bc2.fill_(math.sqrt(1 - cfg.betas[1] ** t))
        if x is None and self.chunks[0].writer is None:
            x = self.batch_fn(self.step)
        row = i % LOSS_BLOCK
        if x is not None and x.shape[0] != self.n_batch:
            self._log_losses(i)  # the sums so far are divided by the old batch size
            self._allocate(x.shape[0])
        for chunk in self.chunks:
            if chunk.writer is not None:
                chunk.writer(i, chunk.x)
                self._forward_backward(chunk, chunk.x, chunk.x_t, row)
                continue
            xs = x[:, chunk.index].permute(1, 2, 0)
            if not xs.is_contiguous():  # (a batch stored inst feats batch needs no copy)
                self._forward_backward(chunk, chunk.x.copy_(xs), chunk.x_t, row)
            else:
                self._forward_backward(chunk, xs, xs.transpose(1, 2), row)
        self._adamw(step_size)
        self.step.add_(1)
        self.done += 1
        if row == LOSS_BLOCK - 1 or self.done == cfg.steps:
            self._log_losses(self.done)

    def _forward_backward(self, c: _Chunk, x: Float[Tensor, "inst feats batch"], x_t: Tensor, row: int) -> None:
        """Forward, loss sums per feature and hand-written gradients of one chunk (as `_toy_step` computes them)."""
        torch.bmm(c.W, x, out=c.h)  # h = W x
        torch.baddbmm(c.b, c.W_t, c.h, out=c.out)  # pre = W^T h + b
        if not self.linear:
            c.out.relu_()
        torch.sub(c.out, x, out=c.err)
        torch.mul(c.imp, c.err, out=c.g)  # weighted error
        torch.sum(c.err.mul_(c.g), dim=2, out=c.loss_rows[row])  # divided by the batch size in _log_losses
        if not self.linear:  # the ReLU's derivative, as autograd applies it (zeros' signs may differ from g * sign(out))
            _threshold_backward(c.g, c.out, 0.0, grad_input=c.g)
        c.g.mul_(self.grad_scale)  # dL/dpre
        torch.bmm(c.W, c.g, out=c.g_h)
        torch.bmm(c.h, c.g_t, out=c.grad_w).add_(torch.bmm(c.g_h, x_t, out=c.grad_w2))
        torch.sum(c.g, dim=2, out=c.grad_b)

    def _log_losses(self, until: int) -> None:
        """The losses of the steps not yet logged, up to `until`, from the block's sums: mean over the batch, then
        over the features (the steps lie in one block: it is logged when full)."""
        start, self.logged = self.logged, until
        if until > start:
            row = start % LOSS_BLOCK
            sums = self.loss_block[row : row + until - start].div_(self.batch_count)  # what mean(dim=2) computes
            torch.sum(sums, dim=2, out=self.losses[start:until]).div_(self.feature_count)

    def _adamw(self, step_size: float) -> None:
        """AdamW, as torch.optim.AdamW computes it, on W and b at once."""
        self.W.mul_(self.decay)
        self.b.mul_(self.decay)
        self.m.lerp_(self.grad, self.beta1_weight)
        self.v.mul_(self.beta2).addcmul_(self.grad, self.grad, value=self.beta2_weight)
        torch.addcdiv(self.eps, torch.sqrt(self.v, out=self.denom), self.root_bc2, out=self.denom)  # sqrt(v) / rbc2 + eps
        self.W.addcdiv_(self.m_w, self.denom_w, value=-step_size)  # W - (step_size * m) / denom, rounded as that
        self.b.addcdiv_(self.m_b, self.denom_b, value=-step_size)


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
