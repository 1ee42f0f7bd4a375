"""Tests of course_utils.metrics.computation: R^2 of |x| curves, path gains, polysemanticity, motifs."""

from __future__ import annotations

import pytest
import torch

from course_utils.exercises.nb05_computation_in_superposition import (
    planted_motif,
    two_neuron_construction,
)
from course_utils.metrics.computation import (
    Motif,
    abs_r2,
    asymmetric_motifs,
    features_computed,
    motif_counts,
    neurons_per_feature,
    path_gains,
    per_feature_loss,
    polysemantic_neurons,
)

VALUES = torch.linspace(-1, 1, 41)


def test_abs_r2_of_exact_constant_half_and_zero_curves():
    curves = torch.stack([VALUES.abs(), torch.full((41,), float(VALUES.abs().mean())), torch.relu(VALUES), torch.zeros(41)])
    r2 = abs_r2(curves[None], VALUES)
    assert r2.shape == (1, 4)
    assert r2[0, 0] == pytest.approx(1.0)
    assert r2[0, 1] == pytest.approx(0.0, abs=1e-6)
    assert r2[0, 2] < -0.5 and r2[0, 3] < -2.5  # half of |x|: about -1; nothing: about -3
    assert features_computed(r2).tolist() == [1]
    with pytest.raises(ValueError, match="points"):
        abs_r2(curves[None], VALUES[:5])


def test_path_gains_by_hand():
    W1 = torch.tensor([[[1.0, -2.0], [0.5, 0.0]]])
    W2 = torch.tensor([[[1.0, 3.0], [0.25, -1.0]]])
    assert torch.equal(path_gains(W1, W2), torch.tensor([[[1.0, 0.5], [1.5, 0.0]]]))
    with pytest.raises(ValueError):
        path_gains(W1, W2.transpose(1, 2)[:, :1])


def test_the_construction_is_monosemantic_with_two_neurons_per_feature():
    W1, W2, _ = two_neuron_construction(8, 6, 0.1)
    gains = path_gains(W1[None], W2[None])
    assert neurons_per_feature(gains).tolist() == [[2, 2, 2, 0, 0, 0, 0, 0]]
    assert polysemantic_neurons(gains).tolist() == [0]
    assert asymmetric_motifs(W1, W2) == []


def test_the_planted_motif_is_found_and_each_condition_matters():
    W1, W2 = planted_motif()
    assert asymmetric_motifs(W1, W2) == [Motif(neuron=0, strong=0, weak=1, inhibitor=1)]
    assert polysemantic_neurons(path_gains(W1[None], W2[None])).tolist() == [1]
    no_inhibitor = W2.clone()
    no_inhibitor[1, 1] = -0.4  # cancels 0.4 of an interference of 4: less than half
    assert asymmetric_motifs(W1, no_inhibitor) == []
    other_side = W1.clone()
    other_side[1, 0] = -1.0
    assert asymmetric_motifs(other_side, W2) == []
    assert asymmetric_motifs(W1, W2, asymmetry=20.0) == []  # the interferences are 4 and 0.25: ratio 16


def test_motif_counts_per_instance():
    W1, W2 = planted_motif()
    C1, C2, _ = two_neuron_construction(3, 4, 0.1)
    counts = motif_counts(torch.stack([W1, C1]), torch.stack([W2, C2]))
    assert counts.tolist() == [1, 0]


def test_per_feature_loss():
    x = torch.tensor([[[1.0, -2.0]], [[0.0, 0.0]]])
    y = torch.tensor([[[1.0, 0.0]], [[1.0, 0.0]]])
    assert torch.equal(per_feature_loss(y, x), torch.tensor([[0.5, 2.0]]))
    with pytest.raises(ValueError):
        per_feature_loss(y[:1], x)
