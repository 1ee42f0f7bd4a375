"""Exercises of notebook 03 (toy models of superposition): batches, forward pass, loss, a training loop."""

from __future__ import annotations

from collections.abc import Callable

import torch
from jaxtyping import Float
from torch import Tensor

from course_utils.exercises import (
    Case,
    CheckFailure,
    Verifier,
    compare_values,
    make_exercise,
    verifier,
)
from course_utils.toy_models.model import linear_optimum_loss

NOTEBOOK = "03_toy_models"


def generate_batch(
    batch_size: int, density: Float[Tensor, "inst feats"], *, generator: torch.Generator
) -> Float[Tensor, "batch inst feats"]:
    """Each feature is 0 with probability 1 - density, else Uniform[0, 1]."""
    values = torch.rand(batch_size, *density.shape, generator=generator)
    on = torch.rand(batch_size, *density.shape, generator=generator) < density
    return values * on


GENERATE_BATCH_DENSITY = [[1.0, 1.0, 1.0], [0.5, 0.5, 0.5], [0.05, 0.05, 0.05], [0.9, 0.3, 0.1]]
GENERATE_BATCH_INPUTS = f"batch_size=20000, density={GENERATE_BATCH_DENSITY}"


def _probe_generate_batch(fn: Callable[..., Tensor]) -> tuple:
    """Three draws of 20000 rows: seed 0, seed 0 again, seed 1."""
    density = torch.tensor(GENERATE_BATCH_DENSITY)
    return tuple(fn(20_000, density.clone(), generator=torch.Generator().manual_seed(seed)) for seed in (0, 0, 1))


def _judge_generate_batch(got: tuple, expected: tuple) -> int:
    """A statistical verdict on the candidate's draws alone: shape, range, density, Uniform[0, 1], seeding."""
    density = torch.tensor(GENERATE_BATCH_DENSITY)
    shown = GENERATE_BATCH_INPUTS
    if not isinstance(got, tuple | list) or len(got) != 3:
        raise CheckFailure("expected three draws to be recorded", inputs=shown)
    x, again, other = got
    if not isinstance(x, Tensor):
        raise CheckFailure(f"expected a torch.Tensor, got {type(x).__name__}", inputs=shown)
    if x.shape != (20_000, *density.shape):
        raise CheckFailure(f"expected shape (batch, inst, feats) = (20000, 4, 3), got {tuple(x.shape)}", inputs=shown)
    if x.dtype != torch.float32:
        raise CheckFailure(f"expected dtype torch.float32, got {x.dtype}", inputs=shown)
    if x.min() < 0 or x.max() > 1:
        raise CheckFailure(f"values must lie in [0, 1]; got values from {x.min():.3g} to {x.max():.3g}", inputs=shown)
    active = (x > 0).float().mean(0)
    worst = (active - density).abs().max()
    if worst > 0.02:
        index = tuple(int(i) for i in ((active - density).abs() == worst).nonzero()[0])
        raise CheckFailure(
            f"the fraction of non-zero entries should equal the density; at (inst, feat) = {index} "
            f"density {density[index]:.2f} gave {active[index]:.3f} non-zero",
            inputs=shown,
        )
    on = x[x > 0]
    if abs(on.mean() - 0.5) > 0.02 or abs(on.var() - 1 / 12) > 0.01:
        raise CheckFailure(
            f"non-zero values should be Uniform[0, 1] (mean 0.5, variance 0.083); got mean {on.mean():.3f}, "
            f"variance {on.var():.3f}",
            inputs=shown,
        )
    if not (isinstance(again, Tensor) and again.shape == x.shape and torch.equal(x, again)):
        raise CheckFailure("two calls with identically seeded generators differ: draw every number with generator=generator", inputs=shown)
    if isinstance(other, Tensor) and other.shape == x.shape and torch.equal(x, other):
        raise CheckFailure("different seeds gave the same batch: draw every number with generator=generator", inputs=shown)
    return 4


def toy_forward(
    x: Float[Tensor, "batch inst feats"], W: Float[Tensor, "inst hidden feats"], b: Float[Tensor, "inst feats"]
) -> Float[Tensor, "batch inst feats"]:
    """h = W x, then x' = ReLU(W^T h + b), for every instance at once."""
    h = torch.einsum("bif,ihf->bih", x, W)
    return torch.relu(torch.einsum("bih,ihf->bif", h, W) + b)


def _toy_forward_cases() -> list[Case]:
    g = torch.Generator().manual_seed(3)
    square_w = torch.tensor([[[1.0, 2.0], [0.0, 1.0]]])  # hidden = feats: a transposed W runs but differs
    return [
        Case((torch.rand(8, 3, 5, generator=g), torch.randn(3, 2, 5, generator=g), torch.randn(3, 5, generator=g))),
        Case((torch.rand(4, 2, 6, generator=g), torch.randn(2, 3, 6, generator=g), torch.randn(2, 6, generator=g))),
        Case(
            (torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]]), square_w, torch.tensor([[0.0, 0.0]])),
            description="x = the two one-hot features, W = [[1, 2], [0, 1]] (hidden = feats = 2), b = 0",
        ),
        Case(
            (torch.tensor([[[1.0, 0.0]]]), torch.tensor([[[1.0, -1.0]]]), torch.tensor([[0.5, -0.2]])),
            description="x = [1, 0], W = [[1, -1]], b = [0.5, -0.2]: the bias shifts, the ReLU clips",
        ),
    ]


