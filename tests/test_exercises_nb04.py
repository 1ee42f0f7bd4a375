"""Notebook 04's checks accept the reference and reject plausible wrong answers."""

from __future__ import annotations

import pytest
import torch
from einops import einsum

from course_utils.exercises import exercises_for, run_check
from course_utils.metrics.geometry import superposition
from course_utils.toy_models.feature_geometry import (
    dimensions_per_feature,
    excess_kurtosis,
    feature_dimensionality,
    monosemantic_neurons,
)
from course_utils.toy_models.phase_diagram import boundary_density, candidate_losses

NAMES = ["feature_dimensionality", "dimensions_per_feature", "candidate_losses", "boundary_density",
         "monosemantic_neurons", "excess_kurtosis"]
REFERENCES = [feature_dimensionality, dimensions_per_feature, candidate_losses, boundary_density,
              monosemantic_neurons, excess_kurtosis]


def test_notebook_04_has_its_six_exercises():
    assert [ex.name for ex in exercises_for("04_feature_geometry")] == NAMES


@pytest.mark.parametrize("name,reference", list(zip(NAMES, REFERENCES, strict=True)))
def test_reference_passes(name, reference):
    result = run_check(name, reference)
    assert result.status == "passed", result.message
    assert result.cases >= 3


def test_unfinished_answer_is_not_attempted():
    def unfinished(*args):
        raise NotImplementedError()

    assert run_check("candidate_losses", unfinished).status == "not attempted"


# --- feature_dimensionality ------------------------------------------------------------------------------------

def _dim_without_self(W, eps=1e-12):  # the sum over j != i: superposition only
    return (W**2).sum(1) / (superposition(W) + eps)


def _dim_norm_not_squared(W, eps=1e-12):
    norm = W.norm(dim=1)
    w_hat = W / (norm.unsqueeze(1) + eps)
    return norm / ((einsum(w_hat, W, "i h a, i h b -> i a b") ** 2).sum(-1) + eps)


def _dim_unnormalised(W, eps=1e-12):  # W_i . W_j instead of W_hat_i . W_j
    return (W**2).sum(1) / ((einsum(W, W, "i h a, i h b -> i a b") ** 2).sum(-1) + eps)


def _dim_transposed(W, eps=1e-12):  # sums over the wrong axis of the overlap matrix
    norm_sq = (W**2).sum(1)
    w_hat = W / (norm_sq.sqrt().unsqueeze(1) + eps)
    return norm_sq / ((einsum(w_hat, W, "i h a, i h b -> i a b") ** 2).sum(-2) + eps)


@pytest.mark.parametrize("wrong", [_dim_without_self, _dim_norm_not_squared, _dim_unnormalised, _dim_transposed])
def test_feature_dimensionality_rejects(wrong):
    assert run_check("feature_dimensionality", wrong).status == "failed"


# --- dimensions_per_feature ------------------------------------------------------------------------------------

@pytest.mark.parametrize("wrong", [
    lambda W: W.shape[2] / (W**2).sum(dim=(1, 2)),          # n instead of m
    lambda W: W.shape[1] / W.norm(dim=(1, 2)),              # Frobenius norm, not squared
    lambda W: W.shape[1] / (W**2).sum(dim=(1, 2)).mean(),   # one number for all instances
    lambda W: (W**2).sum(dim=(1, 2)) / W.shape[1],          # upside down
])
def test_dimensions_per_feature_rejects(wrong):
    assert run_check("dimensions_per_feature", wrong).status == "failed"


# --- candidate_losses ------------------------------------------------------------------------------------------

def _losses(r, p, *, var=None, pair=1 / 6, half=True, swap=False, pair_power=2):
    r, p = torch.broadcast_tensors(torch.as_tensor(r, dtype=torch.float32), torch.as_tensor(p, dtype=torch.float32))
    v = p / 3 - p**2 / 4 if var is None else var(p)
    scale = 0.5 if half else 1.0
    out = [r * v * scale, v * scale, (1 + r) * p**pair_power * pair * scale]
    if swap:
        out[0], out[1] = out[1], out[0]
    return torch.stack(out, dim=-1)


