"""Notebook 06's checks accept the reference and reject plausible wrong answers: fresh batches instead of the
fixed set, the test loss taken on the training set, dimensionality without its squared normalisation."""

from __future__ import annotations

import pytest
import torch
from einops import einsum

from course_utils.exercises import exercises_for, run_check
from course_utils.exercises.nb06_memorization_and_double_descent import (
    datapoints_and_features,
    dimensionality,
    fixed_batches,
    train_and_test_loss,
)
from course_utils.toy_models.memorization import reconstruction_loss, unit_sparse_dataset

NAMES = ["unit_sparse_dataset", "fixed_batches", "datapoints_and_features", "dimensionality", "train_and_test_loss"]
REFERENCES = [unit_sparse_dataset, fixed_batches, datapoints_and_features, dimensionality, train_and_test_loss]


def test_notebook_06_has_its_five_exercises():
    assert [ex.name for ex in exercises_for("06_memorization_and_double_descent")] == NAMES


@pytest.mark.parametrize("name,reference", list(zip(NAMES, REFERENCES, strict=True)))
def test_reference_passes(name, reference):
    result = run_check(name, reference)
    assert result.status == "passed", result.message


def test_unfinished_answer_is_not_attempted():
    def unfinished(*args, **kwargs):
        raise NotImplementedError()

    assert run_check("dimensionality", unfinished).status == "not attempted"


def _failed(name, candidate, *words):
    result = run_check(name, candidate)
    assert result.status == "failed", f"{name}: a wrong answer passed"
    for word in words:
        assert word in result.message, result.message
    return result


# --- unit_sparse_dataset -----------------------------------------------------------------------------------------

def _raw(size, n, density, *, generator):
    values = torch.rand(size, n, generator=generator)
    return values * (torch.rand(size, n, generator=generator) < density)


def test_rejects_data_without_rescaling():
    _failed("unit_sparse_dataset", _raw, "unit L2 norm")


def test_rejects_l1_and_column_normalisation():
    def l1(size, n, density, *, generator):
        x = _raw(size, n, density, generator=generator)
        return x / x.sum(1, keepdim=True).clamp_min(1e-12)

    def columns(size, n, density, *, generator):
        x = _raw(size, n, density, generator=generator)
        return x / x.norm(dim=0, keepdim=True).clamp_min(1e-12)

    _failed("unit_sparse_dataset", l1, "unit L2 norm")
    _failed("unit_sparse_dataset", columns, "unit L2 norm")


def test_rejects_nan_for_empty_points_and_an_unseeded_draw():
    def nan_rows(size, n, density, *, generator):
        x = _raw(size, n, density, generator=generator)
        return x / x.norm(dim=1, keepdim=True)

    def unseeded(size, n, density, *, generator):
        return unit_sparse_dataset(size, n, density, generator=torch.Generator().manual_seed(int(torch.randint(9**9, ()))))

    _failed("unit_sparse_dataset", nan_rows)
    _failed("unit_sparse_dataset", unseeded, "generator")


# --- fixed_batches -----------------------------------------------------------------------------------------------

def test_rejects_fresh_batches_instead_of_the_fixed_set():
    def fresh(datasets):
        largest, n = max(d.shape[0] for d in datasets), datasets[0].shape[1]
        g = torch.Generator().manual_seed(0)
        return lambda step: unit_sparse_dataset(largest * len(datasets), n, 0.3, generator=g).view(largest, len(datasets), n)

    def resampled(datasets):  # each step a new draw *from* the training set (mini-batches with replacement)
        largest = max(d.shape[0] for d in datasets)
        g = torch.Generator().manual_seed(0)
        return lambda step: torch.stack([d[torch.randint(d.shape[0], (largest,), generator=g)] for d in datasets], dim=1)

    _failed("fixed_batches", fresh, "fresh data")
    _failed("fixed_batches", resampled)


