"""Tests of course_utils.metrics.ground_truth: Hungarian MCC, reconstruction bias, activation ratio,
absorption rate, splitting counts, on hand-made cases."""

from __future__ import annotations

import pytest
import torch

from course_utils.metrics.dictionary import mmcs
from course_utils.metrics.ground_truth import (
    absorption_rates,
    activation_ratio,
    hungarian_match,
    mcc,
    reconstruction_bias,
    split_counts,
    summary_table,
)


def test_mcc_matches_one_to_one_where_mmcs_lets_features_share_a_latent():
    true = torch.eye(3)
    # two latents: one halfway between features 0 and 1, one on feature 2
    W = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert float(mmcs(W, true)) == pytest.approx((2 ** -0.5 * 2 + 1) / 3)
    latent, value = hungarian_match(W, true)
    assert latent[0, 2] == 1 and (latent[0] == -1).sum() == 1  # one feature unmatched
    assert float(mcc(W, true)) == pytest.approx((2 ** -0.5 + 1) / 2)
    # duplicated latents: MMCS is perfect, MCC is not
    W_dup = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert float(mmcs(W_dup, true)) == pytest.approx(2 / 3)
    assert float(mcc(W_dup, true)) == pytest.approx(2 / 3)
    W_perm = torch.tensor([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert float(mcc(W_perm, true)) == pytest.approx(1.0)  # |cos|: a flipped direction still counts


def test_reconstruction_bias_is_one_unbiased_and_below_one_when_shrunk():
    x = torch.randn(100, 2, 5, generator=torch.Generator().manual_seed(0))
    assert reconstruction_bias(x, x).tolist() == pytest.approx([1.0, 1.0])
    assert reconstruction_bias(x, 0.8 * x).tolist() == pytest.approx([0.8, 0.8])


def test_activation_ratio_and_absorption_on_a_hand_made_code():
    # features: parent 0, children 1 and 2 (of parent 0); latents: 0 (parent), 1, 2 (children)
    coeffs = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    acts = torch.tensor([[0.5, 0.0, 0.0], [0.0, 1.4, 0.0], [0.5, 0.0, 1.0], [0.0, 1.4, 0.0]])[:, None]
    latent = torch.tensor([[0, 1, 2]])
    rates = absorption_rates(acts, coeffs, latent[:, :1], torch.tensor([[1, 2]]))
    assert rates.tolist() == [[pytest.approx(2 / 3)]]  # parent latent silent on 2 of the 3 inputs with a child
    ratio = activation_ratio(acts, coeffs, latent)
    assert float(ratio[0]) == pytest.approx((0.5 + 0 + 0.5 + 0 + 1.4 + 1.4 + 1.0) / 7)  # silent latents count as 0
    alone = ((coeffs > 0).sum(-1, keepdim=True) == 1).expand_as(coeffs)
    assert float(activation_ratio(acts, coeffs, latent, only=alone)[0]) == pytest.approx(0.5)


def test_split_counts_assigns_each_wide_latent_to_its_nearest_small_latent():
    small = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    wide = torch.tensor([[1.0, 0.2], [1.0, -0.3], [0.1, 1.0], [-1.0, -1.0]])
    counts, cos = split_counts(small, wide, min_cos=0.5)
    assert counts.tolist() == [2, 1] and cos.shape == (4, 2)
    counts, _ = split_counts(small, wide, alive=torch.tensor([True, False, True, True]))
    assert counts.tolist() == [1, 1]


def test_summary_table_prints_a_row_per_name():
    text = summary_table({"l1": {"mcc": 0.5, "l0": 2.0}, "topk": {"mcc": 0.25, "l0": 3.0}}, ["mcc", "l0"])
    lines = text.splitlines()
    assert len(lines) == 3 and "0.500" in lines[1] and lines[2].startswith("topk")
