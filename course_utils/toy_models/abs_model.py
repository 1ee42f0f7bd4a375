"""The |x| model of Elhage et al. (2022), "Computation in Superposition", with a leading instance dimension.

    h = ReLU(W1 x),   y' = ReLU(W2 h + b),   target y = |x|
    W1: (inst, hidden, feats), W2: (inst, feats, hidden), b: (inst, feats)

The hidden ReLU is privileged, and the task needs it: |x| = ReLU(x) + ReLU(-x). `train` (from
`course_utils.toy_models`) trains an `AbsModel` with its own fused step (`AbsModel.fused_update`:
hand-written gradients and AdamW, all instances at once), on signed sparse batches
(`course_utils.data.signed`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from einops import einsum
from jaxtyping import Float, Int
from torch import Tensor, nn

from course_utils.data.sparse import as_density
from course_utils.toy_models.training import learning_rate

if TYPE_CHECKING:
    from course_utils.toy_models.training import BatchFn, TrainConfig

PAPER_DENSITIES = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001)
"""1 - S of the section's sweep, S = 0 ... 0.999 (as reproduced by ARENA's chapter 1.3.1)."""


@dataclass(frozen=True, kw_only=True)
class AbsModelConfig:
    """Sizes, importance and densities of the |x| model; defaults follow TMS "Computation in Superposition"."""

    n_features: int = 100  # TMS "Computation in Superposition": 100 features
    d_hidden: int = 40  # ... computed by 40 neurons
    n_instances: int = len(PAPER_DENSITIES)  # one instance per density
    importance_decay: float = 0.8  # ... importance 0.8^i
    density: tuple[float, ...] | None = None
    """One density (1 - S) per instance; None means PAPER_DENSITIES (needs n_instances == 7)."""
    init_bias: float = 0.2
    """Ours, not the paper's: b starts positive so that every output ReLU passes gradient at first (with b = 0,
    short runs on sparse data lose half-features: only ReLU(x) or only ReLU(-x) is learnt)."""
    init_w2_scale: float = 0.3
    """Ours: W2 starts as 0.3 x Xavier-normal (smaller early interference between outputs)."""

    def __post_init__(self) -> None:
        for name in ("n_features", "d_hidden", "n_instances"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.importance_decay <= 1:
            raise ValueError(f"importance_decay must lie in (0, 1], got {self.importance_decay}")
        self.density_tensor()  # validates

    def importance_tensor(self) -> Float[Tensor, "inst feats"]:
        """importance_decay ** i for every feature i of every instance."""
        imp = self.importance_decay ** torch.arange(self.n_features, dtype=torch.float32)
        return imp.expand(self.n_instances, self.n_features).contiguous()

    def density_tensor(self) -> Float[Tensor, "inst feats"]:
        """The density of every feature of every instance."""
        density: Sequence[float] = PAPER_DENSITIES if self.density is None else self.density
        if len(density) != self.n_instances:
            raise ValueError(f"give one density per instance: {len(density)} densities for {self.n_instances} instances")
        return as_density(density, self.n_instances, self.n_features)


class AbsModel(nn.Module):
    """n_instances independent models h = ReLU(W1 x), y' = ReLU(W2 h + b), trained to output |x|."""

    def __init__(self, cfg: AbsModelConfig, *, generator: torch.Generator, device: torch.device | str = "cpu"):
        super().__init__()
        self.cfg = cfg
        w1 = torch.empty(cfg.n_instances, cfg.d_hidden, cfg.n_features, device=device)
        w2 = torch.empty(cfg.n_instances, cfg.n_features, cfg.d_hidden, device=device)
        for i in range(cfg.n_instances):
            nn.init.xavier_normal_(w1[i], generator=generator)
            nn.init.xavier_normal_(w2[i], generator=generator)
        self.W1 = nn.Parameter(w1)
        self.W2 = nn.Parameter(w2 * cfg.init_w2_scale)
        self.b = nn.Parameter(torch.full((cfg.n_instances, cfg.n_features), cfg.init_bias, device=device))
        self.register_buffer("importance", cfg.importance_tensor().to(device), persistent=False)

    @property
    def W(self) -> Tensor:
        """The input weights W1 (what `TrainConfig.snapshot_every` keeps)."""
        return self.W1

    def _check_input(self, x: Tensor) -> None:
        if x.ndim != 3 or x.shape[1:] != self.b.shape:
            raise ValueError(f"x must have shape (batch, {self.cfg.n_instances}, {self.cfg.n_features}); got {tuple(x.shape)}")

    def hidden(self, x: Float[Tensor, "batch inst feats"]) -> Float[Tensor, "batch inst hidden"]:
        """The neurons' activations ReLU(W1 x)."""
        self._check_input(x)
        return torch.relu(einsum(x, self.W1, "batch inst feats, inst hidden feats -> batch inst hidden"))

    def forward(self, x: Float[Tensor, "batch inst feats"]) -> Float[Tensor, "batch inst feats"]:
        out = einsum(self.hidden(x), self.W2, "batch inst hidden, inst feats hidden -> batch inst feats")
        return torch.relu(out + self.b)

    @staticmethod
    def target(x: Float[Tensor, "batch inst feats"]) -> Float[Tensor, "batch inst feats"]:
        """What the model should output: |x|."""
        return x.abs()

    def fused_update(
        self, cfg: TrainConfig, batch_fn: BatchFn | None, step: Int[Tensor, ""], losses: Float[Tensor, "steps inst"]
    ) -> Callable[[Tensor | None], None]:
        """`update(x)`: one in-place AdamW step on x (or batch_fn(step)) with hand-written gradients (`train` calls it)."""
        return _AbsStep(self, cfg, batch_fn, step, losses)


