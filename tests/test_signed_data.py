"""Tests of course_utils.data.signed: signed sparse batches, the reference and the batch function."""

from __future__ import annotations

import pytest
import torch

from course_utils.data.signed import SignedSparseBatches, signed_sparse_batch, signed_sparse_batches
from course_utils.data.sparse import as_density

DENSITY = as_density([1.0, 0.5, 0.05], 3, 4)


@pytest.mark.parametrize("make", ["reference", "batch_function"])
def test_statistics(make):
    g = torch.Generator().manual_seed(0)
    if make == "reference":
        x = signed_sparse_batch(40_000, DENSITY, generator=g)
    else:
        x = signed_sparse_batches(DENSITY, batch_size=40_000, generator=g)(3)
    assert x.shape == (40_000, 3, 4) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    assert torch.allclose((x != 0).float().mean(0), DENSITY, atol=0.01)
    on = x[x != 0]
    assert abs(float(on.mean())) < 0.01 and abs(float(on.var()) - 1 / 3) < 0.01
    assert (on < 0).float().mean().item() == pytest.approx(0.5, abs=0.01)


def test_batch_function_is_pure_and_seeded():
    batches = signed_sparse_batches(DENSITY, batch_size=64, generator=torch.Generator().manual_seed(1))
    assert torch.equal(batches(5), batches(torch.tensor(5)))
    assert not torch.equal(batches(5), batches(6))
    other = signed_sparse_batches(DENSITY, batch_size=64, generator=torch.Generator().manual_seed(2))
    assert not torch.equal(batches(5), other(5))


def test_signed_batches_share_the_mask_of_sparse_batches():
    """The same key gives the same on/off pattern as SparseBatches, the values mapped from [0, 1) to [-1, 1)."""
    batches = signed_sparse_batches(DENSITY, batch_size=256, generator=torch.Generator().manual_seed(3))
    unsigned = super(SignedSparseBatches, batches).__call__(2)
    signed = batches(2)
    assert torch.equal(signed != 0, unsigned != 0)
    assert torch.allclose(signed[unsigned != 0], 2 * unsigned[unsigned != 0] - 1)


def test_instances_restrict_to_the_same_numbers():
    batches = signed_sparse_batches(DENSITY, batch_size=32, generator=torch.Generator().manual_seed(4))
    assert torch.equal(batches.instances(slice(1, 3))(7), batches(7)[:, 1:3])


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="inst, feats"):
        signed_sparse_batch(4, torch.ones(3), generator=torch.Generator())
    bare = SignedSparseBatches(density=DENSITY, key=torch.tensor(0), batch_size=4)
    with pytest.raises(ValueError, match="signed_sparse_batches"):
        bare(0)