WRONG_LOSSES = {
    "no 1/2 of the feature mean": lambda r, p: _losses(r, p, half=False),
    "bias 0 instead of the mean (E[x^2])": lambda r, p: _losses(r, p, var=lambda p: p / 3),
    "E[min^2] = 1/3": lambda r, p: _losses(r, p, pair=1 / 3),
    "importance on the wrong solution": lambda r, p: _losses(r, p, swap=True),
    "p instead of p^2 for the pair": lambda r, p: _losses(r, p, pair_power=1),
}


@pytest.mark.parametrize("label", list(WRONG_LOSSES))
def test_candidate_losses_rejects(label):
    assert run_check("candidate_losses", WRONG_LOSSES[label]).status == "failed", label


# --- boundary_density ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("wrong", [
    lambda r: 4 * r / (2 + 5 * r),                                      # the r <= 1 branch everywhere
    lambda r: torch.where(r <= 1, 4 / (5 + 2 * r), 4 * r / (2 + 5 * r)),  # branches swapped
    lambda r: torch.where(r <= 1, 2 * r / (1 + 5 * r), 2 / (5 + r)),      # slipped algebra
])
def test_boundary_density_rejects(wrong):
    assert run_check("boundary_density", wrong).status == "failed"


# --- monosemantic_neurons --------------------------------------------------------------------------------------

def _mono_abs(W, ratio=3.0):  # counts negative weights by their size
    top2 = W.abs().topk(2, dim=-1).values
    return (top2[..., 0] > 0.1) & (top2[..., 0] > ratio * top2[..., 1])


def _mono_no_alive(W, ratio=3.0):  # a dead neuron counts as monosemantic
    top2 = W.clamp(min=0).topk(2, dim=-1).values
    return top2[..., 0] >= ratio * top2[..., 1]


def _mono_features_axis(W, ratio=3.0):  # ranks each feature's neurons instead of each neuron's features
    top2 = W.clamp(min=0).topk(2, dim=-2).values
    return (top2[..., 0, :] > 0.1) & (top2[..., 0, :] > ratio * top2[..., 1, :])


def _mono_ignores_ratio(W, ratio=3.0):
    return monosemantic_neurons(W, 3.0)


def _mono_at_least(W, ratio=3.0):  # >= instead of >
    top2 = W.clamp(min=0).topk(2, dim=-1).values
    return (top2[..., 0] > 0.1) & (top2[..., 0] >= ratio * top2[..., 1])


@pytest.mark.parametrize("wrong", [_mono_abs, _mono_no_alive, _mono_features_axis, _mono_ignores_ratio, _mono_at_least])
def test_monosemantic_neurons_rejects(wrong):
    assert run_check("monosemantic_neurons", wrong).status == "failed"


# --- excess_kurtosis -------------------------------------------------------------------------------------------

def _kurt_not_excess(h, eps=1e-12):
    return excess_kurtosis(h, eps) + 3


def _kurt_uncentred(h, eps=1e-12):
    return (h**4).mean(0) / ((h**2).mean(0) ** 2 + eps) - 3


def _kurt_unbiased_var(h, eps=1e-12):
    c = h - h.mean(0)
    return (c**4).mean(0) / (c.var(0) ** 2 + eps) - 3


def _kurt_wrong_axis(h, eps=1e-12):  # over the hidden units instead of the batch
    c = h - h.mean(-1, keepdim=True)
    return ((c**4).mean(-1) / ((c**2).mean(-1) ** 2 + eps) - 3).T[:, : h.shape[-1]]


@pytest.mark.parametrize("wrong", [_kurt_not_excess, _kurt_uncentred, _kurt_unbiased_var, _kurt_wrong_axis])
def test_excess_kurtosis_rejects(wrong):
    assert run_check("excess_kurtosis", wrong).status == "failed"
