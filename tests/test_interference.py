"""Tests of course_utils.metrics.interference: cosines, max |cos|, interference, the random-vector scale."""

import math

import pytest
import torch

from course_utils.data.directions import random_directions, sparse_coefficients
from course_utils.metrics.interference import (
    feature_cosines,
    interference,
    max_abs_cosine,
    max_abs_cosine_sweep,
    random_cosine_scale,
    read_back,
    welch_bound,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_cosine_matrix_hand_case_and_invariants():
    directions = torch.tensor([[2.0, 0.0], [1.0, 1.0], [0.0, -3.0]])
    s = 1 / math.sqrt(2)
    expected = torch.tensor([[1.0, s, 0.0], [s, 1.0, -s], [0.0, -s, 1.0]])
    torch.testing.assert_close(feature_cosines(directions), expected)
    random = random_directions(6, 4, generator=gen()) * torch.arange(1.0, 7.0)[:, None]
    cos = feature_cosines(random)
    torch.testing.assert_close(cos, cos.T)
    torch.testing.assert_close(torch.diagonal(cos), torch.ones(6))


def test_max_abs_cosine_hand_cases():
    s = 1 / math.sqrt(2)
    assert max_abs_cosine(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])).item() == pytest.approx(s, abs=1e-6)
    # The largest overlap is negative here: |-0.995| beats every positive cosine.
    antipodal = torch.tensor([[2.0, 0.0, 0.0], [-1.0, 0.1, 0.0], [0.0, 0.0, 3.0]])
    assert max_abs_cosine(antipodal).item() == pytest.approx(1 / math.sqrt(1.01), abs=1e-6)
    assert max_abs_cosine(torch.eye(4)).item() == pytest.approx(0.0, abs=1e-7)


def test_max_abs_cosine_batched_equals_one_at_a_time():
    directions = random_directions(9, 5, n_inst=3, generator=gen(1))
    batched = max_abs_cosine(directions)
    assert batched.shape == (3,)
    for i in range(3):
        cos = feature_cosines(directions[i]).abs() - torch.eye(9)
        assert batched[i].item() == pytest.approx(cos.max().item(), abs=1e-6)


def test_max_abs_cosine_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        max_abs_cosine(torch.ones(1, 3))
    with pytest.raises(ValueError, match="feats, hidden"):
        max_abs_cosine(torch.ones(3))


def test_read_back_is_own_term_plus_interference():
    directions = random_directions(8, 3, generator=gen(2)) * torch.linspace(0.5, 2.0, 8)[:, None]
    coeffs = sparse_coefficients(10, 8, density=0.4, generator=gen(3))
    read = read_back(coeffs @ directions, directions)
    own = coeffs * directions.pow(2).sum(-1)
    torch.testing.assert_close(read, own + interference(coeffs, directions))


def test_interference_hand_cases():
    assert torch.equal(interference(torch.tensor([[0.3, 0.7, 1.0]]), torch.eye(3)), torch.zeros(1, 3))
    pair = torch.tensor([[1.0, 0.0], [1.0, 1.0]]) / torch.tensor([[1.0], [math.sqrt(2)]])
    got = interference(torch.tensor([[1.0, 0.0], [1.0, 2.0]]), pair)
    s = 1 / math.sqrt(2)
    torch.testing.assert_close(got, torch.tensor([[0.0, s], [2 * s, s]]))


def test_random_cosine_scale_and_welch_bound_values():
    assert random_cosine_scale(10, 5) == pytest.approx(math.sqrt(2 * math.log(90) / 5))
    assert welch_bound(6, 3) == pytest.approx(math.sqrt(3 / 15))
    assert welch_bound(3, 3) == 0.0
    with pytest.raises(ValueError, match="n_feats >= 2"):
        random_cosine_scale(1, 3)
    with pytest.raises(ValueError, match="n_feats >= 2"):
        welch_bound(5, 0)


def test_sweep_shape_seed_and_bounds():
    sweep = max_abs_cosine_sweep([8, 64], [4, 16, 64], trials=3, generator=gen(4))
    assert sweep.max_cos.shape == (2, 3, 3)
    again = max_abs_cosine_sweep([8, 64], [4, 16, 64], trials=3, generator=gen(4))
    assert torch.equal(sweep.max_cos, again.max_cos)
    for i, n in enumerate(sweep.n_feats):
        for j, d in enumerate(sweep.n_hidden):
            assert (sweep.max_cos[i, j] >= welch_bound(n, d) - 1e-6).all()  # nothing beats the Welch bound
            assert (sweep.max_cos[i, j] <= 1 + 1e-6).all()
    mean = sweep.max_cos.mean(-1)
    assert (mean[:, :-1] > mean[:, 1:]).all()  # more dimensions, smaller overlaps
    assert (mean[0] < mean[1]).all()  # more directions, larger overlaps


def test_sweep_follows_the_random_vector_scale():
    # The notebook's claim: measured / sqrt(2 ln(N(N-1)) / d) lies between about 0.7 and 1.0 for d >= 32.
    sweep = max_abs_cosine_sweep([32, 256], [32, 128], trials=4, generator=gen(5))
    mean = sweep.max_cos.mean(-1)
    for i, n in enumerate(sweep.n_feats):
        for j, d in enumerate(sweep.n_hidden):
            assert 0.65 < mean[i, j].item() / random_cosine_scale(n, d) < 1.1


def test_sweep_rejects_bad_arguments():
    with pytest.raises(ValueError, match="trials"):
        max_abs_cosine_sweep([8], [4], trials=0, generator=gen())
    with pytest.raises(ValueError, match="every N"):
        max_abs_cosine_sweep([1], [4], trials=1, generator=gen())


def test_read_back_and_interference_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="neurons"):
        read_back(torch.ones(2, 4), torch.ones(3, 2))
    with pytest.raises(ValueError, match="one row per feature"):
        interference(torch.ones(2, 4), torch.ones(3, 2))
