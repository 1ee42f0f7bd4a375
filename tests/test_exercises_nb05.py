"""Every exercise of notebook 05 passes with its reference and rejects plausible wrong answers."""

from __future__ import annotations

import pytest
import torch

from course_utils.exercises import exercises_for, run_check
from course_utils.exercises import nb05_computation_in_superposition as ref

NAMES = ["abs_batch", "abs_forward", "two_neuron_construction", "construction_loss", "path_gains", "find_asymmetric_motifs"]


def test_every_reference_passes():
    assert [exercise.name for exercise in exercises_for("05_computation_in_superposition")] == NAMES
    for name in NAMES:
        result = run_check(name, getattr(ref, name))
        assert result.status == "passed", (name, result.message)


# abs_batch ---------------------------------------------------------------------------------------------

def _unsigned(batch_size, density, *, generator):  # the toy model's data of notebook 03: magnitudes in [0, 1]
    values = torch.rand(batch_size, *density.shape, generator=generator)
    return values * (torch.rand(batch_size, *density.shape, generator=generator) < density)


def _gaussian(batch_size, density, *, generator):
    values = torch.randn(batch_size, *density.shape, generator=generator).clamp(-1, 1)
    return values * (torch.rand(batch_size, *density.shape, generator=generator) < density)


def _sparsity_for_density(batch_size, density, *, generator):
    values = 2 * torch.rand(batch_size, *density.shape, generator=generator) - 1
    return values * (torch.rand(batch_size, *density.shape, generator=generator) < 1 - density)


def _no_generator(batch_size, density, *, generator):
    return (2 * torch.rand(batch_size, *density.shape) - 1) * (torch.rand(batch_size, *density.shape) < density)


def _uniform_minus_two_to_two(batch_size, density, *, generator):
    values = 4 * torch.rand(batch_size, *density.shape, generator=generator) - 2
    return values * (torch.rand(batch_size, *density.shape, generator=generator) < density)


@pytest.mark.parametrize("wrong", [_unsigned, _gaussian, _sparsity_for_density, _no_generator, _uniform_minus_two_to_two])
def test_abs_batch_rejects(wrong):
    assert run_check("abs_batch", wrong).status == "failed"


# abs_forward -----------------------------------------------------------------------------------------------

def _no_bias(x, W1, W2, b):
    return torch.relu(torch.einsum("bih,ifh->bif", torch.relu(torch.einsum("bif,ihf->bih", x, W1)), W2))


def _transposed_w2(x, W1, W2, b):  # reads W2 as (inst, hidden, feats): runs only when hidden == feats
    return torch.relu(torch.einsum("bih,ihf->bif", torch.relu(torch.einsum("bif,ihf->bih", x, W1)), W2) + b)


def _tied_weights(x, W1, W2, b):  # notebook 03's W^T in place of W2
    return torch.relu(torch.einsum("bih,ihf->bif", torch.relu(torch.einsum("bif,ihf->bih", x, W1)), W1) + b)


def _no_hidden_relu(x, W1, W2, b):
    return torch.relu(torch.einsum("bih,ifh->bif", torch.einsum("bif,ihf->bih", x, W1), W2) + b)


def _no_output_relu(x, W1, W2, b):
    return torch.einsum("bih,ifh->bif", torch.relu(torch.einsum("bif,ihf->bih", x, W1)), W2) + b


def _bias_outside_relu(x, W1, W2, b):
    return torch.relu(torch.einsum("bih,ifh->bif", torch.relu(torch.einsum("bif,ihf->bih", x, W1)), W2)) + b


@pytest.mark.parametrize("wrong", [_no_bias, _transposed_w2, _tied_weights, _no_hidden_relu, _no_output_relu, _bias_outside_relu])
def test_abs_forward_rejects(wrong):
    assert run_check("abs_forward", wrong).status == "failed"


# two_neuron_construction -------------------------------------------------------------------------------------

def _relu_only(n_features, d_hidden, density):  # one neuron per feature: ReLU(x), never ReLU(-x)
    W1, W2, b = torch.zeros(d_hidden, n_features), torch.zeros(n_features, d_hidden), torch.full((n_features,), density / 2)
    for i in range(min(d_hidden, n_features)):
        W1[i, i] = W2[i, i] = 1.0
        b[i] = 0.0
    return W1, W2, b


def _wrong_sign(n_features, d_hidden, density):  # both neurons read +x_i
    W1, W2, b = ref.two_neuron_construction(n_features, d_hidden, density)
    return W1.abs(), W2, b


def _missing_bias(n_features, d_hidden, density):  # the features left out output 0, not E|x| = p/2
    W1, W2, b = ref.two_neuron_construction(n_features, d_hidden, density)
    return W1, W2, torch.zeros_like(b)


def _transposed(n_features, d_hidden, density):
    W1, W2, b = ref.two_neuron_construction(n_features, d_hidden, density)
    return W1.T, W2.T, b


