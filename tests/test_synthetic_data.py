"""Tests of course_utils.data.synthetic (Sharkey et al. 2022's generator)."""

from __future__ import annotations

import pytest
import torch

from course_utils.data.synthetic import (
    SyntheticConfig,
    feature_directions,
    feature_probabilities,
    sample_active,
    sample_coefficients,
    synthetic_batch,
    synthetic_batches,
)


def test_defaults_are_sharkey_et_al():
    cfg = SyntheticConfig()
    assert (cfg.n_feats, cfg.d_hidden, cfg.mean_active, cfg.decay) == (512, 256, 5.0, 0.99)


def test_probabilities_decay_geometrically_and_sum_to_mean_active():
    p = feature_probabilities(SyntheticConfig())
    assert abs(float(p.sum()) - 5.0) < 1e-4
    torch.testing.assert_close(p[1:] / p[:-1], torch.full((511,), 0.99))


def test_directions_are_unit_norm_and_seeded():
    cfg = SyntheticConfig(n_feats=20, d_hidden=8)
    a = feature_directions(cfg, generator=torch.Generator().manual_seed(0))
    b = feature_directions(cfg, generator=torch.Generator().manual_seed(0))
    assert a.shape == (20, 8) and torch.equal(a, b)
    torch.testing.assert_close(a.norm(dim=-1), torch.ones(20))


def test_coefficients_have_the_right_rates_and_range():
    probs = torch.tensor([0.5, 0.1, 0.01])
    c = sample_coefficients(probs, 200_000, generator=torch.Generator().manual_seed(0))
    rates = (c > 0).float().mean(0)
    torch.testing.assert_close(rates, probs, atol=3e-3, rtol=0.05)
    assert float(c.min()) >= 0.0 and float(c.max()) <= 1.0
    active = c[:, 0][c[:, 0] > 0]
    assert abs(float(active.mean()) - 0.5) < 0.01  # Uniform[0, 1] given active


def test_mean_number_active_and_batch_is_the_sum_of_directions():
    cfg = SyntheticConfig(n_feats=64, d_hidden=16, mean_active=3)
    directions, probs = feature_directions(cfg, generator=torch.Generator().manual_seed(0)), feature_probabilities(cfg)
    x, c = synthetic_batch(directions, probs, 20_000, generator=torch.Generator().manual_seed(1))
    assert abs(float((c > 0).sum(1).float().mean()) - 3.0) < 0.05
    torch.testing.assert_close(x, c @ directions)
    stream = synthetic_batches(directions, probs, 7, generator=torch.Generator().manual_seed(2))
    assert next(stream).shape == (7, 16)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="exceed 1"):
        SyntheticConfig(n_feats=4, mean_active=10)
    with pytest.raises(ValueError, match="decay"):
        SyntheticConfig(decay=1.5)
    with pytest.raises(ValueError, match="must match"):
        synthetic_batch(torch.randn(5, 3), torch.rand(4), 2)


def test_active_entries_are_independent_bernoulli_draws():
    probs = torch.tensor([1.0, 0.3, 0.05, 0.0])
    inputs, feature = sample_active(probs, 100_000, generator=torch.Generator().manual_seed(3))
    assert bool((inputs[1:] >= inputs[:-1]).all())  # sorted by input
    active = torch.zeros(100_000, 4, dtype=torch.bool)
    active[inputs, feature] = True
    assert int(active.sum()) == inputs.shape[0]  # no entry drawn twice
    assert bool(active[:, 0].all()) and not bool(active[:, 3].any())
    for i, p in ((1, 0.3), (2, 0.05)):
        column = active[:, i].float()
        assert abs(float(column.mean()) - p) < 4 * (p * (1 - p) / 100_000) ** 0.5
        neighbours = float((column[1:] * column[:-1]).mean())  # independent draws: p^2
        assert abs(neighbours - p * p) < 4 * (p * p / 100_000) ** 0.5
    per_batch = active[:, 1].view(1000, 100).sum(1).float()  # Binomial(100, 0.3): variance 21
    assert 17 < float(per_batch.var()) < 25