def weighted_mse(
    x_hat: Float[Tensor, "batch inst feats"], x: Float[Tensor, "batch inst feats"], importance: Float[Tensor, "inst feats"]
) -> Float[Tensor, " inst"]:
    """Each instance's loss: the mean over batch and features of importance * (x - x')^2."""
    return (importance * (x - x_hat) ** 2).mean(dim=(0, 2))


def _weighted_mse_cases() -> list[Case]:
    g = torch.Generator().manual_seed(4)
    imp = 0.9 ** torch.arange(5.0)
    return [
        Case((torch.rand(16, 3, 5, generator=g), torch.rand(16, 3, 5, generator=g), imp.expand(3, 5).clone())),
        Case((torch.rand(7, 2, 4, generator=g), torch.rand(7, 2, 4, generator=g), torch.rand(2, 4, generator=g))),
        Case(
            (torch.zeros(2, 1, 2), torch.ones(2, 1, 2), torch.tensor([[1.0, 0.0]])),
            description="x' = 0, x = 1, importance [1, 0]: only the first feature counts",
        ),
    ]


def train_toy(model: torch.nn.Module, next_batch: Callable[[], Tensor], *, steps: int, lr: float) -> Float[Tensor, " steps"]:
    """AdamW on the sum over instances of weighted_mse; return each step's loss (a CPU tensor)."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        x = next_batch()
        loss = weighted_mse(model(x), x, model.importance).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return torch.tensor(losses)


TRAIN_TOY_INPUTS = "a ToyModel(n_instances=3, densities 1, 0.3, 0.05), batches of 64, steps=30, lr=0.01"


def _probe_train_toy(fn: Callable[..., Tensor]) -> tuple:
    """Train a copy of one small model with `fn`; its losses, and W and b after training."""
    from course_utils.toy_models import ToyModel, ToyModelConfig

    cfg = ToyModelConfig(n_instances=3, density=(1.0, 0.3, 0.05))
    model = ToyModel(cfg, generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(6)
    losses = fn(model, lambda: generate_batch(64, cfg.density_tensor(), generator=g), steps=30, lr=0.01)
    return losses, model.W.detach(), model.b.detach()


def _judge_train_toy(got: tuple, expected: tuple) -> int:
    """The candidate's losses and trained W, b against the reference's, from the same start and batches."""
    if not isinstance(got, tuple | list) or len(got) != 3:
        raise CheckFailure("expected the losses, W and b to be recorded", inputs=TRAIN_TOY_INPUTS)
    losses, w, b = got
    ref_losses, ref_w, ref_b = expected
    if not isinstance(losses, Tensor):
        raise CheckFailure(f"return the losses as a tensor (torch.tensor(list)), got {type(losses).__name__}",
                           inputs=TRAIN_TOY_INPUTS)
    try:
        compare_values(losses.detach().float(), ref_losses, atol=1e-5, rtol=1e-3, where="losses")
        compare_values(w, ref_w, atol=1e-4, rtol=1e-3, where="W after training")
        compare_values(b, ref_b, atol=1e-4, rtol=1e-3, where="b after training")
    except CheckFailure as failure:
        failure.inputs = TRAIN_TOY_INPUTS
        raise
    return 1


make_exercise(
    name="generate_batch",
    notebook=NOTEBOOK,
    reference=generate_batch,
    verify=Verifier(generate_batch, _probe_generate_batch, _judge_generate_batch, GENERATE_BATCH_INPUTS),
    summary="sparse feature batches: 0 w.p. 1 - density, else Uniform[0, 1]",
)
make_exercise(
    name="toy_forward",
    notebook=NOTEBOOK,
    reference=toy_forward,
    verify=verifier(toy_forward, _toy_forward_cases),
    summary="the toy model's forward pass, all instances at once",
)
make_exercise(
    name="weighted_mse",
    notebook=NOTEBOOK,
    reference=weighted_mse,
    verify=verifier(weighted_mse, _weighted_mse_cases),
    summary="importance-weighted squared error per instance",
)
make_exercise(
    name="train_toy",
    notebook=NOTEBOOK,
    reference=train_toy,
    verify=Verifier(train_toy, _probe_train_toy, _judge_train_toy, TRAIN_TOY_INPUTS),
    summary="one AdamW training loop over all instances",
)



def _linear_optimum_cases() -> list[Case]:
    g = torch.Generator().manual_seed(33)
    return [
        Case((torch.tensor([[1.0, 0.9, 0.8]]), torch.tensor([[0.01, 1.0, 1.0]]), 1),
             description="importance (1, 0.9, 0.8), density (0.01, 1, 1), 1 hidden: keep the most *variable* feature"),
        Case((torch.tensor([[1.0, 0.9, 0.81, 0.73, 0.66]]), torch.full((1, 5), 0.1), 2),
             description="notebook 03's importance 0.9^i at density 0.1, 2 hidden"),
        Case((torch.rand(4, 6, generator=g), torch.rand(4, 6, generator=g), 3), description="4 instances, random importance and density"),
        Case((torch.rand(2, 3, generator=g), torch.rand(2, 3, generator=g), 3), description="as many hidden dimensions as features: loss 0"),
    ]


make_exercise(
    name="linear_optimum_loss",
    notebook=NOTEBOOK,
    reference=linear_optimum_loss,
    verify=verifier(linear_optimum_loss, _linear_optimum_cases, atol=1e-6, rtol=1e-4),
    summary="the best linear model's loss, derived (PCA with a bias), checked against training",
)
