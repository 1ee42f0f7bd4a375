"""Notebook 02's checks accept the reference and reject plausible wrong answers."""

from __future__ import annotations

import pytest
import torch

from course_utils.exercises import exercises_for, run_check
from course_utils.toy_models.antipodal import (
    descent_step,
    expected_loss,
    linear_loss,
    relu_loss,
    uniform_value_losses,
)

relu = torch.relu


def test_notebook_02_has_its_four_exercises():
    names = [ex.name for ex in exercises_for("02_antipodal_pair")]
    assert names == ["linear_loss", "relu_loss", "descent_step", "expected_loss", "uniform_value_losses"]


@pytest.mark.parametrize("name,reference", [
    ("linear_loss", linear_loss), ("relu_loss", relu_loss),
    ("descent_step", descent_step), ("expected_loss", expected_loss),
    ("uniform_value_losses", uniform_value_losses),
])
def test_reference_passes(name, reference):
    result = run_check(name, reference)
    assert result.status == "passed", result.message
    assert result.cases >= 3


def test_unfinished_answer_is_not_attempted():
    def unfinished(*args):
        raise NotImplementedError()

    assert run_check("relu_loss", unfinished).status == "not attempted"


# --- linear_loss -----------------------------------------------------------------------------------------------

def _linear_sum(f1, f2):  # sum over k instead of the mean
    return (1 - f1 * f1) ** 2 + (f2 * f1) ** 2 + (1 - f2 * f2) ** 2 + (f1 * f2) ** 2


def _linear_no_interference(f1, f2):  # forgets sum_{j != k} (f_j f_k)^2
    return ((1 - f1 * f1) ** 2 + (1 - f2 * f2) ** 2) / 2


def _linear_unsquared_norm(f1, f2):  # (1 - f_k) instead of (1 - f_k . f_k)
    return ((1 - f1) ** 2 + (f1 * f2) ** 2 + (1 - f2) ** 2 + (f1 * f2) ** 2) / 2


def _linear_wrong_sign(f1, f2):  # (1 + f_k^2)
    return ((1 + f1 * f1) ** 2 + (f1 * f2) ** 2 + (1 + f2 * f2) ** 2 + (f1 * f2) ** 2) / 2


@pytest.mark.parametrize("wrong", [_linear_sum, _linear_no_interference, _linear_unsquared_norm, _linear_wrong_sign])
def test_linear_loss_rejects(wrong):
    assert run_check("linear_loss", wrong).status == "failed"


# --- relu_loss -------------------------------------------------------------------------------------------------

def _relu_no_bias(f1, f2, b1, b2):
    return relu_loss(f1, f2, torch.zeros_like(b1), torch.zeros_like(b2))


def _relu_sum(f1, f2, b1, b2):
    return 2 * relu_loss(f1, f2, b1, b2)


def _relu_wrong_place(f1, f2, b1, b2):  # ReLU on the weight instead of on the pre-activation
    loss_1 = (1 - (relu(f1) * f1 + b1)) ** 2 + (relu(f2) * f1 + b2) ** 2
    loss_2 = (1 - (relu(f2) * f2 + b2)) ** 2 + (relu(f1) * f2 + b1) ** 2
    return (loss_1 + loss_2) / 2


def _relu_before_bias(f1, f2, b1, b2):  # ReLU(f_j h) + b_j
    loss_1 = (1 - (relu(f1 * f1) + b1)) ** 2 + (relu(f2 * f1) + b2) ** 2
    loss_2 = (1 - (relu(f2 * f2) + b2)) ** 2 + (relu(f1 * f2) + b1) ** 2
    return (loss_1 + loss_2) / 2


def _relu_mean_over_readouts(f1, f2, b1, b2):  # averages the readouts' errors as well as the active features
    return relu_loss(f1, f2, b1, b2) / 2


def _relu_minus_bias(f1, f2, b1, b2):
    return relu_loss(f1, f2, -b1, -b2)


def _relu_no_relu(f1, f2, b1, b2):  # the linear readout with biases
    loss_1 = (1 - (f1 * f1 + b1)) ** 2 + (f2 * f1 + b2) ** 2
    loss_2 = (1 - (f2 * f2 + b2)) ** 2 + (f1 * f2 + b1) ** 2
    return (loss_1 + loss_2) / 2


@pytest.mark.parametrize("wrong", [_relu_no_bias, _relu_sum, _relu_wrong_place, _relu_before_bias, _relu_mean_over_readouts,
                                   _relu_minus_bias, _relu_no_relu])
def test_relu_loss_rejects(wrong):
    assert run_check("relu_loss", wrong).status == "failed"


def test_relu_loss_failure_names_the_input():
    result = run_check("relu_loss", _relu_no_bias)
    assert "expected" in result.message and result.inputs


