"""Tests of course_utils.toy_models.abs_model: config, forward pass, the fused step against autograd, training."""

from __future__ import annotations

import copy

import pytest
import torch

from course_utils.data.signed import signed_sparse_batch, signed_sparse_batches
from course_utils.exercises.nb05_computation_in_superposition import two_neuron_construction
from course_utils.toy_models import TrainConfig, train
from course_utils.toy_models.abs_model import (
    PAPER_DENSITIES,
    AbsModel,
    AbsModelConfig,
    single_feature_inputs,
    single_feature_outputs,
)


def small(density=(1.0, 0.3, 0.05), n=6, m=4, seed=0) -> AbsModel:
    cfg = AbsModelConfig(n_features=n, d_hidden=m, n_instances=len(density), density=density)
    return AbsModel(cfg, generator=torch.Generator().manual_seed(seed))


def test_defaults_are_the_paper_sweep():
    cfg = AbsModelConfig()
    assert (cfg.n_features, cfg.d_hidden, cfg.n_instances) == (100, 40, 7)
    assert torch.allclose(cfg.density_tensor()[:, 0], torch.tensor(PAPER_DENSITIES))
    assert torch.allclose(cfg.importance_tensor()[0, :3], torch.tensor([1.0, 0.8, 0.64]))


@pytest.mark.parametrize("bad", [dict(n_features=0), dict(importance_decay=1.5), dict(n_instances=2, density=(1.0,)),
                                 dict(n_instances=1, density=(0.0,))])
def test_bad_config_is_refused(bad):
    with pytest.raises(ValueError):
        AbsModelConfig(**bad)


def test_initialisation_shapes_and_start_values():
    model = small()
    assert model.W1.shape == (3, 4, 6) and model.W2.shape == (3, 6, 4) and model.b.shape == (3, 6)
    assert torch.all(model.b == 0.2)
    assert torch.equal(model.W, model.W1)
    again = small()
    assert torch.equal(model.W1, again.W1) and torch.equal(model.W2, again.W2)


def test_forward_is_relu_w2_relu_w1_x_plus_b():
    model = small()
    x = signed_sparse_batch(7, model.cfg.density_tensor(), generator=torch.Generator().manual_seed(1))
    y = model(x)
    for k in range(3):
        h = torch.relu(x[:, k] @ model.W1[k].T)
        assert torch.allclose(y[:, k], torch.relu(h @ model.W2[k].T + model.b[k]), atol=1e-6)
    assert torch.equal(AbsModel.target(x), x.abs())


def test_bad_input_shape_is_refused():
    with pytest.raises(ValueError, match="batch, 3, 6"):
        small()(torch.zeros(4, 3, 5))


def test_fused_step_matches_autograd_adamw():
    """train() uses AbsModel.fused_update; the same steps with autograd and torch.optim.AdamW give the same weights."""
    fused = small(seed=3)
    plain = copy.deepcopy(fused)
    batches = signed_sparse_batches(fused.cfg.density_tensor(), batch_size=64, generator=torch.Generator().manual_seed(4))
    cfg = TrainConfig(steps=6, batch_size=64, lr=1e-2, progress=False)
    log = train(fused, cfg, batches)
    opt = torch.optim.AdamW(plain.parameters(), lr=1e-2)
    for step in range(6):
        x = batches(step)
        loss = (plain.importance * (plain(x) - x.abs()) ** 2).mean(dim=(0, 2))
        assert torch.allclose(log.losses[step], loss.detach(), atol=1e-7, rtol=1e-5)
        opt.zero_grad()
        loss.sum().backward()
        opt.step()
    for a, b in ((fused.W1, plain.W1), (fused.W2, plain.W2), (fused.b, plain.b)):
        assert torch.allclose(a, b, atol=1e-6)


def test_autograd_path_trains_towards_the_target():
    """A module without fused_update but with target() trains by autograd towards |x|."""

    class Wrapped(torch.nn.Module):
        def __init__(self, inner: AbsModel):
            super().__init__()
            self.inner, self.importance = inner, inner.importance

        def forward(self, x):
            return self.inner(x)

        def target(self, x):
            return x.abs()

    model = small(seed=5)
    wrapped = Wrapped(copy.deepcopy(model))
    batches = signed_sparse_batches(model.cfg.density_tensor(), batch_size=32, generator=torch.Generator().manual_seed(6))
    cfg = TrainConfig(steps=3, batch_size=32, lr=1e-2, progress=False)
    log_fused = train(model, cfg, batches)
    log_plain = train(wrapped, cfg, [batches(i) for i in range(3)])
    assert torch.allclose(log_fused.losses, log_plain.losses, atol=1e-7, rtol=1e-5)


def test_training_lowers_the_loss_and_snapshots_w1():
    model = small(density=(0.1,), n=5, m=4, seed=7)
    batches = signed_sparse_batches(model.cfg.density_tensor(), batch_size=256, generator=torch.Generator().manual_seed(8))
    log = train(model, TrainConfig(steps=300, batch_size=256, lr=3e-3, snapshot_every=100, progress=False), batches)
    assert log.losses[-30:].mean() < 0.5 * log.losses[:30].mean()
    assert log.snapshots.shape == (4, 1, 4, 5) and torch.equal(log.snapshots[-1], model.W1.detach())


def test_single_feature_inputs_put_one_value_on_one_feature():
    values = torch.tensor([-1.0, 0.5])
    x = single_feature_inputs(2, 3, values)
    assert x.shape == (6, 2, 3)
    assert torch.equal(x[4, 1], torch.tensor([0.0, 0.5, 0.0]))  # row p * n + i = 1 * 3 + 1
    assert torch.equal((x != 0).sum(-1), torch.ones(6, 2, dtype=torch.long))


def test_single_feature_outputs_of_the_construction_are_abs():
    model = small(density=(1.0,), n=5, m=4)
    W1, W2, b = two_neuron_construction(5, 4, 1.0)
    with torch.no_grad():
        model.W1.copy_(W1[None])
        model.W2.copy_(W2[None])
        model.b.copy_(b[None])
    values = torch.linspace(-1, 1, 9)
    out = single_feature_outputs(model, values)
    assert out.shape == (1, 5, 9)
    assert torch.allclose(out[0, :2], values.abs().expand(2, 9))
    assert torch.allclose(out[0, 2:], torch.full((3, 9), 0.5))
