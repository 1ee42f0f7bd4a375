"""Correlated / anticorrelated feature batches: their statistics, errors, and the geometry they train (TMS section 8)."""

from __future__ import annotations

import pytest
import torch

from course_utils.data.correlated import feature_batch, feature_batches, pair_cosines
from course_utils.toy_models import ToyModel, ToyModelConfig, TrainConfig, train


def _batch(correlation: str, p: float = 0.2, n: int = 6, size: int = 20_000, seed: int = 0) -> torch.Tensor:
    density = torch.full((2, n), p)
    return feature_batch(size, density, correlation=correlation, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("correlation", ["independent", "correlated", "anticorrelated"])
def test_each_feature_is_on_with_probability_p_and_uniform(correlation):
    x = _batch(correlation)
    assert x.shape == (20_000, 2, 6)
    on = x > 0
    assert torch.allclose(on.float().mean(0), torch.full((2, 6), 0.2), atol=0.015)
    assert abs(x[on].mean().item() - 0.5) < 0.01 and x.max() < 1


def test_correlated_pairs_are_on_together():
    on = _batch("correlated") > 0
    assert torch.equal(on[..., 0::2], on[..., 1::2])
    assert not torch.equal(on[..., 0], on[..., 2])  # different pairs stay independent


def test_anticorrelated_pairs_are_never_on_together():
    on = _batch("anticorrelated") > 0
    assert not (on[..., 0::2] & on[..., 1::2]).any()
    pair_on = (on[..., 0::2] | on[..., 1::2]).float().mean()
    assert abs(pair_on.item() - 0.4) < 0.015


def test_independent_features_co_occur_at_p_squared():
    on = _batch("independent", p=0.3) > 0
    both = (on[..., 0] & on[..., 1]).float().mean().item()
    assert abs(both - 0.09) < 0.01


def test_same_seed_same_sequence_and_steps_differ():
    make = lambda: feature_batches(0.3, n_instances=2, n_features=4, correlation="correlated",  # noqa: E731
                                   batch_size=64, generator=torch.Generator().manual_seed(5))
    a, b = make(), make()
    first, second = a(0), a(1)
    assert torch.equal(first, b(0)) and torch.equal(second, b(1))
    assert not torch.equal(first, second)


def test_density_per_instance():
    batches = feature_batches((0.5, 0.05), n_instances=2, n_features=4, batch_size=20_000,
                              generator=torch.Generator().manual_seed(1))
    rate = (batches() > 0).float().mean(dim=(0, 2))
    assert torch.allclose(rate, torch.tensor([0.5, 0.05]), atol=0.01)


@pytest.mark.parametrize("kwargs,match", [
    (dict(correlation="both"), "correlation must be one of"),
    (dict(correlation="correlated", n_features=5), "even number"),
    (dict(correlation="anticorrelated", density=0.6), "density <= 0.5"),
    (dict(batch_size=0), "batch_size"),
    (dict(density=(0.1, 0.2, 0.3)), "one density per instance"),
])
def test_bad_arguments_are_explained(kwargs, match):
    args = dict(density=0.2, n_instances=2, n_features=4, generator=torch.Generator())
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        feature_batches(**args)


def test_pairs_need_equal_densities():
    with pytest.raises(ValueError, match="equal densities"):
        feature_batch(4, torch.tensor([[0.1, 0.2]]), correlation="correlated", generator=torch.Generator())


def test_pair_cosines_hand_case():
    W = torch.tensor([[[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 2.0]]])
    assert torch.allclose(pair_cosines(W), torch.tensor([[-1.0, 1.0]]), atol=1e-5)
    with pytest.raises(ValueError, match="even number"):
        pair_cosines(torch.zeros(1, 2, 3))


def _train_pairs(correlation: str, density: float, seed: int, steps: int = 1500) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    cfg = ToyModelConfig(n_features=4, d_hidden=2, n_instances=4, importance=(1.0,) * 4, density=(density,) * 4)
    model = ToyModel(cfg, generator=g)
    train(model, TrainConfig(steps=steps, lr=1e-2, batch_size=512, progress=False),
          feature_batches(density, n_instances=4, n_features=4, correlation=correlation, batch_size=512, generator=g))
    return model.W.detach()


def test_anticorrelated_pairs_train_antipodal():
    """4 features in 2-D, p = 0.3, 4 instances, 1500 steps (~2 s): every anticorrelated pair ends antipodal."""
    cos = pair_cosines(_train_pairs("anticorrelated", 0.3, seed=11))
    assert (cos < -0.9).all(), cos


def test_independent_pairs_are_not_all_antipodal():
    """The same run with independent features: the designated pairs are not all antipodal (the control)."""
    cos = pair_cosines(_train_pairs("independent", 0.3, seed=11))
    assert not (cos < -0.9).all(), cos