# --- descent_step ----------------------------------------------------------------------------------------------

def _step_mean(loss_fn, params, lr):  # averages over rows: every gradient shrinks by 1/inst
    params = params.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(params).mean(), params)
    return (params - lr * grad).detach()


def _step_ascent(loss_fn, params, lr):
    params = params.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(params).sum(), params)
    return (params + lr * grad).detach()


def _step_no_lr(loss_fn, params, lr):
    params = params.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(params).sum(), params)
    return (params - grad).detach()


def _step_returns_gradient(loss_fn, params, lr):
    params = params.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(params).sum(), params)
    return -lr * grad


@pytest.mark.parametrize("wrong", [_step_mean, _step_ascent, _step_no_lr, _step_returns_gradient])
def test_descent_step_rejects(wrong):
    assert run_check("descent_step", wrong).status == "failed"


def test_descent_step_accepts_a_manual_in_place_style_answer():
    def with_backward(loss_fn, params, lr):
        params = params.clone().requires_grad_(True)
        loss_fn(params).sum().backward()
        with torch.no_grad():
            return params - lr * params.grad

    assert run_check("descent_step", with_backward).status == "passed"


# --- expected_loss ---------------------------------------------------------------------------------------------

_STATES = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)]


def _expected(f1, f2, b1, b2, p, *, weight=None, readout=relu, skip=(), scale=1.0):
    total = 0.0
    for x1, x2 in _STATES:
        if (x1, x2) in skip:
            continue
        prob = weight(x1, x2, p) if weight else (p if x1 else 1 - p) * (p if x2 else 1 - p)
        h = f1 * x1 + f2 * x2
        total = total + prob * ((x1 - readout(f1 * h + b1)) ** 2 + (x2 - readout(f2 * h + b2)) ** 2)
    return total * scale


WRONG_EXPECTED = {
    "skips none on": lambda *a: _expected(*a, skip=[(0.0, 0.0)]),
    "skips both on": lambda *a: _expected(*a, skip=[(1.0, 1.0)]),
    "linear readout": lambda *a: _expected(*a, readout=lambda z: z),
    "weights p per feature on": lambda *a: _expected(*a, weight=lambda x1, x2, p: p ** (x1 + x2)),
    "mean over features": lambda *a: _expected(*a, scale=0.5),
    "ignores the biases": lambda f1, f2, b1, b2, p: _expected(f1, f2, 0 * b1, 0 * b2, p),
}


@pytest.mark.parametrize("label", list(WRONG_EXPECTED))
def test_expected_loss_rejects(label):
    assert run_check("expected_loss", WRONG_EXPECTED[label]).status == "failed", label


# --- uniform_value_losses --------------------------------------------------------------------------------------

def _uniform(pair, dedicated):
    return lambda p: torch.stack([pair(torch.as_tensor(p)), dedicated(torch.as_tensor(p))], dim=-1)


WRONG_UNIFORM = {
    "binary values (2p^2, p(1 - p))": _uniform(lambda p: 2 * p**2, lambda p: p * (1 - p)),
    "E[min^2] = 1/4 instead of 1/6": _uniform(lambda p: 2 * p**2 / 4, lambda p: p / 3 - p**2 / 4),
    "one readout's error only": _uniform(lambda p: p**2 / 6, lambda p: p / 3 - p**2 / 4),
    "dropped feature read as 0 (E[x^2])": _uniform(lambda p: p**2 / 3, lambda p: p / 3),
    "variance of a Uniform[0, 1] value (1/12) times p": _uniform(lambda p: p**2 / 3, lambda p: p / 12),
    "columns swapped": _uniform(lambda p: p / 3 - p**2 / 4, lambda p: p**2 / 3),
}


@pytest.mark.parametrize("label", list(WRONG_UNIFORM))
def test_uniform_value_losses_rejects(label):
    assert run_check("uniform_value_losses", WRONG_UNIFORM[label]).status == "failed", label


def test_uniform_value_losses_match_sampling():
    """The closed forms agree with a Monte Carlo estimate of the same two readouts."""
    g = torch.Generator().manual_seed(0)
    p, n = 0.4, 400_000
    x = torch.rand(n, 2, generator=g) * (torch.rand(n, 2, generator=g) < p)
    pair = ((x[:, 0] - relu(x[:, 0] - x[:, 1])) ** 2 + (x[:, 1] - relu(x[:, 1] - x[:, 0])) ** 2).mean()
    dedicated = ((x[:, 1] - p / 2) ** 2).mean()
    expected = uniform_value_losses(torch.tensor(p))
    assert float(pair) == pytest.approx(float(expected[0]), rel=0.02)
    assert float(dedicated) == pytest.approx(float(expected[1]), rel=0.02)