class _AbsStep:
    """`abs_step_`'s arithmetic bit for bit, faster: buffers allocated once, every operation in place or with
    `out=`, 0-d float32 constants instead of Python numbers, one flat buffer for the gradients and AdamW's
    moments (AdamW is one set of operations), and the batch written in place when the batch function can
    (`SparseBatches.writer`). See `course_utils.toy_models.training._PlainToyStep`, the same for the toy model."""

    def __init__(self, model: AbsModel, cfg: TrainConfig, batch_fn: BatchFn | None, step: Tensor, losses: Tensor):
        self.model, self.cfg, self.batch_fn, self.step, self.losses = model, cfg, batch_fn, step, losses
        self.params = (model.W1.detach(), model.W2.detach(), model.b.detach())  # views: updates update the model
        device = model.b.device
        self.done = 0

        def scalar(value: float) -> Tensor:
            return torch.tensor(value, dtype=torch.float32, device=device)

        lr, (beta1, beta2), eps, wd = cfg.lr, cfg.betas, cfg.eps, cfg.weight_decay
        self.decay, self.step_size, self.root_bc2 = scalar(1 - lr * wd), scalar(0.0), scalar(1.0)
        self.beta1_weight, self.beta2, self.beta2_weight, self.eps = 1 - beta1, scalar(beta2), 1 - beta2, scalar(eps)
        self.grad_scale, self.count = scalar(0.0), scalar(1.0)
        sizes = [p.numel() for p in self.params]
        self.grad, self.m, self.v, self.denom, self.update = torch.zeros(5, sum(sizes), device=device)
        self.grads = tuple(g.view_as(p) for g, p in zip(self.grad.split(sizes), self.params, strict=True))
        self.updates = tuple(u.view_as(p) for u, p in zip(self.update.split(sizes), self.params, strict=True))
        self.W2_t = self.params[1].transpose(1, 2)
        self.b3 = self.params[2].unsqueeze(-1)
        self.imp = model.importance.unsqueeze(-1)
        self.writer = None
        self.n_batch = 0
        if callable(getattr(batch_fn, "writer", None)) and device.type == "cpu":  # (tested on the CPU only)
            model._check_input(torch.empty(1, *batch_fn.density.shape))
            self._allocate(batch_fn.batch_size)
            work = tuple(torch.zeros_like(self.x, dtype=torch.int32) for _ in range(2))
            self.writer = batch_fn.writer(slice(None), work)

    def _allocate(self, n_batch: int) -> None:
        n_inst, n_hidden, n_feats = self.params[0].shape
        device = self.params[0].device
        self.n_batch = n_batch
        self.x, self.target, self.out, self.err, self.g = torch.zeros(5, n_inst, n_feats, n_batch, device=device)
        self.h, self.g_pre1 = torch.zeros(2, n_inst, n_hidden, n_batch, device=device)
        self.grad_scale.fill_(2.0 / (n_batch * n_feats))
        self.count.fill_(n_batch * n_feats)

    def __call__(self, x: Tensor | None) -> None:
        cfg, i = self.cfg, self.done
        if self.writer is not None and x is None:
            self.writer(i, self.x)
            x = self.x
        else:
            x = self.batch_fn(self.step) if x is None else x
            self.model._check_input(x)
            if x.shape[0] != self.n_batch:
                self._allocate(x.shape[0])
            x = x.permute(1, 2, 0)
            if not x.is_contiguous():
                x = self.x.copy_(x)
        lr = learning_rate(cfg, i)  # TrainConfig's warm-up and schedule, if any
        self.decay.fill_(1 - lr * cfg.weight_decay)
        t = i + 1
        self.step_size.fill_(lr / (1 - cfg.betas[0] ** t))
        self.root_bc2.fill_(math.sqrt(1 - cfg.betas[1] ** t))
        self._forward_backward(x, self.losses[i])
        self._adamw()
        self.step.add_(1)
        self.done += 1

    def _forward_backward(self, x: Float[Tensor, "inst feats batch"], loss_row: Float[Tensor, " inst"]) -> None:
        W1, W2, _ = self.params
        grad_w1, grad_w2, grad_b = self.grads
        h, out, err, g = self.h, self.out, self.err, self.g
        torch.bmm(W1, x, out=h).relu_()  # h = ReLU(W1 x)
        torch.baddbmm(self.b3, W2, h, out=out).relu_()  # y' = ReLU(W2 h + b)
        torch.sub(out, torch.abs(x, out=self.target), out=err)
        torch.mul(self.imp, err, out=g)  # weighted error
        torch.sum(err.mul_(g), dim=(1, 2), out=loss_row).div_(self.count)  # what mean(dim=(1, 2)) computes
        g.mul_(self.grad_scale).mul_(out.sign_())  # dL/d(pre-activation of y')
        torch.bmm(g, h.transpose(1, 2), out=grad_w2)
        torch.sum(g, dim=2, out=grad_b)
        torch.bmm(self.W2_t, g, out=self.g_pre1).mul_(h.sign_())
        torch.bmm(self.g_pre1, x.transpose(1, 2), out=grad_w1)

    def _adamw(self) -> None:
        """AdamW, as torch.optim.AdamW computes it, on W1, W2 and b at once."""
        for p in self.params:
            p.mul_(self.decay)
        self.m.lerp_(self.grad, self.beta1_weight)
        self.v.mul_(self.beta2).addcmul_(self.grad, self.grad, value=self.beta2_weight)
        torch.sqrt(self.v, out=self.denom).div_(self.root_bc2).add_(self.eps)
        torch.mul(self.m, self.step_size, out=self.update).div_(self.denom)
        for p, u in zip(self.params, self.updates, strict=True):
            p.sub_(u)


