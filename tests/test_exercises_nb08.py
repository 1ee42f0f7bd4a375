"""Every exercise of notebook 08 passes with its reference and fails with the plausible wrong answers the
issue names (per-sample top-k, a pseudo-derivative with the wrong sign or no bandwidth, the gate's gradient
through the magnitude path, matching by max instead of one-to-one)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from course_utils.exercises import exercises_for, run_check
from course_utils.exercises import nb08_sae_variants as nb08

NAMES = ["batchtopk_activation", "JumpReLU", "gated_loss", "matryoshka_loss", "absorption_rate", "hungarian_mcc"]


def test_every_exercise_is_registered():
    assert sorted(ex.name for ex in exercises_for("08_sae_variants")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes(name):
    assert run_check(name, getattr(nb08, name)).status == "passed"


class _Unwritten(torch.autograd.Function):
    """The exercise notebook's JumpReLU before the learner writes it."""

    @staticmethod
    def forward(ctx, z, threshold, bandwidth):
        raise NotImplementedError()

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError()


def _unwritten(*args):
    raise NotImplementedError()


@pytest.mark.parametrize("name", NAMES)
def test_an_unwritten_answer_is_not_attempted(name):
    candidate = _Unwritten if name == "JumpReLU" else _unwritten
    assert run_check(name, candidate).status == "not attempted"


def _failed(name: str, candidate: Any) -> None:
    result = run_check(name, candidate)
    assert result.status == "failed", (name, result)


# ------------------------------------------------------------------ BatchTopK


def _per_sample_topk(pre_acts, k):
    vals, idx = torch.relu(pre_acts).topk(round(k), dim=-1)
    return torch.zeros_like(pre_acts).scatter(-1, idx, vals)


def _topk_before_relu_flat_without_relu(pre_acts, k):
    flat = pre_acts.flatten()
    vals, idx = flat.topk(round(k * pre_acts.shape[0]))
    return torch.zeros_like(flat).scatter(0, idx, vals).reshape(pre_acts.shape)


def _budget_k_not_k_times_batch(pre_acts, k):
    flat = torch.relu(pre_acts).flatten()
    vals, idx = flat.topk(round(k))
    return torch.zeros_like(flat).scatter(0, idx, vals).reshape(pre_acts.shape)


@pytest.mark.parametrize("wrong", [_per_sample_topk, _topk_before_relu_flat_without_relu, _budget_k_not_k_times_batch])
def test_batchtopk_rejects(wrong):
    _failed("batchtopk_activation", wrong)


# ------------------------------------------------------------------ JumpReLU


def _jumprelu(theta_grad):
    """A JumpReLU Function whose threshold gradient is theta_grad(z, threshold, eps, grad) (before the sum)."""

    class Candidate(torch.autograd.Function):
        @staticmethod
        def forward(ctx, z, threshold, bandwidth):
            ctx.save_for_backward(z, threshold)
            ctx.bandwidth = bandwidth
            return z * (z > threshold)

        @staticmethod
        def backward(ctx, grad):
            z, threshold = ctx.saved_tensors
            return (z > threshold) * grad, theta_grad(z, threshold, ctx.bandwidth, grad).sum(0), None

    return Candidate


def _kernel(z, t, eps):
    return ((z - t).abs() < eps / 2).float()


WRONG_JUMPRELU = {
    "wrong sign": _jumprelu(lambda z, t, eps, g: (t / eps) * _kernel(z, t, eps) * g),
    "no bandwidth": _jumprelu(lambda z, t, eps, g: -t * _kernel(z, t, eps) * g),
    "the step's pseudo-derivative (no theta)": _jumprelu(lambda z, t, eps, g: -(1 / eps) * _kernel(z, t, eps) * g),
    "kernel of full width eps": _jumprelu(lambda z, t, eps, g: -(t / eps) * ((z - t).abs() < eps).float() * g),
    "no threshold gradient": _jumprelu(lambda z, t, eps, g: torch.zeros_like(z)),
}


class _PlainJumpReLU(torch.autograd.Function):
    """Right threshold gradient, but z's gradient ignores the jump (a plain identity)."""

    @staticmethod
    def forward(ctx, z, threshold, bandwidth):
        ctx.save_for_backward(z, threshold)
        ctx.bandwidth = bandwidth
        return z * (z > threshold)

    @staticmethod
    def backward(ctx, grad):
        z, threshold = ctx.saved_tensors
        eps = ctx.bandwidth
        return grad, (-(threshold / eps) * _kernel(z, threshold, eps) * grad).sum(0), None


@pytest.mark.parametrize("name", list(WRONG_JUMPRELU))
def test_jumprelu_rejects_wrong_pseudo_derivatives(name):
    _failed("JumpReLU", WRONG_JUMPRELU[name])


def test_jumprelu_rejects_a_wrong_z_gradient_and_a_plain_function():
    _failed("JumpReLU", _PlainJumpReLU)
    _failed("JumpReLU", lambda z, threshold, bandwidth: z * (z > threshold))


# ------------------------------------------------------------------ Gated


