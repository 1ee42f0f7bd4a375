"""The 2-in-1 model: losses against hand-computed values, exact best biases, expected loss, descent."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils.toy_models.antipodal import (
    STATES,
    DescentConfig,
    as_row_loss,
    classify,
    crossover,
    dedicated_loss_best_bias,
    dedicated_loss_fixed_bias,
    density_sweep,
    descend,
    descent_step,
    expected_loss,
    linear_loss,
    loss_grid,
    pair_loss_best_bias,
    pair_loss_fixed_bias,
    random_starts,
    relu_loss,
    relu_loss_best_bias,
    state_losses,
    state_probabilities,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_linear_loss_hand_values_and_closed_form():
    assert linear_loss(1.0, 0.0).item() == pytest.approx(0.5)
    assert linear_loss(1.0, -1.0).item() == pytest.approx(1.0)
    assert linear_loss(0.0, 0.0).item() == pytest.approx(1.0)
    f1, f2 = torch.randn(100, generator=_gen()), torch.randn(100, generator=_gen(1))
    s = f1**2 + f2**2
    torch.testing.assert_close(linear_loss(f1, f2), (1 + (1 - s) ** 2) / 2)


def test_relu_loss_hand_values():
    assert relu_loss(1.0, -1.0, 0.0, 0.0).item() == 0.0
    assert relu_loss(1.0, 1.0, 0.0, 0.0).item() == pytest.approx(1.0)
    # f=(0.5, 0.5), b=(0.2, -0.4): k=1: (1 - 0.45)^2 + relu(0.25 - 0.4)^2; k=2: (1 - relu(-0.15))^2 + 0.45^2
    expected = ((0.55**2 + 0.0) + (1.0 + 0.45**2)) / 2
    assert relu_loss(0.5, 0.5, 0.2, -0.4).item() == pytest.approx(expected)


def test_relu_loss_equals_linear_where_weights_share_a_sign():
    f1 = torch.rand(50, generator=_gen()) * 2
    f2 = torch.rand(50, generator=_gen(1)) * 2
    torch.testing.assert_close(relu_loss(f1, f2, 0.0, 0.0), linear_loss(f1, f2))
    torch.testing.assert_close(relu_loss(-f1, -f2, 0.0, 0.0), linear_loss(f1, f2))
    assert (relu_loss(f1, -f2, 0.0, 0.0) <= linear_loss(f1, -f2) + 1e-6).all()


@pytest.mark.parametrize("f1,f2", [(0.3, 0.7), (1.2, -0.4), (-0.5, -0.5), (0.1, 1.5), (0.0, 0.0), (2.0, 2.0), (1.0, -1.0)])
def test_best_bias_is_exact(f1, f2):
    loss, b1, b2 = relu_loss_best_bias(torch.tensor(f1), torch.tensor(f2))
    biases = torch.linspace(-5, 5, 2001)
    brute = relu_loss(torch.tensor(f1), torch.tensor(f2), biases[:, None], biases[None, :]).min()
    assert loss.item() <= brute.item() + 1e-6
    assert loss.item() == pytest.approx(brute.item(), abs=1e-4)
    assert relu_loss(f1, f2, b1, b2).item() == pytest.approx(loss.item(), abs=1e-6)


def test_best_bias_zero_region():
    _, f1, f2 = loss_grid(2.0, 41)
    loss, _, _ = relu_loss_best_bias(f1, f2)
    region = (f1 * (f1 - f2) >= 1 - 1e-6) & (f2 * (f2 - f1) >= 1 - 1e-6)  # the margin absorbs float rounding
    assert region.any() and ((loss < 1e-9) == region).all()
    assert (f1 * f2)[region].lt(0).all()


def test_loss_grid_orientation_and_errors():
    axis, f1, f2 = loss_grid(1.0, 5)
    assert f1[0].tolist() == axis.tolist() and f2[:, 0].tolist() == axis.tolist()
    with pytest.raises(ValueError, match="lim > 0"):
        loss_grid(-1.0)


def test_state_probabilities_sum_to_one_and_reject_bad_p():
    p = torch.tensor([0.0, 0.3, 1.0])
    probs = state_probabilities(p)
    assert probs.shape == (4, 3)
    torch.testing.assert_close(probs.sum(0), torch.ones(3))
    assert probs[:, 1].tolist() == pytest.approx([0.49, 0.21, 0.21, 0.09])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        state_probabilities(1.5)


def test_state_losses_of_the_pair_and_the_dedicated_feature():
    assert state_losses(1.0, -1.0, 0.0, 0.0).tolist() == [0.0, 0.0, 0.0, 2.0]
    assert state_losses(1.0, 0.0, 0.0, 0.0).tolist() == [0.0, 0.0, 1.0, 1.0]
    assert state_losses(1.0, 0.0, 0.0, 0.0, relu=False).tolist() == [0.0, 0.0, 1.0, 1.0]
    assert state_losses(1.0, 1.0, 0.0, 0.0, relu=False)[3].item() == pytest.approx(2.0)  # x_hat = (2, 2)


def test_expected_loss_closed_forms():
    p = torch.linspace(0, 1, 11)
    torch.testing.assert_close(expected_loss(1.0, -1.0, 0.0, 0.0, p), 2 * p**2)
    torch.testing.assert_close(expected_loss(1.0, 0.0, 0.0, 0.0, p), p)
    torch.testing.assert_close(expected_loss(1.0, 0.0, 0.0, p, p), p * (1 - p))
    torch.testing.assert_close(pair_loss_fixed_bias(p), 2 * p**2)
    torch.testing.assert_close(dedicated_loss_fixed_bias(p), p)


def test_expected_loss_matches_sampling():
    g = _gen(3)
    f1, f2, b1, b2, p = 0.9, -0.7, 0.2, 0.1, 0.3
    x = (torch.rand(400_000, 2, generator=g) < p).float()
    h = f1 * x[:, 0] + f2 * x[:, 1]
    err = (x[:, 0] - torch.relu(f1 * h + b1)) ** 2 + (x[:, 1] - torch.relu(f2 * h + b2)) ** 2
    assert expected_loss(f1, f2, b1, b2, p).item() == pytest.approx(err.mean().item(), abs=3e-3)


def test_one_at_a_time_is_the_seed_loss():
    # Given exactly one feature on, the expected loss is the seed's E_k[L_k].
    f1, f2, b1, b2 = 0.8, -1.1, 0.15, -0.05
    one_on = state_losses(f1, f2, b1, b2)[1:3].mean()
    assert one_on.item() == pytest.approx(relu_loss(f1, f2, b1, b2).item())


def test_pair_best_bias_against_closed_form_and_dedicated():
    p = torch.tensor([0.05, 0.2, 0.35, 0.45, 0.6, 0.8])
    loss, a, c = pair_loss_best_bias(p)
    closed = 2 * p**2 * (1 - p) ** 2 / (p**2 + (1 - p) ** 2)  # valid for p <= 1/2
    below = p < 0.5
    torch.testing.assert_close(loss[below], closed[below], atol=2e-4, rtol=0)
    torch.testing.assert_close(loss[~below], dedicated_loss_best_bias(p[~below]), atol=2e-4, rtol=0)
    torch.testing.assert_close(expected_loss(a, -a, c, c, p), loss)
    assert (loss[below] < dedicated_loss_best_bias(p[below])).all()


def test_dedicated_best_bias_is_a_minimum():
    p = 0.3
    grid = torch.linspace(-1, 1.5, 251)
    brute = expected_loss(1.0, 0.0, grid[:, None], grid[None, :], p).min()
    assert dedicated_loss_best_bias(p).item() == pytest.approx(brute.item(), abs=1e-4)
    assert dedicated_loss_best_bias(p).item() <= brute.item() + 1e-7


def test_random_starts():
    rows = random_starts(10, n_biases=2, scale=0.5, generator=_gen())
    assert rows.shape == (10, 4) and rows[:, :2].abs().max() <= 0.5 and (rows[:, 2:] == 0).all()
    torch.testing.assert_close(rows, random_starts(10, n_biases=2, scale=0.5, generator=_gen()))
    with pytest.raises(ValueError, match="n_starts"):
        random_starts(0, generator=_gen())


def test_descent_step_matches_the_hand_gradient_and_keeps_input():
    params = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    before = params.clone()
    out = descent_step(lambda rows: (rows**2).sum(dim=1), params, 0.1)
    torch.testing.assert_close(out, params - 0.1 * 2 * params)
    torch.testing.assert_close(params, before)
    assert not out.requires_grad


def test_descend_shapes_and_errors():
    init = torch.tensor([[0.5, 0.1]])
    path = descend(as_row_loss(linear_loss, n_biases=0), init, DescentConfig(steps=7, lr=0.05))
    assert path.shape == (8, 1, 2)
    torch.testing.assert_close(path[0], init)
    with pytest.raises(ValueError, match="shape"):
        descend(as_row_loss(linear_loss, n_biases=0), init[0], DescentConfig(steps=2))
    with pytest.raises(ValueError, match="n_biases"):
        as_row_loss(relu_loss, n_biases=1)


def test_descend_custom_step_is_used():
    calls = []

    def step(loss_fn, params, lr):
        calls.append(lr)
        return params + 1

    path = descend(as_row_loss(linear_loss, n_biases=0), torch.zeros(2, 2), DescentConfig(steps=3, lr=0.5), step=step)
    assert calls == [0.5, 0.5, 0.5] and path[-1].eq(3).all()


def test_linear_descent_ends_on_the_unit_circle_keeping_the_angle():
    init = random_starts(16, scale=1.5, generator=_gen(4))
    end = descend(as_row_loss(linear_loss, n_biases=0), init, DescentConfig(steps=400, lr=0.05))[-1]
    torch.testing.assert_close(end.norm(dim=1), torch.ones(16), atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.atan2(end[:, 1], end[:, 0]), torch.atan2(init[:, 1], init[:, 0]), atol=1e-4, rtol=0)


def test_relu_descent_with_biases_finds_antipodal_pairs():
    init = random_starts(16, n_biases=2, scale=1.5, generator=_gen(5))
    loss_fn = as_row_loss(relu_loss, n_biases=2)
    end = descend(loss_fn, init, DescentConfig(steps=600, lr=0.05))[-1]
    assert loss_fn(end).max() < 1e-4
    assert classify(end[:, :2]) == ["antipodal pair"] * 16


def test_classify():
    f = torch.tensor([[1.0, -1.0], [0.5, 0.4], [1.0, 0.01], [0.0, 0.05]])
    assert classify(f) == ["antipodal pair", "same side", "one feature", "none"]


def test_crossover():
    x = torch.linspace(0, 1, 11)
    assert crossover(x, 2 * x**2, x) == pytest.approx(0.5)
    assert crossover(x, x - 0.25, torch.zeros(11)) == pytest.approx(0.25)
    assert crossover(x, torch.zeros(11), torch.ones(11)) is None


def test_density_sweep_small():
    densities = torch.tensor([0.1, 0.3, 0.7])
    sweep = density_sweep(densities, n_starts=4, steps=150, lr=0.08, generator=_gen())
    assert sweep.trained_params.shape == (3, 4)
    fitted = expected_loss(*sweep.trained_params.T, densities)
    torch.testing.assert_close(fitted, sweep.trained)
    assert (sweep.trained <= sweep.pair_fixed + 1e-3).all()
    assert (sweep.trained <= sweep.dedicated_best + 1e-3).all()
    assert classify(sweep.trained_params[:2, :2]) == ["antipodal pair", "antipodal pair"]
    with pytest.raises(ValueError, match="density"):
        density_sweep(torch.tensor([0.5, 1.2]), generator=_gen())


def test_states_are_the_four_binary_inputs():
    assert STATES.tolist() == [[0, 0], [1, 0], [0, 1], [1, 1]]
    assert math.isclose(float(state_probabilities(0.5).sum()), 1.0)
