"""Geometry measures on hand-made feature arrangements."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils.metrics.geometry import (
    consecutive_angles_2d,
    feature_norms,
    gram,
    pairwise_angles,
    polar_angles_2d,
    represented,
    superposition,
)


def _polygon(k: int, scale: float = 1.0) -> torch.Tensor:
    angles = torch.arange(k) * 2 * math.pi / k
    return scale * torch.stack([angles.cos(), angles.sin()])


def test_norms_and_represented():
    W = torch.tensor([[[3.0, 0.0, 0.1], [4.0, 0.2, 0.0]]])
    assert torch.allclose(feature_norms(W), torch.tensor([[5.0, 0.2, 0.1]]))
    assert represented(W).tolist() == [[True, False, False]]


def test_gram_of_an_orthonormal_pair_is_the_identity():
    W = torch.eye(2)[None]
    assert torch.allclose(gram(W), torch.eye(2)[None])


def test_superposition_of_orthogonal_antipodal_and_pentagon():
    orthogonal = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # third feature dropped
    antipodal = torch.tensor([[1.0, -1.0], [0.0, 0.0]])
    sup = superposition(torch.stack([orthogonal, torch.cat([antipodal, torch.zeros(2, 1)], 1)]))
    assert torch.allclose(sup[0], torch.zeros(3), atol=1e-6)
    assert torch.allclose(sup[1, :2], torch.ones(2), atol=1e-5)
    pentagon = superposition(_polygon(5)[None])
    expected = 2 * math.cos(2 * math.pi / 5) ** 2 + 2 * math.cos(4 * math.pi / 5) ** 2
    assert torch.allclose(pentagon, torch.full((1, 5), expected), atol=1e-5)


def test_angles():
    W = _polygon(5)[None]
    angles = pairwise_angles(W)
    assert angles[0, 0, 1].item() == pytest.approx(72.0, abs=1e-3)
    assert angles[0, 0, 2].item() == pytest.approx(144.0, abs=1e-3)
    gaps = consecutive_angles_2d(_polygon(5)[:, [3, 0, 4, 1, 2]])
    assert torch.allclose(gaps, torch.full((5,), 72.0), atol=1e-3) and gaps.sum().item() == pytest.approx(360.0)
    small = torch.cat([_polygon(4), torch.tensor([[0.1], [0.0]])], 1)  # a tiny fifth feature is ignored
    assert torch.allclose(consecutive_angles_2d(small), torch.full((4,), 90.0), atol=1e-3)
    assert torch.allclose(polar_angles_2d(_polygon(4)[None]), torch.tensor([[0.0, 90.0, 180.0, 270.0]]), atol=1e-4)


def test_bad_shapes_get_clear_errors():
    with pytest.raises(ValueError, match="W\\[None\\]"):
        feature_norms(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="2 hidden"):
        consecutive_angles_2d(torch.zeros(3, 5))
