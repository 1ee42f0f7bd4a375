"""Exercises of notebook 02 (two features in one dimension): references and the cases that check them."""

from __future__ import annotations

import torch

from course_utils.exercises import Case, make_exercise, verifier
from course_utils.toy_models.antipodal import (
    descent_step,
    expected_loss,
    linear_loss,
    relu_loss,
    uniform_value_losses,
)

NOTEBOOK = "02_antipodal_pair"


def _uniform(shape: tuple[int, ...], low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(shape, generator=generator) * (high - low) + low


def _linear_loss_cases() -> list[Case]:
    g = torch.Generator().manual_seed(20)
    return [
        Case((torch.tensor(1.0), torch.tensor(0.0)), description="f1=1, f2=0 (one feature learned): L = 0.5"),
        Case((torch.tensor(1.0), torch.tensor(-1.0)), description="f1=1, f2=-1: L = 1"),
        Case((_uniform((8,), -2, 2, g), _uniform((8,), -2, 2, g))),
        Case((_uniform((3, 1), -2, 2, g), _uniform((1, 4), -2, 2, g)), description="a (3, 1) by (1, 4) grid"),
    ]


def _relu_loss_cases() -> list[Case]:
    g = torch.Generator().manual_seed(21)
    zero = torch.tensor(0.0)
    return [
        Case((torch.tensor(1.0), torch.tensor(-1.0), zero, zero), description="the antipodal pair f=(1,-1), b=0: L = 0"),
        Case((torch.tensor(1.0), torch.tensor(1.0), zero, zero), description="f=(1,1), b=0: L = 1"),
        Case(
            (torch.tensor(0.8), torch.tensor(-0.6), torch.tensor(0.3), torch.tensor(-0.2)),
            description="f=(0.8,-0.6), b=(0.3,-0.2): the biases differ",
        ),
        Case(tuple(_uniform((8,), -2, 2, g) for _ in range(2)) + tuple(_uniform((8,), -1, 1, g) for _ in range(2))),
        Case(
            (_uniform((3, 1), -2, 2, g), _uniform((1, 4), -2, 2, g), _uniform((3, 4), -1, 1, g), _uniform((3, 4), -1, 1, g)),
            description="a (3, 1) by (1, 4) grid with (3, 4) biases",
        ),
    ]


def _row_relu_loss(rows: torch.Tensor) -> torch.Tensor:
    return relu_loss(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3])


def _row_quadratic(rows: torch.Tensor) -> torch.Tensor:
    return ((rows - 0.5) ** 2 * torch.arange(1.0, rows.shape[1] + 1)).sum(dim=1)


def _descent_step_cases() -> list[Case]:
    g = torch.Generator().manual_seed(22)
    return [
        Case((_row_quadratic, torch.zeros(1, 2), 0.1), description="loss_fn = sum_i i (p_i - 0.5)^2, params = zeros(1, 2), lr = 0.1"),
        Case((_row_quadratic, _uniform((5, 3), -1, 1, g), 0.05), description="loss_fn = sum_i i (p_i - 0.5)^2, 5 rows, lr = 0.05"),
        Case(
            (_row_relu_loss, torch.cat([_uniform((6, 2), -1.5, 1.5, g), _uniform((6, 2), -0.3, 0.3, g)], dim=1), 0.05),
            description="loss_fn = the ReLU loss of rows (f1, f2, b1, b2), 6 rows, lr = 0.05",
        ),
    ]


def _expected_loss_cases() -> list[Case]:
    g = torch.Generator().manual_seed(23)
    zero = torch.tensor(0.0)
    return [
        Case((torch.tensor(1.0), torch.tensor(-1.0), zero, zero, 0.1), description="the pair f=(1,-1), b=0, p=0.1: 2p^2 = 0.02"),
        Case((torch.tensor(1.0), torch.tensor(0.0), zero, zero, 0.3), description="one feature f=(1,0), b=0, p=0.3: p = 0.3"),
        Case(
            (torch.tensor(0.9), torch.tensor(-0.7), torch.tensor(0.2), torch.tensor(0.1), 0.25),
            description="f=(0.9,-0.7), b=(0.2,0.1), p=0.25 (positive biases fire when no feature is on)",
        ),
        Case(tuple(_uniform((8,), -2, 2, g) for _ in range(2)) + tuple(_uniform((8,), -1, 1, g) for _ in range(2)) + (0.4,)),
        Case(
            (_uniform((4,), -2, 2, g), _uniform((4,), -2, 2, g), _uniform((4,), -0.5, 0.5, g), _uniform((4,), -0.5, 0.5, g),
             torch.tensor([[0.05], [0.5], [0.9]])),
            description="4 models and p as a (3, 1) tensor of densities",
        ),
    ]


make_exercise(
    name="linear_loss",
    notebook=NOTEBOOK,
    reference=linear_loss,
    verify=verifier(linear_loss, _linear_loss_cases),
    summary="the seed's linear loss L = E_k[L_k] of 2 features in 1 dimension (b = 0)",
)

make_exercise(
    name="relu_loss",
    notebook=NOTEBOOK,
    reference=relu_loss,
    verify=verifier(relu_loss, _relu_loss_cases),
    summary="the seed's ReLU loss with biases, one feature on at a time",
)


make_exercise(
    name="descent_step",
    notebook=NOTEBOOK,
    reference=descent_step,
    verify=verifier(descent_step, _descent_step_cases),
    summary="one step of plain gradient descent on many starts at once",
)

make_exercise(
    name="expected_loss",
    notebook=NOTEBOOK,
    reference=expected_loss,
    verify=verifier(expected_loss, _expected_loss_cases),
    summary="the ReLU model's expected loss when each feature is on with probability p",
)


def _uniform_value_cases() -> list[Case]:
    return [
        Case((torch.tensor(0.1),), description="p = 0.1"),
        Case((torch.tensor(4 / 7),), description="p = 4/7, where the two cost the same"),
        Case((torch.tensor(1.0),), description="p = 1: every feature always on"),
        Case((torch.linspace(0.01, 0.99, 9),), description="p = 0.01 ... 0.99 (a 1-D tensor)"),
    ]


make_exercise(
    name="uniform_value_losses",
    notebook=NOTEBOOK,
    reference=uniform_value_losses,
    verify=verifier(uniform_value_losses, _uniform_value_cases, atol=1e-6, rtol=1e-5),
    summary="the pair and the dedicated feature with Uniform[0, 1] values, derived in closed form",
)
