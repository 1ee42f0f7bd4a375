"""Every exercise of notebook 03 passes with its reference and rejects plausible wrong answers."""

from __future__ import annotations

import pytest
import torch

from course_utils.exercises import exercises_for, run_check
from course_utils.exercises import nb03_toy_models as ref


def test_every_reference_passes():
    names = [exercise.name for exercise in exercises_for("03_toy_models")]
    assert names == ["generate_batch", "toy_forward", "weighted_mse", "train_toy", "linear_optimum_loss"]
    for name in names:
        result = run_check(name, getattr(ref, name))
        assert result.status == "passed", (name, result.message)


def _swapped_density(batch_size, density, *, generator):
    values = torch.rand(batch_size, *density.shape, generator=generator)
    return values * (torch.rand(batch_size, *density.shape, generator=generator) < 1 - density)


def _no_generator(batch_size, density, *, generator):
    return torch.rand(batch_size, *density.shape) * (torch.rand(batch_size, *density.shape) < density)


def _binary_features(batch_size, density, *, generator):
    return (torch.rand(batch_size, *density.shape, generator=generator) < density).float()


def _feats_first(batch_size, density, *, generator):
    return ref.generate_batch(batch_size, density, generator=generator).transpose(1, 2)


def _one_density_per_batch(batch_size, density, *, generator):
    on = torch.rand(batch_size, *density.shape, generator=generator) < density.mean()
    return torch.rand(batch_size, *density.shape, generator=generator) * on


@pytest.mark.parametrize(
    "wrong", [_swapped_density, _no_generator, _binary_features, _feats_first, _one_density_per_batch]
)
def test_generate_batch_rejects(wrong):
    assert run_check("generate_batch", wrong).status == "failed"


def _no_bias(x, W, b):
    return torch.relu(torch.einsum("bih,ihf->bif", torch.einsum("bif,ihf->bih", x, W), W))


def _transposed_w(x, W, b):
    # reads W as if it were (inst, feats, hidden): runs only when hidden == feats
    return torch.relu(torch.einsum("bih,ifh->bif", torch.einsum("bif,ifh->bih", x, W), W) + b)


def _no_relu(x, W, b):
    return torch.einsum("bih,ihf->bif", torch.einsum("bif,ihf->bih", x, W), W) + b


def _relu_on_hidden(x, W, b):
    return torch.einsum("bih,ihf->bif", torch.relu(torch.einsum("bif,ihf->bih", x, W)), W) + b


@pytest.mark.parametrize("wrong", [_no_bias, _transposed_w, _no_relu, _relu_on_hidden])
def test_toy_forward_rejects(wrong):
    result = run_check("toy_forward", wrong)
    assert result.status == "failed"


def test_transposed_w_is_caught_by_the_square_case():
    result = run_check("toy_forward", _transposed_w)
    assert "hidden = feats" in (result.inputs or "") or "raised" in result.message


def _unweighted(x_hat, x, importance):
    return ((x - x_hat) ** 2).mean(dim=(0, 2))


def _summed_over_features(x_hat, x, importance):
    return (importance * (x - x_hat) ** 2).sum(dim=2).mean(0)


def _mean_over_instances_too(x_hat, x, importance):
    return (importance * (x - x_hat) ** 2).mean()


@pytest.mark.parametrize("wrong", [_unweighted, _summed_over_features, _mean_over_instances_too])
def test_weighted_mse_rejects(wrong):
    assert run_check("weighted_mse", wrong).status == "failed"


def _no_zero_grad(model, next_batch, *, steps, lr):
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        x = next_batch()
        loss = ref.weighted_mse(model(x), x, model.importance).sum()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return torch.tensor(losses)


def _unweighted_training(model, next_batch, *, steps, lr):
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        x = next_batch()
        loss = ((model(x) - x) ** 2).mean(dim=(0, 2)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return torch.tensor(losses)


def _sgd(model, next_batch, *, steps, lr):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        x = next_batch()
        loss = ref.weighted_mse(model(x), x, model.importance).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return torch.tensor(losses)


@pytest.mark.parametrize("wrong", [_no_zero_grad, _unweighted_training, _sgd])
def test_train_toy_rejects(wrong):
    assert run_check("train_toy", wrong).status == "failed"



def _variance(p):
    return p / 3 - p**2 / 4


def _optimum(score, d_hidden, *, n_divisor=None, largest=True):
    kept = score.topk(min(d_hidden, score.shape[-1]), dim=-1, largest=largest).values.sum(-1)
    return (score.sum(-1) - kept) / (n_divisor or score.shape[-1])


WRONG_LINEAR_OPTIMUM = {
    "keeps the most important, not the most variable": lambda imp, p, m: (
        (imp * _variance(p)).sum(-1) - (imp * _variance(p)).gather(-1, imp.topk(m, dim=-1).indices).sum(-1)
    ) / imp.shape[-1],
    "no bias: dropped features cost E[x^2]": lambda imp, p, m: _optimum(imp * p / 3, m),
    "keeps the least important": lambda imp, p, m: _optimum(imp * _variance(p), m, largest=False),
    "divides by the hidden size": lambda imp, p, m: _optimum(imp * _variance(p), m, n_divisor=m),
    "sums instead of the mean over features": lambda imp, p, m: _optimum(imp * _variance(p), m, n_divisor=1),
    "unweighted by importance": lambda imp, p, m: _optimum(_variance(p), m),
}


@pytest.mark.parametrize("label", list(WRONG_LINEAR_OPTIMUM))
def test_linear_optimum_loss_rejects(label):
    assert run_check("linear_optimum_loss", WRONG_LINEAR_OPTIMUM[label]).status == "failed", label


def test_linear_optimum_loss_is_reached_by_training():
    """A trained linear model lands within a few per cent of the derived optimum (notebook 03 prints it)."""
    from dataclasses import replace

    from course_utils.toy_models import (
        ToyModelConfig,
        TrainConfig,
        linear_optimum_loss,
        train_with_restarts,
    )

    cfg = replace(ToyModelConfig(n_instances=3, density=(1.0, 0.3, 0.1)), linear=True)
    _, log = train_with_restarts(cfg, TrainConfig(steps=3000, lr=3e-3, progress=False), restarts=1,
                                 generator=torch.Generator().manual_seed(0))
    optimum = linear_optimum_loss(cfg.importance_tensor(), cfg.density_tensor(), cfg.d_hidden)
    assert torch.allclose(log.final_loss(), optimum, rtol=0.05)
