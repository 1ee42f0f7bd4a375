"""The toy model, its loss and its trainer: configs, hand-computed cases, fused step == autograd AdamW."""

from __future__ import annotations

import copy
import warnings
from dataclasses import replace

import pytest
import torch

from course_utils.data.sparse import sparse_batch, sparse_batches
from course_utils.toy_models import (
    ToyModel,
    ToyModelConfig,
    TrainConfig,
    TrainLog,
    importance_weighted_mse,
    train,
    train_with_restarts,
)

QUICK = TrainConfig(steps=200, progress=False)


def test_config_defaults_are_the_papers_intro_sweep():
    cfg = ToyModelConfig()
    assert (cfg.n_features, cfg.d_hidden, cfg.n_instances) == (5, 2, 10)
    assert torch.allclose(cfg.importance_tensor()[3], 0.9 ** torch.arange(5.0))
    density = cfg.density_tensor()[:, 0]
    assert density[0] == 1 and torch.isclose(density[-1], torch.tensor(1 / 20))
    ratios = density[1:] / density[:-1]
    assert torch.allclose(ratios, ratios[0].expand_as(ratios))  # log-spaced
    assert TrainConfig().steps == 10_000 and TrainConfig().batch_size == 1024 and TrainConfig().lr == 1e-3


def test_config_validates_with_clear_errors():
    with pytest.raises(ValueError, match="one per feature"):
        ToyModelConfig(importance=(1.0, 0.5))
    with pytest.raises(ValueError, match="one density per instance"):
        ToyModelConfig(density=(1.0, 0.5))
    with pytest.raises(ValueError, match="n_features"):
        ToyModelConfig(n_features=0)
    with pytest.raises(ValueError, match="snapshot_every"):
        TrainConfig(snapshot_every=0)
    # replace() resizes cleanly because importance and density default to formulas
    assert replace(ToyModelConfig(), n_features=20, n_instances=3).importance_tensor().shape == (3, 20)


def test_init_is_xavier_normal_w_and_zero_b():
    cfg = ToyModelConfig(n_features=200, d_hidden=100, n_instances=4)
    model = ToyModel(cfg, generator=torch.Generator().manual_seed(0))
    assert model.W.shape == (4, 100, 200) and model.b.shape == (4, 200)
    assert torch.all(model.b == 0)
    expected_std = (2 / (100 + 200)) ** 0.5
    assert abs(model.W.std().item() - expected_std) / expected_std < 0.02
    again = ToyModel(cfg, generator=torch.Generator().manual_seed(0))
    assert torch.equal(model.W, again.W)


