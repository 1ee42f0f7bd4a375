"""Every exercise of notebook 07 passes with its reference and fails with plausible wrong answers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_utils.exercises import exercises_for, run_check
from course_utils.exercises import nb07_sparse_autoencoders as nb05

NAMES = ["soft_threshold", "sae_forward", "sae_loss", "constrained_decoder_step", "resample_dead", "mmcs", "topk_activation"]


def test_every_exercise_is_registered():
    assert sorted(ex.name for ex in exercises_for("07_sparse_autoencoders")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes(name):
    assert run_check(name, getattr(nb05, name)).status == "passed"


def _no_b_pre(x, W_enc, b_enc, W_dec, b_dec):
    acts = torch.relu(torch.einsum("bih,idh->bid", x, W_enc) + b_enc)
    return acts, torch.einsum("bid,idh->bih", acts, W_dec) + b_dec


def _no_relu(x, W_enc, b_enc, W_dec, b_dec):
    acts = torch.einsum("bih,idh->bid", x - b_dec, W_enc) + b_enc
    return acts, torch.einsum("bid,idh->bih", acts, W_dec) + b_dec


def _no_b_dec_in_decoder(x, W_enc, b_enc, W_dec, b_dec):
    acts = torch.relu(torch.einsum("bih,idh->bid", x - b_dec, W_enc) + b_enc)
    return acts, torch.einsum("bid,idh->bih", acts, W_dec)


def _l1_on_x_hat(x, acts, x_hat, l1_coeff):
    return (x - x_hat).pow(2).sum(-1).mean(0) + l1_coeff * x_hat.abs().sum(-1).mean(0)


def _mse_mean_over_hidden(x, acts, x_hat, l1_coeff):
    return (x - x_hat).pow(2).mean(-1).mean(0) + l1_coeff * acts.abs().sum(-1).mean(0)


def _l2_penalty(x, acts, x_hat, l1_coeff):
    return (x - x_hat).pow(2).sum(-1).mean(0) + l1_coeff * acts.pow(2).sum(-1).mean(0)


def _not_normalised(W_dec, grad, lr):
    parallel = (grad * W_dec).sum(-1, keepdim=True) * W_dec
    return W_dec - lr * (grad - parallel)


def _not_projected(W_dec, grad, lr):
    W_new = W_dec - lr * grad
    return W_new / W_new.norm(dim=-1, keepdim=True)


def _normalised_wrong_dim(W_dec, grad, lr):
    parallel = (grad * W_dec).sum(-1, keepdim=True) * W_dec
    W_new = W_dec - lr * (grad - parallel)
    return W_new / W_new.norm(dim=-2, keepdim=True)


def _resampler(*, weights=lambda loss: loss**2, unit=True, scale_by_alive=True, zero_bias=True, after=False,
               draw=None):
    """A resample_dead with one thing changed (the draw's weights, a missing normalisation, ...)."""

    def resample(W_enc, b_enc, W_dec, dead, x, x_hat, *, generator, scale=0.2):
        W_enc, b_enc, W_dec = W_enc.clone(), b_enc.clone(), W_dec.clone()
        loss = (x - x_hat).pow(2).sum(-1)
        n_dead = int(dead.sum())
        picks = draw(loss, n_dead, generator) if draw else torch.multinomial(weights(loss), n_dead, replacement=True,
                                                                              generator=generator)
        chosen = x[picks] / x[picks].norm(dim=-1, keepdim=True) if unit else x[picks]
        W_dec[dead] = chosen
        alive_norm = W_enc[~dead].norm(dim=-1).mean() if scale_by_alive else 1.0
        if after:
            W_enc[dead] = 0.0
            alive_norm = W_enc.norm(dim=-1).mean()
        W_enc[dead] = chosen * scale * alive_norm
        if zero_bias:
            b_enc[dead] = 0.0
        return W_enc, b_enc, W_dec

    return resample


WRONG_RESAMPLE = {
    "weights proportional to the loss, not its square": _resampler(weights=lambda loss: loss),
    "weights the loss to the fourth power": _resampler(weights=lambda loss: loss**4),
    "uniform draw": _resampler(weights=lambda loss: torch.ones_like(loss)),
    "always the worst input": _resampler(draw=lambda loss, n, g: loss.argmax().repeat(n)),
    "no generator (a fresh draw each call)": _resampler(draw=lambda loss, n, g: torch.multinomial(loss**2, n, replacement=True)),
    "decoder row not normalised": _resampler(unit=False),
    "encoder not scaled by the alive norm": _resampler(scale_by_alive=False),
    "alive norm taken after the change": _resampler(after=True),
    "bias kept": _resampler(zero_bias=False),
}


@pytest.mark.parametrize("label", list(WRONG_RESAMPLE))
def test_resample_dead_rejects(label):
    result = run_check("resample_dead", WRONG_RESAMPLE[label])
    assert result.status == "failed", label
    assert result.message


def test_resample_dead_frequency_failure_names_both_distributions():
    result = run_check("resample_dead", WRONG_RESAMPLE["weights proportional to the loss, not its square"])
    assert "squared loss gives [0.0, 0.071, 0.286, 0.643]" in result.message


def _mmcs_max_over_features(W_dec, true_features):
    cos = F.normalize(true_features, dim=-1) @ F.normalize(W_dec, dim=-1).T
    return cos.max(dim=0).values.mean()


def _mmcs_unnormalised(W_dec, true_features):
    return (true_features @ W_dec.T).max(dim=-1).values.mean()


def _mmcs_abs(W_dec, true_features):
    cos = F.normalize(true_features, dim=-1) @ F.normalize(W_dec, dim=-1).T
    return cos.abs().max(dim=-1).values.mean()


def _topk_no_relu(pre_acts, k):
    vals, idx = pre_acts.topk(k, dim=-1)
    return torch.zeros_like(pre_acts).scatter(-1, idx, vals)


def _topk_off_by_one(pre_acts, k):
    vals, idx = pre_acts.topk(k + 1, dim=-1)
    return torch.zeros_like(pre_acts).scatter(-1, idx, torch.relu(vals))


def _topk_relu_only(pre_acts, k):
    return torch.relu(pre_acts)


def _soft_threshold_hard(z, threshold):
    return torch.where(z.abs() > threshold, z, 0.0)


def _soft_threshold_l2(z, threshold):
    return z / (1 + 2 * threshold)


WRONG = [
    ("soft_threshold", _soft_threshold_hard),
    ("soft_threshold", _soft_threshold_l2),
    ("sae_forward", _no_b_pre),
    ("sae_forward", _no_relu),
    ("sae_forward", _no_b_dec_in_decoder),
    ("sae_loss", _l1_on_x_hat),
    ("sae_loss", _mse_mean_over_hidden),
    ("sae_loss", _l2_penalty),
    ("constrained_decoder_step", _not_normalised),
    ("constrained_decoder_step", _not_projected),
    ("constrained_decoder_step", _normalised_wrong_dim),
    ("mmcs", _mmcs_max_over_features),
    ("mmcs", _mmcs_unnormalised),
    ("mmcs", _mmcs_abs),
    ("topk_activation", _topk_no_relu),
    ("topk_activation", _topk_off_by_one),
    ("topk_activation", _topk_relu_only),
]


@pytest.mark.parametrize(("name", "wrong"), WRONG, ids=[f"{n}-{w.__name__}" for n, w in WRONG])
def test_wrong_answer_fails(name, wrong):
    result = run_check(name, wrong)
    assert result.status == "failed", result
    assert result.message


def test_unfinished_answer_is_not_attempted():
    def unfinished(*args, **kwargs):
        raise NotImplementedError

    assert run_check("sae_forward", unfinished).status == "not attempted"
