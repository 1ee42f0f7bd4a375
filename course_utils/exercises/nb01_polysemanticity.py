"""Exercises of notebook 01 (polysemanticity): references and the cases that expose typical bugs."""

from __future__ import annotations

import math

import torch
from jaxtyping import Float
from torch import Tensor

from course_utils.data.directions import activation_vector, random_directions, sparse_coefficients
from course_utils.exercises import (
    Case,
    CheckFailure,
    compare_calls,
    make_exercise,
    replayed,
    verifier,
)
from course_utils.metrics.interference import exact_probes, interference, max_abs_cosine

NOTEBOOK = "01_polysemanticity"


def _scaled_directions(n_feats: int, n_hidden: int, generator: torch.Generator) -> Tensor:
    """Random directions with lengths in [0.5, 2], so that code assuming unit length is caught."""
    lengths = 0.5 + 1.5 * torch.rand(n_feats, 1, generator=generator)
    return random_directions(n_feats, n_hidden, generator=generator) * lengths


def _activation_vector_cases() -> list[Case]:
    g = torch.Generator().manual_seed(101)
    directions = random_directions(6, 3, generator=g)
    one_hot = torch.zeros(1, 6)
    one_hot[0, 4] = 1.0
    return [
        Case((one_hot, directions), description="feature 4 alone with c = 1 (a must equal f_4)"),
        Case((2.5 * one_hot, directions), description="feature 4 alone with c = 2.5"),
        Case((sparse_coefficients(5, 6, density=0.5, generator=g), directions),
             description="5 sparse samples of 6 features in 3 dimensions"),
        Case((torch.rand(4, 7, generator=g), _scaled_directions(7, 5, g)),
             description="4 dense samples, 7 features of various lengths in 5 dimensions"),
    ]


make_exercise(
    name="activation_vector",
    notebook=NOTEBOOK,
    reference=activation_vector,
    verify=verifier(activation_vector, _activation_vector_cases),
    summary="a = sum_j c_j f_j for a batch of coefficient rows",
)


def neuron_reading(
    coeffs: Float[Tensor, "batch feats"], directions: Float[Tensor, "feats hidden"], neuron: int
) -> Float[Tensor, " batch"]:
    """The reading of one neuron: e_k . a, where a = sum_j c_j f_j and e_k is the neuron's basis vector."""
    e_k = torch.zeros(directions.shape[-1], dtype=directions.dtype)
    e_k[neuron] = 1.0
    activations = coeffs @ directions
    return activations @ e_k


def _neuron_reading_cases() -> list[Case]:
    g = torch.Generator().manual_seed(102)
    directions = random_directions(6, 3, generator=g)
    one_hot = torch.zeros(1, 6)
    one_hot[0, 2] = 1.0
    return [
        Case((one_hot, directions, 0), description="feature 2 alone, neuron 0 (the reading is f_2 . e_0)"),
        Case((sparse_coefficients(8, 6, density=0.4, generator=g), directions, 2),
             description="8 sparse samples of 6 features in 3 dimensions, neuron 2"),
        Case((torch.rand(5, 4, generator=g), random_directions(4, 4, generator=g), 1),
             description="4 features in 4 dimensions (feats = hidden), neuron 1"),
        Case((torch.rand(3, 10, generator=g), _scaled_directions(10, 7, g), 6),
             description="10 features of various lengths in 7 dimensions, neuron 6"),
    ]


make_exercise(
    name="neuron_reading",
    notebook=NOTEBOOK,
    reference=neuron_reading,
    verify=verifier(neuron_reading, _neuron_reading_cases),
    summary="one neuron's reading e_k . a of a superposed activation",
)


def _exact_probes_cases() -> list[Case]:
    g = torch.Generator().manual_seed(105)
    rotation = torch.linalg.qr(torch.randn(3, 3, generator=g))[0]
    return [
        Case((rotation,), description="3 orthonormal directions in 3-D (a rotated basis)"),
        Case((_scaled_directions(3, 3, g),), description="3 non-orthogonal directions of different lengths in 3-D"),
        Case((_scaled_directions(2, 5, g),), description="2 non-orthogonal directions in 5-D (N < d)"),
        Case((_scaled_directions(4, 4, g),), description="4 non-orthogonal directions in 4-D"),
    ]


def _verify_exact_probes(candidate) -> int:
    """Exact on N <= d directions; a ValueError for N > d, where no exact linear read-back exists."""
    count = compare_calls(candidate, exact_probes, _exact_probes_cases(), atol=1e-4, rtol=1e-3)
    too_many = random_directions(6, 3, generator=torch.Generator().manual_seed(106))
    try:
        got = candidate(too_many.clone())
    except ValueError:
        return count + 1
    except NotImplementedError:
        raise
    except Exception as error:
        raise CheckFailure(f"raised {type(error).__name__} instead of ValueError", inputs="6 directions in 3-D") from error
    raise CheckFailure(
        "returned a result, but no exact linear read-back of 6 directions in 3-D exists: raise ValueError"
        f" (got a tensor of shape {tuple(getattr(got, 'shape', ()))})",
        inputs="6 directions in 3-D (N > d)",
    )


make_exercise(
    name="exact_probes",
    notebook=NOTEBOOK,
    reference=exact_probes,
    verify=replayed(exact_probes, _verify_exact_probes),
    summary="the dual basis: exact read-back without superposition, impossible with it",
)


def _max_abs_cosine_cases() -> list[Case]:
    g = torch.Generator().manual_seed(103)
    diagonal = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    antipodal = torch.tensor([[2.0, 0.0, 0.0], [-1.0, 0.1, 0.0], [0.0, 0.0, 3.0]])
    return [
        Case((diagonal,), description="e_0, e_1 and e_0 + e_1 (answer 1/sqrt(2), not 1)"),
        Case((antipodal,), description="a nearly antipodal pair of different lengths (a negative cosine)"),
        Case((_scaled_directions(5, 3, g),), description="5 directions of various lengths in 3 dimensions"),
        Case((random_directions(40, 10, generator=g),), description="40 random unit directions in 10 dimensions"),
    ]


make_exercise(
    name="max_abs_cosine",
    notebook=NOTEBOOK,
    reference=max_abs_cosine,
    verify=verifier(max_abs_cosine, _max_abs_cosine_cases),
    summary="the largest |cos| between two different feature directions",
)


def _interference_cases() -> list[Case]:
    g = torch.Generator().manual_seed(104)
    orthonormal = torch.eye(3)
    pair = torch.tensor([[1.0, 0.0], [1.0, 1.0]]) / torch.tensor([[1.0], [math.sqrt(2.0)]])
    return [
        Case((torch.tensor([[0.5, 1.0, 0.25]]), orthonormal),
             description="orthonormal directions (no interference at all)"),
        Case((torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), pair),
             description="two unit directions at 45 degrees, each alone and both together"),
        Case((sparse_coefficients(6, 8, density=0.5, generator=g), random_directions(8, 4, generator=g)),
             description="6 sparse samples of 8 unit features in 4 dimensions"),
        Case((torch.rand(4, 6, generator=g), _scaled_directions(6, 3, g)),
             description="4 samples of 6 features of various lengths in 3 dimensions"),
    ]


make_exercise(
    name="interference",
    notebook=NOTEBOOK,
    reference=interference,
    verify=verifier(interference, _interference_cases),
    summary="what reading feature j back picks up from the other features",
)
