"""Sparse feature batches: shapes, densities, the Uniform[0, 1] values, seeding, the hashed batch function."""

from __future__ import annotations

import pytest
import torch

from course_utils.data.sparse import (
    SparseBatches,
    as_density,
    hash_uniform,
    sparse_batch,
    sparse_batches,
)

DENSITY = as_density(torch.tensor([1.0, 0.3, 0.05]), 3, 4)


def test_as_density_broadcasts_and_validates():
    assert as_density(0.5, 2, 3).shape == (2, 3)
    assert torch.equal(as_density([1.0, 0.5], 2, 3)[1], torch.full((3,), 0.5))
    table = torch.rand(2, 3) * 0.5 + 0.1
    assert torch.equal(as_density(table, 2, 3), table)
    with pytest.raises(ValueError, match="one density per instance"):
        as_density([1.0, 0.5, 0.2], 2, 3)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        as_density([1.0, 0.0], 2, 3)
    with pytest.raises(ValueError, match="expected"):
        as_density(torch.ones(3, 2), 2, 3)


@pytest.mark.parametrize("draw", ["reference", "hashed"])
def test_batches_have_the_right_density_and_values(draw):
    g = torch.Generator().manual_seed(0)
    if draw == "reference":
        x = sparse_batch(50_000, DENSITY, generator=g)
    else:
        x = sparse_batches(DENSITY, batch_size=50_000, generator=g)(torch.tensor(7))
    assert x.shape == (50_000, 3, 4) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() < 1
    active = (x > 0).float().mean(0)
    assert torch.allclose(active, DENSITY, atol=0.01)
    on = x[x > 0]
    assert abs(on.mean() - 0.5) < 0.01 and abs(on.var() - 1 / 12) < 0.005
    # Uniform on [0, 1): each decile holds a tenth of the active values.
    deciles = torch.histc(on, bins=10, min=0, max=1) / on.numel()
    assert torch.allclose(deciles, torch.full((10,), 0.1), atol=0.01)


def test_reference_batch_is_seeded_by_its_generator():
    a = sparse_batch(64, DENSITY, generator=torch.Generator().manual_seed(1))
    b = sparse_batch(64, DENSITY, generator=torch.Generator().manual_seed(1))
    c = sparse_batch(64, DENSITY, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_batch_function_is_pure_in_the_step_and_differs_between_steps_and_keys():
    fn = sparse_batches(DENSITY, batch_size=256, generator=torch.Generator().manual_seed(3))
    assert isinstance(fn, SparseBatches) and fn.n_instances == 3 and fn.n_features == 4
    assert torch.equal(fn(torch.tensor(5)), fn(5))
    assert not torch.equal(fn(5), fn(6))
    other = sparse_batches(DENSITY, batch_size=256, generator=torch.Generator().manual_seed(4))
    assert not torch.equal(fn(5), other(5))
    again = sparse_batches(DENSITY, batch_size=256, generator=torch.Generator().manual_seed(3))
    assert torch.equal(fn(5), again(5))


def test_hashed_numbers_are_uncorrelated_across_steps_and_positions():
    positions = torch.arange(200_000, dtype=torch.int64)
    from course_utils.data.sparse import _lowbias32

    hashed = _lowbias32(positions)
    u0, u1 = hash_uniform(hashed, 11, 0), hash_uniform(hashed, 11, 1)
    assert abs(torch.corrcoef(torch.stack([u0, u1]))[0, 1]) < 0.01
    assert abs(torch.corrcoef(torch.stack([u0[:-1], u0[1:]]))[0, 1]) < 0.01
    assert abs(u0.mean() - 0.5) < 0.005


def test_int32_hash_equals_the_int64_reference():
    from course_utils.data.sparse import _lowbias32, _lowbias32_int32

    x = torch.randint(0, 2**32, (100_000,), dtype=torch.int64, generator=torch.Generator().manual_seed(0))
    x32 = (x - (x >> 31 << 32)).to(torch.int32)
    assert torch.equal(_lowbias32_int32(x32).to(torch.int64) & 0xFFFFFFFF, _lowbias32(x))
    for key, step in [(0, 0), (12345, 7), (2**31 - 1, 10**6)]:
        assert torch.equal(hash_uniform(x32, key, step), hash_uniform(x, key, step))


def test_errors_say_what_to_pass():
    with pytest.raises(ValueError, match="as_density"):
        sparse_batch(4, torch.ones(3), generator=torch.Generator())
    with pytest.raises(ValueError, match="batch_size"):
        sparse_batches(DENSITY, batch_size=0, generator=torch.Generator())