def abs_step_(
    x: Float[Tensor, "batch inst feats"],
    params: tuple[Tensor, Tensor, Tensor],
    moments: tuple[Tensor, ...],
    imp: Float[Tensor, "inst feats"],
    hyper: tuple[float, float, float, float, float],
    step: int,
    losses: Float[Tensor, "steps inst"],
) -> None:
    """Forward, hand-written gradients of the importance-weighted MSE to |x|, and AdamW, all in place.

    Each instance is a (feats, batch) matrix with the batch innermost, as in the toy model's fused step.
    """
    W1, W2, b = params
    lr, beta1, beta2, eps, wd = hyper
    n_batch, _, n_feats = x.shape
    x = x.permute(1, 2, 0).contiguous()  # inst feats batch (no copy for the batch functions' layout)
    pre1 = torch.bmm(W1, x)  # inst hidden batch
    h = torch.relu(pre1)
    out = torch.relu(torch.bmm(W2, h) + b.unsqueeze(-1))  # inst feats batch
    err = out - x.abs()
    weighted = imp.unsqueeze(-1) * err
    losses[step] = (weighted * err).mean(dim=(1, 2))
    g_out = weighted * (2.0 / (n_batch * n_feats)) * out.sign()  # dL/d(pre-activation of y'); sign() is ReLU'
    grad_w2 = torch.bmm(g_out, h.transpose(1, 2))
    grad_b = g_out.sum(dim=2)
    g_pre1 = torch.bmm(W2.transpose(1, 2), g_out) * h.sign()
    grad_w1 = torch.bmm(g_pre1, x.transpose(1, 2))
    t = step + 1
    step_size, root_bc2 = lr / (1 - beta1**t), math.sqrt(1 - beta2**t)
    for k, (param, grad) in enumerate(zip(params, (grad_w1, grad_w2, grad_b), strict=True)):
        m, v = moments[2 * k], moments[2 * k + 1]
        param.mul_(1 - lr * wd)  # AdamW, as torch.optim.AdamW computes it
        m.lerp_(grad, 1 - beta1)
        v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        param.sub_(step_size * m / (v.sqrt() / root_bc2 + eps))


def single_feature_inputs(n_instances: int, n_features: int, values: Float[Tensor, " points"]) -> Float[Tensor, "batch inst feats"]:
    """Every feature alone at every value: row p * n_features + i holds values[p] at feature i, 0 elsewhere."""
    eye = torch.eye(n_features, device=values.device)
    x = values[:, None, None] * eye[None]  # points feats feats
    return x.reshape(-1, 1, n_features).expand(-1, n_instances, n_features).contiguous()


@torch.no_grad()
def single_feature_outputs(model: AbsModel, values: Float[Tensor, " points"]) -> Float[Tensor, "inst feats points"]:
    """y'_i when feature i alone takes each value (the other features 0): the model's |x| curve per feature."""
    n_inst, n_feats = model.cfg.n_instances, model.cfg.n_features
    y = model(single_feature_inputs(n_inst, n_feats, values.to(model.b.device)))  # (points * feats) inst feats
    y = y.view(values.numel(), n_feats, n_inst, n_feats)
    own = y.diagonal(dim1=1, dim2=3)  # points inst feats
    return own.permute(1, 2, 0).cpu()