def _gated(f_of, aux_detach=True, l1_on="gate"):
    def candidate(x, pi_gate, pi_mag, W_dec, b_dec, l1_coeff):
        f = f_of(pi_gate, pi_mag)
        x_hat = torch.einsum("bid,idh->bih", f, W_dec) + b_dec
        gate = torch.relu(pi_gate)
        Wa, ba = (W_dec.detach(), b_dec.detach()) if aux_detach else (W_dec, b_dec)
        x_aux = torch.einsum("bid,idh->bih", gate, Wa) + ba
        penalty = gate if l1_on == "gate" else torch.relu(pi_mag)
        return ((x - x_hat).pow(2).sum(-1).mean(0) + l1_coeff * penalty.sum(-1).mean(0)
                + (x - x_aux).pow(2).sum(-1).mean(0))
    return candidate


def _heaviside(pi_gate, pi_mag):
    return (pi_gate > 0).float() * torch.relu(pi_mag)


WRONG_GATED = {
    # the gate's gradient flows through the magnitude path (a ReLU gate instead of the step)
    "ReLU gate in the reconstruction": _gated(lambda g, m: torch.relu(g) * torch.relu(m)),
    "sigmoid gate": _gated(lambda g, m: torch.sigmoid(g) * torch.relu(m)),
    "aux trains the decoder": _gated(_heaviside, aux_detach=False),
    "L1 on the magnitudes": _gated(_heaviside, l1_on="mag"),
}


@pytest.mark.parametrize("name", list(WRONG_GATED))
def test_gated_loss_rejects(name):
    _failed("gated_loss", WRONG_GATED[name])


def test_gated_loss_rejects_a_loss_without_the_aux_term():
    def no_aux(x, pi_gate, pi_mag, W_dec, b_dec, l1_coeff):
        f = _heaviside(pi_gate, pi_mag)
        x_hat = torch.einsum("bid,idh->bih", f, W_dec) + b_dec
        return (x - x_hat).pow(2).sum(-1).mean(0) + l1_coeff * torch.relu(pi_gate).sum(-1).mean(0)

    _failed("gated_loss", no_aux)


# ------------------------------------------------------------------ Matryoshka


def _only_full(x, acts, W_dec, b_dec, widths):
    return (x - (torch.einsum("bid,idh->bih", acts, W_dec) + b_dec)).pow(2).sum(-1).mean(0)


def _mean_over_prefixes(x, acts, W_dec, b_dec, widths):
    return nb08.matryoshka_loss(x, acts, W_dec, b_dec, widths) / len(widths)


def _prefix_off_by_one(x, acts, W_dec, b_dec, widths):
    total = 0
    for m in widths:
        x_hat = torch.einsum("bim,imh->bih", acts[..., : m - 1], W_dec[:, : m - 1]) + b_dec
        total = total + (x - x_hat).pow(2).sum(-1).mean(0)
    return total


def _prefix_without_b_dec(x, acts, W_dec, b_dec, widths):
    total = 0
    for m in widths:
        x_hat = torch.einsum("bim,imh->bih", acts[..., :m], W_dec[:, :m])
        total = total + (x - x_hat).pow(2).sum(-1).mean(0)
    return total


@pytest.mark.parametrize("wrong", [_only_full, _mean_over_prefixes, _prefix_off_by_one, _prefix_without_b_dec])
def test_matryoshka_loss_rejects(wrong):
    _failed("matryoshka_loss", wrong)


# ------------------------------------------------------------------ absorption


def _over_all_parent_inputs(acts, parent, child):
    return (acts[parent] <= 0).float().mean()


def _over_child_inputs_ignoring_parent(acts, parent, child):
    return (acts[child] <= 0).float().mean()


def _fired_fraction(acts, parent, child):
    return (acts[parent & child] > 0).float().mean()


@pytest.mark.parametrize("wrong", [_over_all_parent_inputs, _fired_fraction])
def test_absorption_rate_rejects(wrong):
    _failed("absorption_rate", wrong)


def test_absorption_rate_child_only_mask_is_the_same_when_children_need_parents():
    # children never fire without their parent in the cases, so this one is (rightly) accepted
    assert run_check("absorption_rate", _over_child_inputs_ignoring_parent).status == "passed"


# ------------------------------------------------------------------ Hungarian MCC


def _max_instead_of_one_to_one(W_dec, true):
    cos = (F.normalize(true, dim=-1) @ F.normalize(W_dec, dim=-1).T).abs()
    return cos.max(-1).values.mean()


def _signed_cosines(W_dec, true):
    from scipy.optimize import linear_sum_assignment

    cos = F.normalize(true, dim=-1) @ F.normalize(W_dec, dim=-1).T
    rows, cols = linear_sum_assignment(-cos.numpy())
    return cos[torch.as_tensor(rows), torch.as_tensor(cols)].mean()


def _mean_over_all_features(W_dec, true):
    from scipy.optimize import linear_sum_assignment

    cos = (F.normalize(true, dim=-1) @ F.normalize(W_dec, dim=-1).T).abs()
    rows, cols = linear_sum_assignment(-cos.numpy())
    return cos[torch.as_tensor(rows), torch.as_tensor(cols)].sum() / true.shape[0]


@pytest.mark.parametrize("wrong", [_max_instead_of_one_to_one, _signed_cosines, _mean_over_all_features])
def test_hungarian_mcc_rejects(wrong):
    _failed("hungarian_mcc", wrong)

