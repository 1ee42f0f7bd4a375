"""The 2-in-1 phase diagram: closed-form losses against sampled ones, the boundary, classification, a trained grid."""

from __future__ import annotations

import pytest
import torch

from course_utils.data.correlated import feature_batch
from course_utils.toy_models import ToyModel, ToyModelConfig, TrainConfig, importance_weighted_mse
from course_utils.toy_models.phase_diagram import (
    OTHER,
    agreement,
    band_mask,
    boundary_density,
    candidate_losses,
    classify_solutions,
    log_grid,
    predicted_solutions,
    train_phase_diagram,
)

CANDIDATES = [([1.0, 0.0], "mean2"), ([0.0, 1.0], "mean1"), ([1.0, -1.0], "zero")]


def test_hand_values_at_r_1_p_1():
    losses = candidate_losses(torch.tensor(1.0), torch.tensor(1.0))
    var = 1 / 3 - 1 / 4
    assert torch.allclose(losses, torch.tensor([var / 2, var / 2, 2 / 12]), atol=1e-6)


def test_broadcast_shape():
    assert candidate_losses(torch.ones(3, 1), torch.ones(4)).shape == (3, 4, 3)


@pytest.mark.parametrize("r,p", [(0.3, 0.2), (1.0, 0.5), (4.0, 0.05)])
def test_closed_form_matches_the_sampled_loss_of_each_candidate(r, p):
    """Set W and b to each candidate in a ToyModel and measure its loss on 400k samples."""
    cfg = ToyModelConfig(n_features=2, d_hidden=1, n_instances=3, importance=(1.0, r), density=(p,) * 3)
    model = ToyModel(cfg, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for k, (w, bias) in enumerate(CANDIDATES):
            model.W[k, 0] = torch.tensor(w)
            model.b[k] = {"mean2": torch.tensor([0.0, p / 2]), "mean1": torch.tensor([p / 2, 0.0]), "zero": torch.zeros(2)}[bias]
    x = feature_batch(400_000, cfg.density_tensor(), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        sampled = importance_weighted_mse(model(x), x, model.importance)
    expected = candidate_losses(torch.tensor(r), torch.tensor(p))
    assert torch.allclose(sampled, expected, rtol=0.05, atol=2e-4), (sampled, expected)


def test_boundary_is_where_the_pair_stops_winning():
    r = log_grid(0.1, 10, 25)
    p_star = boundary_density(r)
    assert torch.isclose(boundary_density(torch.tensor(1.0)), torch.tensor(4 / 7))
    assert (predicted_solutions(r, p_star * 0.98) == 2).all()
    assert (predicted_solutions(r, (p_star * 1.02).clamp(max=1)) != 2).all()


def test_boundary_rejects_non_positive_ratios():
    with pytest.raises(ValueError, match="positive"):
        boundary_density(torch.tensor([0.0, 1.0]))


def test_classify_solutions():
    W = torch.tensor([[1.0, 0.1], [0.0, -1.0], [0.9, -1.1], [1.0, 1.0], [0.1, 0.2]])[:, None, :]
    assert classify_solutions(W).tolist() == [0, 1, 2, OTHER, OTHER]
    with pytest.raises(ValueError, match="two features in one hidden dimension"):
        classify_solutions(torch.zeros(3, 2, 2))


def test_band_mask_holds_the_boundary_and_r_near_1():
    r, p = torch.tensor([0.1, 1.0, 10.0]), torch.tensor([0.01, float(boundary_density(torch.tensor(10.0))), 1.0])
    band = band_mask(r, p, factor=1.5)
    assert band[:, 1].all()  # r = 1
    assert band[1, 2] and not band[0, 0] and not band[2, 0]


def test_log_grid_errors():
    assert torch.allclose(log_grid(0.1, 10, 3), torch.tensor([0.1, 1.0, 10.0]))
    with pytest.raises(ValueError):
        log_grid(0.0, 1.0, 3)


def test_trained_grid_agrees_with_the_closed_form():
    """A 7 x 7 grid, 2 restarts, 1000 steps of batch 512 (~5 s): >= 90% agreement outside the band (factor 1.5)."""
    ratios, densities = log_grid(0.1, 10, 7), log_grid(0.01, 1, 7)
    diagram = train_phase_diagram(ratios, densities, TrainConfig(steps=1000, batch_size=512, lr=1e-2, progress=False),
                                  restarts=2, generator=torch.Generator().manual_seed(1))
    fraction, n = agreement(diagram, factor=1.5)
    assert n >= 20
    assert fraction >= 0.9, (fraction, diagram.codes)
    assert diagram.W.shape == (7, 7, 1, 2) and diagram.codes.shape == (7, 7)
