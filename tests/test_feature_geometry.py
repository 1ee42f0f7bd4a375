"""Feature dimensionality, the privileged-basis model, monosemantic neurons, kurtosis, and the optimiser comparison."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from course_utils.data.correlated import feature_batches
from course_utils.toy_models import ToyModel, ToyModelConfig, TrainConfig, train
from course_utils.toy_models.feature_geometry import (
    STICKY_FRACTIONS,
    PrivilegedToyModel,
    basis_alignment,
    dimensions_per_feature,
    excess_kurtosis,
    feature_dimensionality,
    monosemantic_neurons,
    random_rotation,
    train_density_sweep,
    train_with_optimizer,
)


def _polygon(k: int) -> torch.Tensor:
    angles = torch.arange(k) * 2 * math.pi / k
    return torch.stack([torch.cos(angles), torch.sin(angles)])[None]


def _tetrahedron() -> torch.Tensor:
    v = torch.tensor([[1.0, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / math.sqrt(3)
    return v.T[None]


@pytest.mark.parametrize("W,value", [
    (torch.tensor([[[1.0, -1.0]]]), 1 / 2),
    (_polygon(3), 2 / 3),
    (_polygon(5), 2 / 5),
    (_tetrahedron(), 3 / 4),
    (torch.eye(3)[None] * 0.7, 1.0),
])
def test_dimensionality_of_the_sticky_configurations(W, value):
    assert torch.allclose(feature_dimensionality(W), torch.full((1, W.shape[2]), value), atol=1e-5)
    assert value in STICKY_FRACTIONS.values()


def test_dimensionality_is_scale_and_rotation_invariant_and_zero_for_dead_features():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(2, 4, 9, generator=g)
    q = random_rotation(4, generator=g)
    assert torch.allclose(feature_dimensionality(3 * W), feature_dimensionality(W), atol=1e-5)
    assert torch.allclose(feature_dimensionality(einsum_rotate(q, W)), feature_dimensionality(W), atol=1e-4)
    W[:, :, 0] = 0
    assert (feature_dimensionality(W)[:, 0] == 0).all()


def einsum_rotate(q: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,kjf->kif", q, W)


def test_dimensions_per_feature():
    assert torch.allclose(dimensions_per_feature(_polygon(5)), torch.tensor([0.4]))
    with pytest.raises(ValueError, match="inst, hidden, feats"):
        dimensions_per_feature(torch.zeros(2, 3))


def test_density_sweep_reproduces_the_sticky_half():
    """n = 100, m = 10, 3 densities, 800 + 200 steps (~5 s): D* ~ 1 dense, D_i ~ 1/2 at 1/(1-S) = 3, D* falling."""
    inverse = torch.tensor([1.0, 3.0, 20.0])
    model = train_density_sweep(1 / inverse, steps=(800, 200), generator=torch.Generator().manual_seed(0), progress=False)
    W = model.W.detach()
    d_star, d_i, live = dimensions_per_feature(W), feature_dimensionality(W), W.norm(dim=1) > 0.5
    assert abs(d_star[0] - 1) < 0.05
    assert ((d_i[1][live[1]] - 0.5).abs() < 0.05).float().mean() >= 0.8, d_i[1][live[1]]
    assert d_star[0] > d_star[1] > d_star[2]
    assert d_star[2] < 0.25


def test_privileged_model_is_not_rotation_invariant():
    cfg = ToyModelConfig(n_features=6, d_hidden=3, n_instances=2)
    model = PrivilegedToyModel(cfg, generator=torch.Generator().manual_seed(1))
    x = torch.rand(16, 2, 6, generator=torch.Generator().manual_seed(2))
    out = model(x)
    assert out.shape == (16, 2, 6) and (out >= 0).all()
    rotated = copy.deepcopy(model)
    q = random_rotation(3, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        rotated.W.copy_(einsum_rotate(q, model.W))
    assert not torch.allclose(rotated(x), out, atol=1e-3)
    plain = ToyModel(cfg, generator=torch.Generator().manual_seed(1))  # the same W: no hidden ReLU differs
    assert not torch.allclose(plain(x), out)
    with pytest.raises(ValueError, match="x must have shape"):
        model(torch.zeros(4, 6))


def test_monosemantic_neurons_hand_case():
    W = torch.tensor([[[1.0, 0.2, -3.0], [1.0, 0.5, 0.0], [0.05, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    assert monosemantic_neurons(W).tolist() == [[True, False, False, False]]
    assert monosemantic_neurons(W, ratio=1.5).tolist() == [[True, True, False, False]]


def test_neurons_are_more_monosemantic_when_dense():
    """TMS section 7 at n = 10, m = 5, importance 0.75^i, 1500 steps of batch 512 (~2 s): density 1 against 0.01."""
    density = (1.0, 0.01)
    cfg = ToyModelConfig(n_features=10, d_hidden=5, n_instances=2, importance_decay=0.75, density=density)
    g = torch.Generator().manual_seed(2)
    model = PrivilegedToyModel(cfg, generator=g)
    train(model, TrainConfig(steps=1500, batch_size=512, lr=3e-2, progress=False),
          feature_batches(density, n_instances=2, n_features=10, batch_size=512, generator=g))
    counts = monosemantic_neurons(model.W.detach()).sum(-1)
    assert counts[0] > counts[1], counts
    assert counts[0] >= 4


def test_excess_kurtosis_known_distributions():
    g = torch.Generator().manual_seed(4)
    gauss = torch.randn(200_000, 1, 2, generator=g) * 2 + 1
    uniform = torch.rand(200_000, 1, 2, generator=g)
    assert excess_kurtosis(gauss).abs().max() < 0.05
    assert torch.allclose(excess_kurtosis(uniform), torch.full((1, 2), -1.2), atol=0.02)
    with pytest.raises(ValueError, match="batch, inst, hidden"):
        excess_kurtosis(torch.zeros(5, 3))


def test_random_rotation_is_orthogonal():
    q = random_rotation(6, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(q @ q.T, torch.eye(6), atol=1e-5)


def test_basis_alignment_sees_axis_aligned_heavy_tails():
    g = torch.Generator().manual_seed(6)
    sparse = torch.rand(50_000, 1, 4, generator=g) * (torch.rand(50_000, 1, 4, generator=g) < 0.05)
    aligned = basis_alignment(sparse, generator=g)
    gaussian = basis_alignment(torch.randn(50_000, 1, 4, generator=g), generator=g)
    assert aligned.ratio.item() > 2
    assert abs(gaussian.neuron_basis.item() - gaussian.rotated.item()) < 0.1
    with pytest.raises(ValueError, match="rotations"):
        basis_alignment(sparse, rotations=0, generator=g)


def test_train_with_optimizer_lowers_the_loss_and_sgd_from_the_same_start():
    cfg = ToyModelConfig(n_features=8, d_hidden=3, n_instances=2, density=(0.2, 0.2))
    start = ToyModel(cfg, generator=torch.Generator().manual_seed(7))
    for make in (lambda p: torch.optim.Adam(p, lr=1e-2), lambda p: torch.optim.SGD(p, lr=3.0)):
        model = copy.deepcopy(start)
        batches = feature_batches(0.2, n_instances=2, n_features=8, batch_size=256, generator=torch.Generator().manual_seed(8))
        losses = train_with_optimizer(model, make, batches, steps=300, progress=False)
        assert losses.shape == (300, 2)
        assert (losses[-30:].mean(0) < 0.8 * losses[:10].mean(0)).all()
    with pytest.raises(ValueError, match="steps"):
        train_with_optimizer(start, make, batches, steps=0)