def test_rejects_zero_padding_and_truncation():
    def zero_padded(datasets):
        largest = max(d.shape[0] for d in datasets)
        padded = [torch.cat([d, torch.zeros(largest - d.shape[0], d.shape[1])]) for d in datasets]
        return lambda step: torch.stack(padded, dim=1)

    def truncated(datasets):
        smallest = min(d.shape[0] for d in datasets)
        return lambda step: torch.stack([d[:smallest] for d in datasets], dim=1)

    def first_point_repeated(datasets):  # pads with copies of the first point: uneven counts
        largest = max(d.shape[0] for d in datasets)
        return lambda step: torch.stack([torch.cat([d, d[:1].expand(largest - d.shape[0], -1)]) for d in datasets], dim=1)

    _failed("fixed_batches", zero_padded, "not one of its")
    _failed("fixed_batches", truncated, "shape")
    _failed("fixed_batches", first_point_repeated, "times")


# --- datapoints_and_features -------------------------------------------------------------------------------------

def test_rejects_transposed_w_and_untransposed_features():
    def transposed(W, x):
        h = einsum(x, W, "batch inst feats, inst feats hidden -> inst batch hidden")
        return h, W.transpose(1, 2)

    def features_as_w(W, x):
        return datapoints_and_features(W, x)[0], W

    def batch_first(W, x):
        return einsum(x, W, "batch inst feats, inst hidden feats -> batch inst hidden"), W.transpose(1, 2)

    for wrong in (transposed, features_as_w, batch_first):
        _failed("datapoints_and_features", wrong)


# --- dimensionality ----------------------------------------------------------------------------------------------

def _norm_not_squared(v, eps=1e-12):
    norm = v.norm(dim=-1)
    v_hat = v / (norm.unsqueeze(-1) + eps)
    return norm / ((einsum(v_hat, v, "i a h, i b h -> i a b") ** 2).sum(-1) + eps)


def _overlaps_not_squared(v, eps=1e-12):
    norm_sq = (v**2).sum(-1)
    v_hat = v / (norm_sq.sqrt().unsqueeze(-1) + eps)
    return norm_sq / (einsum(v_hat, v, "i a h, i b h -> i a b").abs().sum(-1) + eps)


def _unnormalised_overlaps(v, eps=1e-12):  # v_k . v_j instead of v_hat_k . v_j
    return (v**2).sum(-1) / ((einsum(v, v, "i a h, i b h -> i a b") ** 2).sum(-1) + eps)


def _without_self(v, eps=1e-12):
    overlap = einsum(v / (v.norm(dim=-1, keepdim=True) + eps), v, "i a h, i b h -> i a b") ** 2
    return (v**2).sum(-1) / (overlap.sum(-1) - overlap.diagonal(dim1=1, dim2=2) + eps)


@pytest.mark.parametrize("wrong", [_norm_not_squared, _overlaps_not_squared, _unnormalised_overlaps, _without_self])
def test_rejects_dimensionality_without_the_squared_normalisation(wrong):
    _failed("dimensionality", wrong)


# --- train_and_test_loss -----------------------------------------------------------------------------------------

def test_rejects_the_test_loss_on_the_training_set():
    def on_train(W, b, train_x, *, n_test, density, generator):
        loss = reconstruction_loss(W, b, train_x)
        return loss, loss.clone()

    _failed("train_and_test_loss", on_train, "training")


def test_rejects_a_loss_averaged_over_features_and_a_wrong_test_distribution():
    def feature_mean(W, b, train_x, *, n_test, density, generator):
        train, test = train_and_test_loss(W, b, train_x, n_test=n_test, density=density, generator=generator)
        return train / W.shape[2], test / W.shape[2]

    def unnormalised_test(W, b, train_x, *, n_test, density, generator):  # forgot to rescale the test points
        values = torch.rand(n_test, W.shape[2], generator=generator)
        x = values * (torch.rand(n_test, W.shape[2], generator=generator) < density)
        return reconstruction_loss(W, b, train_x), reconstruction_loss(W, b, x.unsqueeze(1).expand(-1, W.shape[0], -1))

    _failed("train_and_test_loss", feature_mean, "sums")
    _failed("train_and_test_loss", unnormalised_test, "test loss")
