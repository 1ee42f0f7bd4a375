"""The plain trainer's fast step: its batches and its arithmetic are the reference's bit for bit, and the
compiled trainer compiles once whatever the step count (issue 19)."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch

import course_utils.toy_models.training as tm
from course_utils.data.correlated import feature_batches
from course_utils.data.signed import signed_sparse_batches
from course_utils.data.sparse import sparse_batch, sparse_batches
from course_utils.toy_models import ToyModel, ToyModelConfig, TrainConfig, train
from course_utils.toy_models.abs_model import AbsModel, AbsModelConfig, abs_step_
from course_utils.toy_models.training import learning_rate


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal as bit patterns (so +0 and -0 differ, unlike torch.equal)."""
    return a.shape == b.shape and bool((a.contiguous().view(torch.int32) == b.contiguous().view(torch.int32)).all())


@pytest.mark.parametrize("make", [sparse_batches, signed_sparse_batches])
def test_batch_writer_writes_the_batch_functions_bits(make):
    density = torch.rand(7, 13, generator=torch.Generator().manual_seed(0)) * 0.9 + 0.05
    density[0, :3] = torch.tensor([1.0, 0.5, 0.25])  # powers of two: v hits exactly 1 for some entries
    batches = make(density, batch_size=300, generator=torch.Generator().manual_seed(1))
    work = tuple(torch.empty(4, 13, 300, dtype=torch.int32) for _ in range(2))
    for index in (slice(0, 4), slice(4, 7)):
        writer = batches.writer(index, work)
        out = torch.empty(index.stop - index.start, 13, 300)
        for step in [*range(30), 12_345, 2**31 + 5, 2**40 + 3]:
            writer(step, out)
            assert _same_bits(out, batches(torch.tensor(step))[:, index].permute(1, 2, 0)), (index, step)


def test_batch_writer_rejects_work_buffers_of_the_wrong_kind():
    batches = sparse_batches(torch.full((3, 4), 0.5), batch_size=8, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="int32"):
        batches.writer(slice(0, 3), tuple(torch.empty(3, 4, 8) for _ in range(2)))


def _reference_train(model: ToyModel, cfg: TrainConfig, batches, steps: int) -> torch.Tensor:
    """The step written plainly (`_toy_step`, eager: fresh tensors, Python numbers); returns the losses."""
    W, b = model.W.detach(), model.b.detach()
    moments = (torch.zeros_like(W), torch.zeros_like(W), torch.zeros_like(b), torch.zeros_like(b))
    step = torch.zeros((), dtype=torch.int64)
    losses = torch.zeros(steps, b.shape[0])
    batch_list = None if callable(batches) else list(batches)
    if batch_list is None:
        batches(step)  # train() draws a first batch to check its shape (a torch.rand batch function moves on)
    for i in range(steps):
        hyper = (learning_rate(cfg, i), *cfg.betas, cfg.eps, cfg.weight_decay)
        x = None if batch_list is None else batch_list[i]
        tm._toy_step(x, batches if batch_list is None else None, step, losses[i : i + 1], (W, b), moments,
                     model.importance, hyper, model.cfg.linear)
        step.add_(1)
    return losses


def _fixed(batch: torch.Tensor):
    return lambda step: batch


