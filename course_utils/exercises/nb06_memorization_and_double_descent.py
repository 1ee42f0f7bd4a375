"""Exercises of notebook 06 (memorization and double descent): the unit-norm sparse data, a fixed full batch,
datapoint and feature vectors, their dimensionality, and the loss on fresh test data."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from einops import einsum
from jaxtyping import Float
from torch import Tensor

from course_utils.exercises import Case, CheckFailure, make_exercise, replayed, verifier
from course_utils.toy_models.memorization import (
    reconstruction_loss,
    tile_datasets,
    unit_sparse_dataset,
)

NOTEBOOK = "06_memorization_and_double_descent"


# --- 1. the data -------------------------------------------------------------------------------------------------

def _verify_unit_sparse_dataset(candidate: Callable[..., Tensor]) -> int:
    size, n, density = 20_000, 50, 0.1
    shown = f"size={size}, n_features={n}, density={density}"
    x = candidate(size, n, density, generator=torch.Generator().manual_seed(0))
    if not isinstance(x, Tensor):
        raise CheckFailure(f"expected a torch.Tensor, got {type(x).__name__}", inputs=shown)
    if x.shape != (size, n) or x.dtype != torch.float32:
        raise CheckFailure(f"expected a float32 tensor of shape (size, n_features) = ({size}, {n}); got {x.dtype} "
                           f"{tuple(x.shape)}", inputs=shown)
    if x.min() < 0:
        raise CheckFailure(f"features are non-negative (U[0, 1] before rescaling); got a value {x.min():.3g}", inputs=shown)
    active = float((x > 0).float().mean())
    if abs(active - density) > 0.01:
        raise CheckFailure(f"a fraction {density} of the entries should be non-zero; got {active:.3f}", inputs=shown)
    norms = x.norm(dim=1)
    nonempty = (x > 0).any(dim=1)
    bad = (norms[nonempty] - 1).abs().max()
    if bad > 1e-4:
        row = int(torch.nonzero(nonempty)[int((norms[nonempty] - 1).abs().argmax())])
        raise CheckFailure(f"every point (row) with an active feature must have unit L2 norm; row {row} has norm "
                           f"{norms[row]:.4f} (normalise each row, not each column, with the L2 norm)", inputs=shown)
    if torch.isnan(x).any() or (norms[~nonempty] != 0).any():
        raise CheckFailure("a point with no active feature must stay all zeros (no division by zero, no NaN)", inputs=shown)
    reference = unit_sparse_dataset(200_000, n, density, generator=torch.Generator().manual_seed(1))
    on_ref, on = reference[reference > 0], x[x > 0]
    if abs(on.mean() - on_ref.mean()) > 0.01:
        raise CheckFailure(f"the non-zero entries should average {on_ref.mean():.3f} (U[0, 1] values, then each row "
                           f"rescaled); got {on.mean():.3f}", inputs=shown)
    if not torch.equal(x, candidate(size, n, density, generator=torch.Generator().manual_seed(0))):
        raise CheckFailure("two calls with identically seeded generators differ: draw every number with generator=generator",
                           inputs=shown)
    if torch.equal(x, candidate(size, n, density, generator=torch.Generator().manual_seed(2))):
        raise CheckFailure("different seeds gave the same data: draw every number with generator=generator", inputs=shown)
    return 6


make_exercise(name="unit_sparse_dataset", notebook=NOTEBOOK, reference=unit_sparse_dataset,
              verify=replayed(unit_sparse_dataset, _verify_unit_sparse_dataset), summary="sparse points rescaled to unit norm")


# --- 2. a fixed full batch ---------------------------------------------------------------------------------------

def fixed_batches(datasets: Sequence[Float[Tensor, "size feats"]]) -> Callable[[Tensor], Float[Tensor, "batch inst feats"]]:
    """A batch function that returns, at every step, the same full batch: each dataset tiled to the largest size."""
    batch = tile_datasets(datasets)
    return lambda step: batch


def _fixed_batch_datasets(sizes: Sequence[int], n: int, seed: int) -> list[Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(t, n, generator=g) + 0.05 for t in sizes]  # distinct, non-zero rows


def _verify_fixed_batches(candidate: Callable[..., Callable[[Tensor], Tensor]]) -> int:
    cases = [((2, 4, 8), 6, 0), ((3, 6, 6, 1), 5, 1), ((5,), 4, 2)]
    for sizes, n, seed in cases:
        datasets = _fixed_batch_datasets(sizes, n, seed)
        shown = f"datasets of sizes {list(sizes)}, {n} features"
        batch_fn = candidate([d.clone() for d in datasets])
        if not callable(batch_fn):
            raise CheckFailure(f"expected a batch function (step -> batch), got {type(batch_fn).__name__}", inputs=shown)
        batches = [batch_fn(torch.tensor(step)) for step in (0, 1, 7)]
        largest = max(sizes)
        for b in batches:
            if not isinstance(b, Tensor) or b.shape != (largest, len(sizes), n):
                got = tuple(b.shape) if isinstance(b, Tensor) else type(b).__name__
                raise CheckFailure(f"expected a batch of shape (largest size, inst, feats) = ({largest}, {len(sizes)}, {n}); "
                                   f"got {got}", inputs=shown)
        if not (torch.equal(batches[0], batches[1]) and torch.equal(batches[0], batches[2])):
            raise CheckFailure("steps 0, 1 and 7 gave different batches: full-batch training shows the same fixed "
                               "training set at every step, not fresh data", inputs=shown)
        for i, data in enumerate(datasets):
            rows = batches[0][:, i]
            distance = torch.cdist(rows, data)
            nearest = distance.min(dim=1)
            if (nearest.values > 1e-6).any():
                k = int((nearest.values > 1e-6).nonzero()[0])
                raise CheckFailure(f"row {k} of instance {i} is not one of its {data.shape[0]} training points (fresh data? "
                                   "zero padding? another instance's data?)", inputs=shown)
            counts = torch.bincount(nearest.indices, minlength=data.shape[0])
            if (counts != largest // data.shape[0]).any():
                raise CheckFailure(f"instance {i} holds its {data.shape[0]} points {counts.tolist()} times; each must appear "
                                   f"{largest // data.shape[0]} times, so that the batch's mean loss is the dataset's mean",
                                   inputs=shown)
    return len(cases)


make_exercise(name="fixed_batches", notebook=NOTEBOOK, reference=fixed_batches, verify=replayed(fixed_batches, _verify_fixed_batches),
              summary="the same full batch at every step, each dataset tiled to the largest size")


# --- 3. datapoints and features ----------------------------------------------------------------------------------

def datapoints_and_features(
    W: Float[Tensor, "inst hidden feats"], x: Float[Tensor, "batch inst feats"]
) -> tuple[Float[Tensor, "inst batch hidden"], Float[Tensor, "inst feats hidden"]]:
    """The hidden vectors h_t = W x_t of the points, and the feature directions W_i, both as (inst, k, hidden)."""
    h = einsum(x, W, "batch inst feats, inst hidden feats -> inst batch hidden")
    return h, W.transpose(1, 2)


def _datapoints_and_features_cases() -> list[Case]:
    g = torch.Generator().manual_seed(6)
    return [
        Case((torch.randn(3, 2, 5, generator=g), torch.rand(7, 3, 5, generator=g))),
        Case((torch.randn(2, 4, 4, generator=g), torch.rand(5, 2, 4, generator=g)),
             description="W (2, 4, 4): hidden = feats, so a transposed W runs but differs"),
        Case((torch.randn(1, 2, 6, generator=g), torch.rand(6, 1, 6, generator=g)),
             description="W (1, 2, 6), x (6, 1, 6): as many points as features"),
    ]


make_exercise(name="datapoints_and_features", notebook=NOTEBOOK, reference=datapoints_and_features,
              verify=verifier(datapoints_and_features, _datapoints_and_features_cases),
              summary="h_t = W x_t and W_i side by side")


# --- 4. dimensionality -------------------------------------------------------------------------------------------

def dimensionality(v: Float[Tensor, "inst k hidden"], eps: float = 1e-12) -> Float[Tensor, "inst k"]:
    """D_k = ||v_k||^2 / sum_j (v_hat_k . v_j)^2 (j = k included); 0 for a zero vector."""
    norm_sq = (v**2).sum(dim=-1)
    v_hat = v / (norm_sq.sqrt().unsqueeze(-1) + eps)
    overlap = einsum(v_hat, v, "inst k1 hidden, inst k2 hidden -> inst k1 k2") ** 2
    return norm_sq / (overlap.sum(-1) + eps)


def _polygon(k: int, radius: float = 1.0) -> Tensor:
    angles = torch.arange(k) * 2 * torch.pi / k
    return radius * torch.stack([angles.cos(), angles.sin()], dim=-1)


def _dimensionality_cases() -> list[Case]:
    g = torch.Generator().manual_seed(4)
    uneven = torch.tensor([[[3.0, 0.0], [0.5, 0.5], [0.0, 0.2], [-1.0, 0.4]]])
    with_zero = torch.randn(2, 5, 3, generator=g)
    with_zero[1, 2] = 0.0
    return [
        Case((torch.stack([_polygon(8, 2.0)]),), description="an octagon of radius 2 (D = 2/8 each)"),
        Case((uneven,), description="four 2-D vectors of very different lengths"),
        Case((with_zero,), description="random 3-D vectors, one of them zero (D = 0)"),
        Case((torch.randn(3, 6, 2, generator=g),)),
    ]


make_exercise(name="dimensionality", notebook=NOTEBOOK, reference=dimensionality,
              verify=verifier(dimensionality, _dimensionality_cases, atol=1e-5, rtol=1e-4),
              summary="D = ||v||^2 / sum_j (v_hat . v_j)^2, for datapoints and features alike")


# --- 5. train and test loss --------------------------------------------------------------------------------------

def train_and_test_loss(
    W: Float[Tensor, "inst hidden feats"],
    b: Float[Tensor, "inst feats"],
    train_x: Float[Tensor, "batch inst feats"],
    *,
    n_test: int,
    density: float,
    generator: torch.Generator,
) -> tuple[Float[Tensor, " inst"], Float[Tensor, " inst"]]:
    """The paper's loss (summed over features, averaged over points) on the training set and on n_test fresh points."""
    test_x = unit_sparse_dataset(n_test, W.shape[2], density, generator=generator)
    return reconstruction_loss(W, b, train_x), reconstruction_loss(W, b, test_x.unsqueeze(1).expand(-1, W.shape[0], -1))