def test_forward_on_a_hand_made_case():
    cfg = ToyModelConfig(n_features=2, d_hidden=1, n_instances=1, density=(1.0,))
    model = ToyModel(cfg, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.W.copy_(torch.tensor([[[1.0, -1.0]]]))  # the antipodal pair
        model.b.copy_(torch.tensor([[0.0, -0.5]]))
    x = torch.tensor([[[1.0, 0.0]], [[0.3, 0.8]]])
    # h = x1 - x2; x' = ReLU(W^T h + b)
    expected = torch.tensor([[[1.0, 0.0]], [[0.0, 0.0]]])
    assert torch.allclose(model(x), expected)
    linear = ToyModel(replace(cfg, linear=True), generator=torch.Generator())
    linear.load_state_dict(model.state_dict())
    assert torch.allclose(linear(x), torch.tensor([[[1.0, -1.5]], [[-0.5, 0.0]]]))
    with pytest.raises(ValueError, match="shape"):
        model(torch.zeros(3, 2))


def test_loss_is_importance_weighted_mean_per_instance():
    x = torch.ones(2, 2, 3)
    x_hat = torch.zeros(2, 2, 3)
    x_hat[:, 1] = 1
    imp = torch.tensor([[1.0, 0.5, 0.0], [1.0, 1.0, 1.0]])
    assert torch.allclose(importance_weighted_mse(x_hat, x, imp), torch.tensor([0.5, 0.0]))


class _Plain(torch.nn.Module):
    """The same model behind a type the trainer doesn't know, so it trains with autograd + AdamW."""

    def __init__(self, model: ToyModel):
        super().__init__()
        self.inner = model
        self.importance = model.importance

    def forward(self, x):
        return self.inner(x)


@pytest.mark.parametrize("linear", [False, True])
def test_fused_step_matches_autograd_with_torch_adamw(linear):
    cfg = ToyModelConfig(n_instances=4, density=(1.0, 0.3, 0.1, 0.05), linear=linear)
    fused = ToyModel(cfg, generator=torch.Generator().manual_seed(1))
    plain = copy.deepcopy(fused)
    batches = sparse_batches(cfg.density_tensor(), batch_size=128, generator=torch.Generator().manual_seed(2))
    log_fused = train(fused, QUICK, batches)
    log_plain = train(_Plain(plain), QUICK, batches)
    assert log_fused.backend == "plain"
    assert torch.allclose(fused.W, plain.W, atol=2e-5) and torch.allclose(fused.b, plain.b, atol=2e-5)
    assert torch.allclose(log_fused.losses, log_plain.losses, rtol=1e-4, atol=1e-7)
    assert log_fused.losses[-20:].mean() < log_fused.losses[:20].mean()


def test_train_accepts_an_iterable_of_batches_and_logs_detached_cpu_tensors():
    cfg = ToyModelConfig(n_instances=2, density=(1.0, 0.1))
    model = ToyModel(cfg, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(3)
    batches = [sparse_batch(64, cfg.density_tensor(), generator=g) for _ in range(50)]
    log = train(model, replace(QUICK, steps=50, snapshot_every=20), batches)
    assert isinstance(log, TrainLog)
    assert log.losses.shape == (50, 2) and log.losses.device.type == "cpu" and not log.losses.requires_grad
    assert log.snapshot_steps.tolist() == [0, 20, 40, 50]
    assert log.snapshots.shape == (4, 2, 2, 5) and torch.equal(log.snapshots[-1], model.W.detach())
    assert torch.all(log.losses > 0)
    with pytest.raises(ValueError, match="empty"):
        train(model, QUICK, [])
    with pytest.raises(ValueError, match="ran out after 50 of 200"):
        train(model, QUICK, batches)


def test_restarts_keep_the_lowest_final_loss():
    cfg = ToyModelConfig(n_instances=2, density=(1.0, 0.05))
    model, log = train_with_restarts(cfg, replace(QUICK, steps=300), restarts=3, generator=torch.Generator().manual_seed(0))
    assert model.W.shape == (2, 2, 5) and log.losses.shape == (300, 2)
    # Redo the run that train_with_restarts makes, and compare its choice with the argmin.
    big_cfg = replace(cfg, n_instances=6, density=(1.0, 1.0, 1.0, 0.05, 0.05, 0.05))
    g = torch.Generator().manual_seed(0)
    big = ToyModel(big_cfg, generator=g)
    big_log = train(big, replace(QUICK, steps=300), sparse_batches(big_cfg.density_tensor(), generator=g))
    best = big_log.final_loss().view(2, 3).argmin(1) + torch.tensor([0, 3])
    assert torch.allclose(model.W, big.W[best]) and torch.allclose(log.losses, big_log.losses[:, best])
    with pytest.raises(ValueError, match="restarts"):
        train_with_restarts(cfg, QUICK, restarts=0, generator=torch.Generator())


def test_failed_compile_falls_back_to_plain_with_a_warning(monkeypatch):
    import course_utils.toy_models.training as tm

    def broken_compile(*args, **kwargs):
        def fails(*a, **k):
            raise RuntimeError("no C++ compiler found")

        return fails

    tm._compiled_toy_step.cache_clear()
    monkeypatch.setattr(torch, "compile", broken_compile)
    cfg = ToyModelConfig(n_instances=2, density=(1.0, 0.1))
    a = ToyModel(cfg, generator=torch.Generator().manual_seed(0))
    b = copy.deepcopy(a)
    batches = sparse_batches(cfg.density_tensor(), batch_size=64, generator=torch.Generator().manual_seed(1))
    with pytest.warns(UserWarning, match="torch.compile failed"):
        log = train(a, replace(QUICK, steps=30, compile=True), batches)
    tm._compiled_toy_step.cache_clear()
    assert log.backend.startswith("plain (compile failed: RuntimeError: no C++ compiler")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain_log = train(b, replace(QUICK, steps=30), batches)
    assert torch.equal(a.W, b.W) and torch.equal(log.losses, plain_log.losses)


@pytest.mark.slow
def test_compiled_step_matches_the_plain_step():
    cfg = ToyModelConfig(n_instances=3, density=(1.0, 0.2, 0.05))
    a = ToyModel(cfg, generator=torch.Generator().manual_seed(0))
    b = copy.deepcopy(a)
    batches = sparse_batches(cfg.density_tensor(), batch_size=256, generator=torch.Generator().manual_seed(1))
    log_c = train(a, replace(QUICK, compile=True), batches)
    log_p = train(b, QUICK, batches)
    assert log_c.backend in ("compiled",) or log_c.backend.startswith("plain (compile failed")
    assert torch.allclose(a.W, b.W, atol=1e-4) and torch.allclose(log_c.losses, log_p.losses, rtol=1e-3, atol=1e-6)


def test_chunking_instances_for_the_cache_changes_nothing(monkeypatch):
    import course_utils.toy_models.training as tm

    cfg = ToyModelConfig(n_features=40, d_hidden=4, n_instances=5)
    whole = ToyModel(cfg, generator=torch.Generator().manual_seed(0))
    chunked = copy.deepcopy(whole)
    batches = sparse_batches(cfg.density_tensor(), batch_size=256, generator=torch.Generator().manual_seed(1))
    log_whole = train(whole, replace(QUICK, steps=30, batch_size=256), batches)
    monkeypatch.setattr(tm, "CHUNK_FLOATS", 2 * 40 * 256)  # chunks of 2, 2 and 1 instances
    log_chunked = train(chunked, replace(QUICK, steps=30, batch_size=256), batches)
    assert torch.equal(whole.W, chunked.W) and torch.equal(log_whole.losses, log_chunked.losses)
