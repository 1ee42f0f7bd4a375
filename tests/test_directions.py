"""Tests of course_utils.data.directions: random feature directions and sparse coefficients."""

import pytest
import torch

from course_utils.data.directions import (
    EXAMPLE_FEATURE_NAMES,
    activation_vector,
    one_hot_coefficients,
    random_directions,
    sparse_coefficients,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_random_directions_are_unit_rows_of_the_right_shape():
    directions = random_directions(7, 4, generator=gen())
    assert directions.shape == (7, 4)
    torch.testing.assert_close(directions.norm(dim=-1), torch.ones(7))


def test_random_directions_with_instances():
    directions = random_directions(5, 3, n_inst=4, generator=gen())
    assert directions.shape == (4, 5, 3)
    torch.testing.assert_close(directions.norm(dim=-1), torch.ones(4, 5))
    assert not torch.allclose(directions[0], directions[1])


def test_random_directions_are_seeded():
    assert torch.equal(random_directions(6, 3, generator=gen(1)), random_directions(6, 3, generator=gen(1)))
    assert not torch.allclose(random_directions(6, 3, generator=gen(1)), random_directions(6, 3, generator=gen(2)))


def test_random_directions_cover_the_sphere_evenly():
    # The mean of many uniform unit vectors is near 0 and each coordinate has variance 1/d.
    directions = random_directions(20000, 4, generator=gen(3))
    assert directions.mean(0).abs().max() < 0.02
    torch.testing.assert_close(directions.pow(2).mean(0), torch.full((4,), 0.25), atol=0.01, rtol=0)


@pytest.mark.parametrize("kwargs", [dict(n_feats=0, n_hidden=3), dict(n_feats=3, n_hidden=0), dict(n_feats=3, n_hidden=2, n_inst=0)])
def test_random_directions_reject_bad_sizes(kwargs):
    with pytest.raises(ValueError, match="n_"):
        random_directions(**kwargs, generator=gen())


def test_sparse_coefficients_density_and_range():
    coeffs = sparse_coefficients(20000, 10, density=0.1, generator=gen(4))
    assert coeffs.shape == (20000, 10)
    assert coeffs.min() >= 0 and coeffs.max() <= 1
    assert abs((coeffs > 0).float().mean().item() - 0.1) < 0.01
    active = coeffs[coeffs > 0]
    assert abs(active.mean().item() - 0.5) < 0.02  # uniform in [0, 1] when active


def test_sparse_coefficients_extreme_densities_and_seed():
    assert torch.equal(sparse_coefficients(50, 4, density=0.0, generator=gen()), torch.zeros(50, 4))
    assert (sparse_coefficients(50, 4, density=1.0, generator=gen()) > 0).all()
    assert torch.equal(
        sparse_coefficients(8, 4, density=0.5, generator=gen(5)), sparse_coefficients(8, 4, density=0.5, generator=gen(5))
    )


@pytest.mark.parametrize("density", [-0.1, 1.5])
def test_sparse_coefficients_reject_bad_density(density):
    with pytest.raises(ValueError, match="density"):
        sparse_coefficients(4, 3, density=density, generator=gen())


def test_activation_vector_hand_computed():
    directions = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, -1.0]])
    coeffs = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.5], [0.0, 0.0, 0.0]])
    expected = torch.tensor([[1.0, 0.0], [1.2, 1.1], [0.0, 0.0]])
    torch.testing.assert_close(activation_vector(coeffs, directions), expected)


def test_one_hot_coefficients():
    torch.testing.assert_close(one_hot_coefficients([0, 2], 4, value=0.5), torch.tensor([[0.5, 0.0, 0.5, 0.0]]))
    with pytest.raises(ValueError, match="outside"):
        one_hot_coefficients([4], 4)


def test_example_names_are_distinct():
    assert len(set(EXAMPLE_FEATURE_NAMES)) == len(EXAMPLE_FEATURE_NAMES) == 6


def test_activation_vector_rejects_mismatched_features():
    with pytest.raises(ValueError, match="one row per feature"):
        activation_vector(torch.ones(2, 4), torch.ones(3, 2))
