"""TrainConfig's learning-rate schedule (linear warm-up, then constant or cosine): values, validation, and the
fused and autograd trainers agreeing on it (Henighan et al. 2023 train with warm-up + cosine)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from course_utils.toy_models import ToyModel, ToyModelConfig, TrainConfig, train
from course_utils.toy_models.training import learning_rate


def test_default_schedule_is_constant():
    cfg = TrainConfig(steps=10, lr=0.1)
    assert [learning_rate(cfg, s) for s in range(10)] == [0.1] * 10


def test_warmup_rises_linearly_to_lr_then_cosine_falls_to_zero():
    cfg = TrainConfig(steps=12, lr=1.0, warmup_steps=4, schedule="cosine")
    rates = [learning_rate(cfg, s) for s in range(12)]
    assert rates[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert rates[4] == pytest.approx(0.5 * (1 + math.cos(math.pi / 8)))
    assert rates[-1] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(rates[3:-1], rates[4:], strict=True))  # non-increasing after the warm-up


def test_warmup_then_constant():
    cfg = TrainConfig(steps=5, lr=2.0, warmup_steps=2)
    assert [learning_rate(cfg, s) for s in range(5)] == pytest.approx([1.0, 2.0, 2.0, 2.0, 2.0])


@pytest.mark.parametrize("kwargs", [dict(schedule="linear"), dict(warmup_steps=-1), dict(warmup_steps=10)])
def test_bad_schedules_are_rejected(kwargs):
    with pytest.raises(ValueError):
        TrainConfig(steps=10, **kwargs)


class _AutogradToy(nn.Module):
    """The same model as ToyModel, but not a ToyModel, so train() takes its autograd path."""

    def __init__(self, toy: ToyModel):
        super().__init__()
        self.W, self.b = nn.Parameter(toy.W.detach().clone()), nn.Parameter(toy.b.detach().clone())
        self.register_buffer("importance", toy.importance.clone())

    def forward(self, x):
        h = torch.einsum("bif,ihf->bih", x, self.W)
        return torch.relu(torch.einsum("bih,ihf->bif", h, self.W) + self.b)


def test_fused_and_autograd_trainers_follow_the_same_schedule():
    model_cfg = ToyModelConfig(n_features=6, d_hidden=2, n_instances=3)
    fused = ToyModel(model_cfg, generator=torch.Generator().manual_seed(0))
    autograd = _AutogradToy(fused)
    x = torch.rand(32, 3, 6, generator=torch.Generator().manual_seed(1))
    cfg = TrainConfig(steps=60, batch_size=32, lr=3e-2, warmup_steps=10, schedule="cosine", progress=False)
    log_f = train(fused, cfg, lambda step: x)
    log_a = train(autograd, cfg, lambda step: x)
    torch.testing.assert_close(fused.W.detach(), autograd.W.detach(), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(log_f.losses, log_a.losses, atol=1e-5, rtol=1e-4)


def test_schedule_changes_training_and_ends_still():
    model_cfg = ToyModelConfig(n_features=6, d_hidden=2, n_instances=2)
    x = torch.rand(16, 2, 6, generator=torch.Generator().manual_seed(2))
    base = TrainConfig(steps=40, batch_size=16, lr=5e-2, progress=False, snapshot_every=1)
    runs = {}
    for name, cfg in {"constant": base, "cosine": replace(base, warmup_steps=5, schedule="cosine")}.items():
        model = ToyModel(model_cfg, generator=torch.Generator().manual_seed(0))
        runs[name] = train(model, cfg, lambda step: x).snapshots
    assert not torch.allclose(runs["constant"][-1], runs["cosine"][-1])
    # the cosine schedule's last step has rate ~0: the last update is far smaller than the first post-warm-up one
    cos = runs["cosine"]
    assert (cos[-1] - cos[-2]).abs().max() < 0.05 * (cos[7] - cos[6]).abs().max()


def test_chunked_instances_follow_the_schedule_too(monkeypatch):
    import course_utils.toy_models.training as tm

    model_cfg = ToyModelConfig(n_features=40, d_hidden=4, n_instances=5)
    x = torch.rand(64, 5, 40, generator=torch.Generator().manual_seed(3))
    cfg = TrainConfig(steps=30, batch_size=64, lr=2e-2, warmup_steps=5, schedule="cosine", progress=False)
    whole = ToyModel(model_cfg, generator=torch.Generator().manual_seed(0))
    chunked = ToyModel(model_cfg, generator=torch.Generator().manual_seed(0))
    log_whole = train(whole, cfg, lambda step: x)
    monkeypatch.setattr(tm, "CHUNK_FLOATS", 2 * 40 * 64)  # chunks of 2, 2 and 1 instances
    log_chunked = train(chunked, cfg, lambda step: x)
    assert torch.equal(whole.W, chunked.W) and torch.equal(log_whole.losses, log_chunked.losses)


@pytest.mark.slow
def test_compiled_step_follows_the_schedule():
    model_cfg = ToyModelConfig(n_features=6, d_hidden=2, n_instances=3)
    x = torch.rand(32, 3, 6, generator=torch.Generator().manual_seed(1))
    cfg = TrainConfig(steps=60, batch_size=32, lr=3e-2, warmup_steps=10, schedule="cosine", progress=False)
    plain = ToyModel(model_cfg, generator=torch.Generator().manual_seed(0))
    compiled = ToyModel(model_cfg, generator=torch.Generator().manual_seed(0))
    train(plain, cfg, lambda step: x)
    log = train(compiled, replace(cfg, compile=True), lambda step: x)
    assert log.backend == "compiled" or log.backend.startswith("plain (compile failed")
    torch.testing.assert_close(compiled.W, plain.W, atol=1e-4, rtol=1e-4)