def _loss_case() -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(5)
    n = 20
    W = torch.randn(2, 2, n, generator=g) * 0.6
    b = -0.1 * torch.rand(2, n, generator=g)
    W[0, :, :4] = torch.tensor([[1.2, 0.0, -1.2, 0.0], [0.0, 1.2, 0.0, -1.2]])  # instance 0 memorises 4 points
    train_x = torch.zeros(4, 2, n)
    train_x[torch.arange(4), :, torch.arange(4)] = 1.0  # each a single feature: unlike the test points
    return W, b, train_x


def _verify_train_and_test_loss(candidate: Callable[..., tuple[Tensor, Tensor]]) -> int:
    W, b, train_x = _loss_case()
    density, n_test = 0.1, 20_000
    shown = "W (2, 2, 20), b (2, 20), train_x (4, 2, 20): four single-feature points; n_test=20000, density=0.1"
    got = candidate(W.clone(), b.clone(), train_x.clone(), n_test=n_test, density=density,
                    generator=torch.Generator().manual_seed(0))
    if not isinstance(got, tuple | list) or len(got) != 2 or not all(isinstance(t, Tensor) and t.shape == (2,) for t in got):
        raise CheckFailure("expected a tuple (train_loss, test_loss) of two tensors of shape (inst,) = (2,)", inputs=shown)
    train, test = (t.detach().float() for t in got)
    expected_train = reconstruction_loss(W, b, train_x)
    if not torch.allclose(train, expected_train, atol=1e-5, rtol=1e-4):
        ratio = float((train / expected_train).mean())
        hint = " (you averaged over the features: the paper sums them)" if abs(ratio * W.shape[2] - 1) < 0.05 else ""
        raise CheckFailure(f"train loss: expected {expected_train.tolist()}, got {train.tolist()}{hint}", inputs=shown)
    big = unit_sparse_dataset(200_000, W.shape[2], density, generator=torch.Generator().manual_seed(9))
    h = einsum(big, W, "batch feats, inst hidden feats -> batch inst hidden")
    out = torch.relu(einsum(h, W, "batch inst hidden, inst hidden feats -> batch inst feats") + b)
    losses = ((out - big.unsqueeze(1)) ** 2).sum(-1)  # batch inst
    expected_test, spread = losses.mean(0), 5 * losses.std(0) / n_test**0.5 + 1e-3
    if torch.allclose(test, train, atol=1e-6) and not torch.allclose(expected_test, train, atol=0.05):
        raise CheckFailure("the test loss equals the training loss: measure it on n_test fresh points drawn with "
                           "unit_sparse_dataset, not on train_x", inputs=shown)
    if ((test - expected_test).abs() > spread).any():
        raise CheckFailure(f"test loss: expected about {[round(v, 3) for v in expected_test.tolist()]} (fresh unit-norm "
                           f"points of this density), got {[round(v, 3) for v in test.tolist()]}", inputs=shown)
    again = candidate(W.clone(), b.clone(), train_x.clone(), n_test=n_test, density=density,
                      generator=torch.Generator().manual_seed(0))
    if not torch.equal(again[1], got[1]):
        raise CheckFailure("two calls with identically seeded generators differ: draw the test set with generator=generator",
                           inputs=shown)
    return 3


make_exercise(name="train_and_test_loss", notebook=NOTEBOOK, reference=train_and_test_loss,
              verify=replayed(train_and_test_loss, _verify_train_and_test_loss), summary="the loss on the fixed training set and on fresh data")