CASES = {
    "sparse batches": (ToyModelConfig(n_instances=6), TrainConfig(steps=40, batch_size=256),
                       lambda cfg: sparse_batches(cfg.density_tensor(), batch_size=256, generator=torch.Generator().manual_seed(1))),
    "linear": (ToyModelConfig(n_instances=4, linear=True), TrainConfig(steps=40, batch_size=128),
               lambda cfg: sparse_batches(cfg.density_tensor(), batch_size=128, generator=torch.Generator().manual_seed(2))),
    "signed batches, 20 x 5": (ToyModelConfig(n_features=20, d_hidden=5, n_instances=3), TrainConfig(steps=30, batch_size=64),
                               lambda cfg: signed_sparse_batches(cfg.density_tensor(), batch_size=64, generator=torch.Generator().manual_seed(3))),
    "fixed batch, warm-up, cosine, weight decay": (
        ToyModelConfig(n_features=30, d_hidden=2, n_instances=5),
        TrainConfig(steps=40, batch_size=48, warmup_steps=8, schedule="cosine", weight_decay=0.1),
        lambda cfg: _fixed(torch.rand(48, 5, 30, generator=torch.Generator().manual_seed(4)))),
    "torch.rand batches, batch size other than the config's": (
        ToyModelConfig(n_features=12, d_hidden=3, n_instances=4, importance=(1.0,) * 12), TrainConfig(steps=30),
        lambda cfg: feature_batches(cfg.density_tensor()[:, 0], n_instances=4, n_features=12, batch_size=96,
                                    generator=torch.Generator().manual_seed(5))),
    "an iterable of batches": (ToyModelConfig(n_instances=3, density=(1.0, 0.3, 0.1)), TrainConfig(steps=25, batch_size=64),
                               lambda cfg: [sparse_batch(64, cfg.density_tensor(), generator=torch.Generator().manual_seed(10 + i))
                                            for i in range(25)]),
    "an iterable of batches of three sizes": (
        ToyModelConfig(n_instances=3, density=(1.0, 0.3, 0.1)), TrainConfig(steps=25, batch_size=64),
        lambda cfg: [sparse_batch((64, 48, 48, 80)[i % 4], cfg.density_tensor(), generator=torch.Generator().manual_seed(10 + i))
                     for i in range(25)]),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("small_blocks", [False, True])  # the defaults; or one instance per chunk, losses in blocks of 7
def test_plain_step_is_the_reference_step_bit_for_bit(name, small_blocks, monkeypatch):
    model_cfg, train_cfg, make_batches = CASES[name]
    train_cfg = replace(train_cfg, progress=False)
    if small_blocks:
        monkeypatch.setattr(tm, "CHUNK_FLOATS", 1)
        monkeypatch.setattr(tm, "LOSS_BLOCK", 7)
    fast = ToyModel(model_cfg, generator=torch.Generator().manual_seed(0))
    reference = copy.deepcopy(fast)
    log = train(fast, train_cfg, make_batches(model_cfg))
    losses = _reference_train(reference, train_cfg, make_batches(model_cfg), train_cfg.steps)
    assert log.backend == "plain"
    assert _same_bits(fast.W.detach(), reference.W.detach()) and _same_bits(fast.b.detach(), reference.b.detach())
    assert _same_bits(log.losses, losses)
    assert not torch.equal(fast.W.detach(), ToyModel(model_cfg, generator=torch.Generator().manual_seed(0)).W)  # it trained


def test_plain_step_refuses_batches_made_for_another_model():
    model = ToyModel(ToyModelConfig(n_instances=3), generator=torch.Generator().manual_seed(0))
    wrong = sparse_batches(ToyModelConfig(n_instances=4).density_tensor(), batch_size=32, generator=torch.Generator())
    with pytest.raises(ValueError, match="cfg.density_tensor"):
        train(model, TrainConfig(steps=2, batch_size=32, progress=False), wrong)


ABS_CASES = {
    "signed batches": (TrainConfig(steps=40, batch_size=128, lr=3e-3),
                       lambda cfg: signed_sparse_batches(cfg.density_tensor(), batch_size=128, generator=torch.Generator().manual_seed(1))),
    "fixed batch, warm-up, cosine, weight decay": (
        TrainConfig(steps=30, batch_size=40, lr=1e-2, warmup_steps=5, schedule="cosine", weight_decay=0.05),
        lambda cfg: _fixed(torch.rand(40, cfg.n_instances, cfg.n_features, generator=torch.Generator().manual_seed(2)) * 2 - 1)),
}


@pytest.mark.parametrize("name", list(ABS_CASES))
def test_abs_model_step_is_abs_step_bit_for_bit(name):
    cfg = AbsModelConfig(n_features=12, d_hidden=5, n_instances=4, density=(1.0, 0.3, 0.1, 0.05))
    train_cfg, make_batches = ABS_CASES[name]
    train_cfg = replace(train_cfg, progress=False)
    fast = AbsModel(cfg, generator=torch.Generator().manual_seed(0))
    reference = copy.deepcopy(fast)
    log = train(fast, train_cfg, make_batches(cfg))
    params = (reference.W1.detach(), reference.W2.detach(), reference.b.detach())
    moments = tuple(torch.zeros_like(p) for p in params for _ in range(2))
    losses = torch.zeros(train_cfg.steps, cfg.n_instances)
    batches = make_batches(cfg)
    for i in range(train_cfg.steps):
        hyper = (learning_rate(train_cfg, i), *train_cfg.betas, train_cfg.eps, train_cfg.weight_decay)
        abs_step_(batches(torch.tensor(i)), params, moments, reference.importance, hyper, i, losses)
    for a, b in zip((fast.W1, fast.W2, fast.b), params, strict=True):
        assert _same_bits(a.detach(), b)
    assert _same_bits(log.losses, losses)


def test_abs_model_step_refuses_batches_of_another_shape():
    model = AbsModel(AbsModelConfig(n_features=6, d_hidden=3, n_instances=2, density=(1.0, 0.5)), generator=torch.Generator())
    wrong = signed_sparse_batches(torch.full((2, 5), 0.5), batch_size=8, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="shape"):
        train(model, TrainConfig(steps=2, batch_size=8, progress=False), wrong)


@pytest.mark.slow
def test_compiled_trainer_compiles_once_whatever_the_step_count():
    import torch._dynamo
    from torch._dynamo.utils import counters

    cfg = ToyModelConfig(n_instances=3, density=(1.0, 0.2, 0.05))
    batches = sparse_batches(cfg.density_tensor(), batch_size=256, generator=torch.Generator().manual_seed(1))
    torch._dynamo.reset()
    tm._compiled_toy_step.cache_clear()
    counters.clear()
    logs = []
    for steps in (20, 300):  # 300: more than one block of the loss buffer
        model = ToyModel(cfg, generator=torch.Generator().manual_seed(0))
        logs.append(train(model, TrainConfig(steps=steps, batch_size=256, progress=False, compile=True), batches))
        if logs[-1].backend != "compiled":
            pytest.skip(f"torch.compile does not work here: {logs[-1].backend}")
    assert counters["stats"]["unique_graphs"] == 1
    assert logs[1].losses.shape == (300, 3) and torch.all(logs[1].losses > 0)
    torch.testing.assert_close(logs[0].losses, logs[1].losses[:20], rtol=0, atol=0)  # the same run, only longer
