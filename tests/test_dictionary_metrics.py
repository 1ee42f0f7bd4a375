"""Tests of course_utils.metrics.dictionary on hand-computed cases."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_utils.metrics.dictionary import (
    best_latents,
    cosine_matrix,
    dead_fraction,
    dense_fraction,
    density_histogram,
    feature_density,
    fvu,
    l0,
    match_latents,
    max_cosine,
    mmcs,
)


def test_l0_and_density_count_non_zeros():
    acts = torch.tensor([[[1.0, 0.0, 2.0]], [[0.0, 0.0, 3.0]]])  # [batch 2, inst 1, d_sae 3]
    torch.testing.assert_close(l0(acts), torch.tensor([1.5]))
    torch.testing.assert_close(feature_density(acts), torch.tensor([[0.5, 0.0, 1.0]]))
    torch.testing.assert_close(l0(acts[:, 0]), torch.tensor([1.5]))  # no instance dimension


def test_dead_and_dense_fractions():
    density = torch.tensor([[0.0, 0.0, 0.05, 0.5]])
    torch.testing.assert_close(dead_fraction(density), torch.tensor([0.5]))
    torch.testing.assert_close(dense_fraction(density, threshold=0.1), torch.tensor([0.25]))


def test_fvu_is_zero_for_perfect_and_one_for_the_mean():
    x = torch.randn(50, 2, 4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(fvu(x, x.clone()), torch.zeros(2))
    torch.testing.assert_close(fvu(x, x.mean(0, keepdim=True).expand_as(x)), torch.ones(2))
    assert float(fvu(x, torch.zeros_like(x))[0]) > 1.0  # predicting 0 is worse than the mean


def test_mmcs_hand_made():
    true = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    W_dec = torch.tensor([[2.0, 0.0], [1.0, 1.0]])  # feature 0 exactly, feature 1 at 45 degrees
    expected = (1.0 + 2**-0.5) / 2
    torch.testing.assert_close(mmcs(W_dec, true), torch.tensor([expected]))
    torch.testing.assert_close(max_cosine(W_dec, true), torch.tensor([[1.0, 2**-0.5]]))


def test_mmcs_is_one_for_a_permuted_rescaled_dictionary_and_per_instance():
    g = torch.Generator().manual_seed(1)
    true = F.normalize(torch.randn(10, 6, generator=g), dim=-1)
    W = torch.stack([true[torch.randperm(10, generator=g)] * 3, torch.randn(10, 6, generator=g)])
    scores = mmcs(W, true)
    assert scores.shape == (2,)
    assert abs(float(scores[0]) - 1.0) < 1e-6 and float(scores[1]) < 0.9


def test_best_and_matched_latents():
    true = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    W_dec = torch.tensor([[0.0, 1.0], [0.9, 0.1], [1.0, 0.0]])
    idx, cos = best_latents(W_dec, true)
    assert idx.tolist() == [[2, 0]]
    torch.testing.assert_close(cos, torch.ones(1, 2))
    feats, _ = match_latents(W_dec, true)
    assert feats.tolist() == [[1, 0, 0]]
    assert cosine_matrix(W_dec, true).shape == (1, 2, 3)


def test_density_histogram_counts_alive_and_dead():
    density = torch.tensor([0.0, 1e-3, 1e-3, 0.5, 0.0])
    counts, edges, dead = density_histogram(density, bins=6, low=-6.0)
    assert dead == 2 and int(counts.sum()) == 3
    assert edges.shape == (7,)
    with pytest.raises(ValueError, match="one instance"):
        density_histogram(density[None])


def test_mismatched_dimensions_are_explained():
    with pytest.raises(ValueError, match="dimensions"):
        mmcs(torch.randn(4, 3), torch.randn(5, 2))
    with pytest.raises(ValueError, match="expected"):
        l0(torch.randn(2, 2, 2, 2))


def test_token_purity_is_the_share_of_the_most_common_top_token():
    from course_utils.metrics.tokens import token_purity

    top = torch.tensor([[7, 7, 7, 7], [1, 1, 2, 3], [0, 1, 2, 3]])
    assert token_purity(top).tolist() == [1.0, 0.5, 0.25]
