"""Exercises of notebook 04 (feature geometry, the phase diagram, privileged bases): references and their cases."""

from __future__ import annotations

import math

import torch

from course_utils.exercises import Case, make_exercise, verifier
from course_utils.toy_models.feature_geometry import (
    dimensions_per_feature,
    excess_kurtosis,
    feature_dimensionality,
    monosemantic_neurons,
)
from course_utils.toy_models.phase_diagram import boundary_density, candidate_losses

NOTEBOOK = "04_feature_geometry"


def _polygon(k: int, n: int | None = None) -> torch.Tensor:
    """k unit vectors evenly spaced in 2-D, as W of shape (1, 2, k) (plus zero columns up to n)."""
    angles = torch.arange(k) * 2 * math.pi / k
    W = torch.stack([torch.cos(angles), torch.sin(angles)])[None]
    return W if n is None else torch.cat([W, torch.zeros(1, 2, n - k)], dim=-1)


def _feature_dimensionality_cases() -> list[Case]:
    g = torch.Generator().manual_seed(40)
    return [
        Case((torch.tensor([[[1.0, -1.0]]]),), description="the antipodal pair W = [[1, -1]]: D = [1/2, 1/2]"),
        Case((_polygon(5),), description="a pentagon of unit vectors in 2-D: D_i = 2/5"),
        Case((torch.tensor([[[2.0, 0.0], [0.0, 0.5]]]),), description="two orthogonal features of norms 2 and 0.5: D = [1, 1]"),
        Case((_polygon(3, n=5),), description="a triangle plus two zero columns: D = [2/3, 2/3, 2/3, 0, 0]"),
        Case((torch.randn(3, 4, 7, generator=g),), description="random W of shape (3, 4, 7)"),
    ]


def _dimensions_per_feature_cases() -> list[Case]:
    g = torch.Generator().manual_seed(41)
    return [
        Case((_polygon(5),), description="a pentagon in 2-D: D* = 2/5"),
        Case((torch.tensor([[[1.0, -1.0]], [[1.0, 0.0]]]),), description="two instances, W = [[1, -1]] and [[1, 0]]: D* = [1/2, 1]"),
        Case((torch.randn(4, 3, 9, generator=g),), description="random W of shape (4, 3, 9)"),
    ]


def _candidate_losses_cases() -> list[Case]:
    g = torch.Generator().manual_seed(42)
    return [
        Case((torch.tensor(1.0), torch.tensor(1.0)), description="r = 1, p = 1 (dense)"),
        Case((torch.tensor(0.5), torch.tensor(0.1)), description="r = 0.5, p = 0.1"),
        Case((torch.tensor(4.0), torch.tensor(0.3)), description="r = 4, p = 0.3 (feature 2 matters more)"),
        Case((10 ** (torch.rand(6, generator=g) * 2 - 1), 10 ** (-2 * torch.rand(6, generator=g))), description="6 random (r, p)"),
        Case((torch.tensor([[0.2], [3.0]]), torch.tensor([0.01, 0.5, 1.0])), description="a (2, 1) column of r and a (3,) row of p"),
    ]


def _boundary_density_cases() -> list[Case]:
    g = torch.Generator().manual_seed(43)
    return [
        Case((torch.tensor(1.0),), description="r = 1: 4/7"),
        Case((torch.tensor([0.1, 0.5, 2.0, 10.0]),), description="r on both sides of 1"),
        Case((10 ** (torch.rand(3, 4, generator=g) * 2 - 1),), description="random r of shape (3, 4)"),
    ]


def _monosemantic_neurons_cases() -> list[Case]:
    g = torch.Generator().manual_seed(44)
    return [
        Case((torch.tensor([[[1.0, 0.2, 0.0], [1.0, 0.5, 0.0], [0.0, 0.0, 0.0]]]),),
             description="neurons [1, 0.2, 0] (mono), [1, 0.5, 0] (ratio 2: not), [0, 0, 0] (dead: not)"),
        Case((torch.tensor([[[1.0, -2.0, 0.1], [0.05, 0.0, 0.0]]]),),
             description="a negative weight doesn't count ([1, -2, 0.1] is mono); [0.05, 0, 0] is too weak (below 0.1)"),
        Case((torch.tensor([[[0.75, 0.25, 0.0], [0.75, 0.24, 0.0]]]),), description="ratio exactly 3 (0.75/0.25) is not enough; 0.75/0.24 is"),
        Case((torch.randn(3, 5, 10, generator=g) ** 3,), description="random W of shape (3, 5, 10) (inst, hidden, feats)"),
        Case((torch.randn(2, 4, 6, generator=g), 2.0), description="random W of shape (2, 4, 6), ratio = 2"),
    ]


def _excess_kurtosis_cases() -> list[Case]:
    g = torch.Generator().manual_seed(45)
    sparse = torch.rand(2000, 2, 3, generator=g) * (torch.rand(2000, 2, 3, generator=g) < 0.05)
    return [
        Case((torch.tensor([[[1.0]], [[-1.0]], [[1.0]], [[-1.0]]]),), description="h = +-1 (4 samples): excess kurtosis -2"),
        Case((torch.randn(500, 2, 3, generator=g) * 3 + 5,), description="Gaussian h with mean 5 and std 3, shape (500, 2, 3)"),
        Case((sparse,), description="sparse h of shape (2000, 2, 3): heavy tails"),
    ]


make_exercise(name="feature_dimensionality", notebook=NOTEBOOK, reference=feature_dimensionality,
              verify=verifier(feature_dimensionality, _feature_dimensionality_cases),
              summary="D_i = ||W_i||^2 / sum_j (W_hat_i . W_j)^2 of every feature")
make_exercise(name="dimensions_per_feature", notebook=NOTEBOOK, reference=dimensions_per_feature,
              verify=verifier(dimensions_per_feature, _dimensions_per_feature_cases),
              summary="D* = m / ||W||_F^2 of every instance")
make_exercise(name="candidate_losses", notebook=NOTEBOOK, reference=candidate_losses,
              verify=verifier(candidate_losses, _candidate_losses_cases),
              summary="the expected losses of the three 2-in-1 solutions in closed form")
make_exercise(name="boundary_density", notebook=NOTEBOOK, reference=boundary_density,
              verify=verifier(boundary_density, _boundary_density_cases),
              summary="the density below which the antipodal pair wins")
make_exercise(name="monosemantic_neurons", notebook=NOTEBOOK, reference=monosemantic_neurons,
              verify=verifier(monosemantic_neurons, _monosemantic_neurons_cases),
              summary="which neurons read mostly one feature")
make_exercise(name="excess_kurtosis", notebook=NOTEBOOK, reference=excess_kurtosis,
              verify=verifier(excess_kurtosis, _excess_kurtosis_cases, atol=1e-3, rtol=1e-3),
              summary="each neuron's excess kurtosis over a batch")