def _least_important_features(n_features, d_hidden, density):
    W1, W2, b = ref.two_neuron_construction(n_features, d_hidden, density)
    order = torch.arange(n_features - 1, -1, -1)
    return W1[:, order], W2[order], b[order]


def _bias_density(n_features, d_hidden, density):  # E[x_i] taken as the density, not density / 2
    W1, W2, b = ref.two_neuron_construction(n_features, d_hidden, density)
    return W1, W2, torch.where(b > 0, torch.full_like(b, density), b)


@pytest.mark.parametrize("wrong", [_relu_only, _wrong_sign, _missing_bias, _transposed, _least_important_features, _bias_density])
def test_two_neuron_construction_rejects(wrong):
    assert run_check("two_neuron_construction", wrong).status == "failed"


def test_neuron_order_does_not_matter():
    def shuffled(n_features, d_hidden, density):
        W1, W2, b = ref.two_neuron_construction(n_features, d_hidden, density)
        order = torch.arange(d_hidden - 1, -1, -1)
        return W1[order], W2[:, order], b

    assert run_check("two_neuron_construction", shuffled).status == "passed"


# construction_loss --------------------------------------------------------------------------------------------

def _zero_bias_loss(importance, density, d_hidden):  # the loss of outputting 0: E[x^2] = p / 3
    return float(importance[d_hidden // 2:].sum() * density / 3 / importance.numel())


def _m_features(importance, density, d_hidden):  # one neuron per feature
    p = density
    return float(importance[d_hidden:].sum() * (p / 3 - p**2 / 4) / importance.numel())


def _summed_over_features(importance, density, d_hidden):
    p = density
    return float(importance[d_hidden // 2:].sum() * (p / 3 - p**2 / 4))


def _unweighted_loss(importance, density, d_hidden):
    p = density
    return float((importance.numel() - min(d_hidden // 2, importance.numel())) * (p / 3 - p**2 / 4) / importance.numel())


@pytest.mark.parametrize("wrong", [_zero_bias_loss, _m_features, _summed_over_features, _unweighted_loss])
def test_construction_loss_rejects(wrong):
    assert run_check("construction_loss", wrong).status == "failed"


# path_gains ----------------------------------------------------------------------------------------------------

def _signed_gain(W1, W2):
    return W1 * W2.transpose(1, 2)


def _untransposed(W1, W2):  # W2 read as (inst, hidden, feats): runs only when hidden == feats
    return W1.abs() * W2


def _abs_of_both(W1, W2):
    return (W1 * W2.transpose(1, 2)).abs()


def _feats_first(W1, W2):
    return (W1.abs() * W2.transpose(1, 2)).transpose(1, 2)


@pytest.mark.parametrize("wrong", [_signed_gain, _untransposed, _abs_of_both, _feats_first])
def test_path_gains_rejects(wrong):
    assert run_check("path_gains", wrong).status == "failed"


# find_asymmetric_motifs ------------------------------------------------------------------------------------------

def _motifs(W1, W2, *, same_side=True, asymmetric=True, inhibited=True, input_only=False):
    gains = W1.abs() if input_only else W1.abs() * W2.T
    found = []
    for k in range(W1.shape[0]):
        served = [i for i in range(W1.shape[1]) if gains[k, i] >= 0.2]
        for i in served:
            for j in served:
                interference = W1[k, i].abs() * W2[j, k]
                if i == j or (asymmetric and interference < 3 * W1[k, j].abs() * W2[i, k]):
                    continue
                side = torch.sign(W1[:, i]) == torch.sign(W1[k, i]) if same_side else torch.ones(W1.shape[0], dtype=torch.bool)
                inhibition = torch.where(side, W1[:, i].abs() * W2[j, :], torch.zeros(()))
                inhibition[k] = 0.0
                best = int(inhibition.argmin())
                if not inhibited or inhibition[best] <= -0.5 * interference:
                    found.append((k, i, j, best))
    return found


def _no_side_condition(W1, W2):
    return _motifs(W1, W2, same_side=False)


def _symmetric_allowed(W1, W2):
    return _motifs(W1, W2, asymmetric=False)


def _no_inhibitor_needed(W1, W2):
    return _motifs(W1, W2, inhibited=False)


def _served_by_input_weight(W1, W2):  # |W1[k, i]| >= 0.2 instead of the path gain
    return _motifs(W1, W2, input_only=True)


def _strong_and_weak_swapped(W1, W2):
    return [(k, j, i, kp) for k, i, j, kp in _motifs(W1, W2)]


@pytest.mark.parametrize("wrong", [_no_side_condition, _symmetric_allowed, _no_inhibitor_needed, _served_by_input_weight,
                                   _strong_and_weak_swapped])
def test_find_asymmetric_motifs_rejects(wrong):
    assert run_check("find_asymmetric_motifs", wrong).status == "failed"


def test_find_asymmetric_motifs_accepts_any_order_and_lists():
    def reversed_lists(W1, W2):
        return [list(m) for m in reversed(_motifs(W1, W2))]

    assert run_check("find_asymmetric_motifs", reversed_lists).status == "passed"
