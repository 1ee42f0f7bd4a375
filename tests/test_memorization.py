"""course_utils.toy_models.memorization: the unit-norm data, the tiling, the losses and dimensionalities."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils.toy_models.memorization import (
    MemorizationConfig,
    datapoint_dimensionality,
    datapoint_dominated,
    peak_index,
    reconstruction_loss,
    tile_datasets,
    train_memorization,
    unit_sparse_dataset,
)


def test_unit_sparse_dataset_has_unit_rows_and_the_density():
    x = unit_sparse_dataset(5000, 40, 0.1, generator=torch.Generator().manual_seed(0))
    assert x.shape == (5000, 40) and x.dtype == torch.float32
    nonempty = (x > 0).any(1)
    torch.testing.assert_close(x[nonempty].norm(dim=1), torch.ones(int(nonempty.sum())))
    assert (x[~nonempty] == 0).all() and not torch.isnan(x).any()
    assert abs(float((x > 0).float().mean()) - 0.1) < 0.01


def test_tile_datasets_repeats_each_to_the_largest_and_keeps_the_mean():
    a, b = torch.rand(2, 3), torch.rand(4, 3)
    batch = tile_datasets([a, b])
    assert batch.shape == (4, 2, 3)
    torch.testing.assert_close(batch[:, 0], torch.cat([a, a]))
    torch.testing.assert_close(batch[:, 0].mean(0), a.mean(0))


def test_tile_datasets_rejects_sizes_that_do_not_divide():
    with pytest.raises(ValueError, match="divide"):
        tile_datasets([torch.rand(3, 2), torch.rand(4, 2)])
    with pytest.raises(ValueError):
        tile_datasets([])


def test_config_rejects_sizes_that_do_not_divide_and_bad_density():
    with pytest.raises(ValueError, match="divide"):
        MemorizationConfig(dataset_sizes=(3, 8))
    with pytest.raises(ValueError):
        MemorizationConfig(density=0.0)


def test_reconstruction_loss_sums_features_and_is_one_for_a_silent_model():
    x = unit_sparse_dataset(50, 10, 0.3, generator=torch.Generator().manual_seed(1)).unsqueeze(1)
    W, b = torch.zeros(1, 2, 10), torch.zeros(1, 10)
    nonempty = float((x.squeeze(1) > 0).any(1).float().mean())
    torch.testing.assert_close(reconstruction_loss(W, b, x), torch.tensor([nonempty]))


def test_reconstruction_loss_by_hand():
    W = torch.tensor([[[1.0, 0.0]]])  # 1 hidden, 2 features
    b = torch.tensor([[0.0, -0.5]])
    x = torch.tensor([[[0.6, 0.8]]])
    # h = 0.6; out = relu([0.6, -0.5]) = [0.6, 0]; error 0 + 0.64
    torch.testing.assert_close(reconstruction_loss(W, b, x), torch.tensor([0.64]))


def test_datapoint_dimensionality_of_a_t_gon_is_m_over_t():
    t = 6
    angles = torch.arange(t) * 2 * math.pi / t
    W = torch.stack([angles.cos(), angles.sin()]).unsqueeze(0)  # (1, 2, 6): point t maps to the t-th vertex
    x = torch.eye(t).unsqueeze(1)  # one-hot points
    torch.testing.assert_close(datapoint_dimensionality(W, x), torch.full((1, t), 2 / t))


def test_datapoint_dominated_and_peak():
    assert datapoint_dominated(torch.tensor([0.5, 0.4, 0.6]), torch.tensor([0.1, 0.3]))
    assert not datapoint_dominated(torch.tensor([0.05, 0.01]), torch.tensor([0.3, 0.0]))
    assert peak_index(torch.tensor([1.0, 1.2, 0.9])) == 1


def test_a_tiny_run_has_one_instance_per_size_and_seed():
    cfg = MemorizationConfig(n_features=8, dataset_sizes=(2, 4), seeds=2, steps=30, warmup_steps=3, test_size=50)
    run = train_memorization(cfg, generator=torch.Generator().manual_seed(0))
    assert run.W.shape == (4, 2, 8) and [d.shape[0] for d in run.datasets] == [2, 2, 4, 4]
    assert run.by_size(run.test_loss).shape == (2, 2)
    assert run.instance(4, 1) == 3 and run.hidden_vectors(3).shape == (4, 2)
    assert run.datapoint_dims(0).shape == (2,) and run.feature_dims().shape == (4, 8)
    assert run.dominated().shape == (4,)
    with pytest.raises(ValueError):
        run.instance(3)
    # the train loss is measured on each instance's own dataset
    i = run.instance(2, 0)
    torch.testing.assert_close(run.train_loss[i], reconstruction_loss(run.W[i : i + 1], run.b[i : i + 1], run.datasets[i].unsqueeze(1))[0])


def test_training_on_a_fixed_set_memorises_it():
    cfg = MemorizationConfig(n_features=32, dataset_sizes=(2,), seeds=2, steps=800, test_size=200)
    run = train_memorization(cfg, generator=torch.Generator().manual_seed(0))
    assert (run.train_loss < 0.1).all()
    assert (run.test_loss > 5 * run.train_loss).all()
