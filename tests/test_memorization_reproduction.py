"""Reproduction (Henighan et al. 2023) at the notebook's scale: the test loss has an interior double-descent
peak, and small-T models are datapoint-dominated by the dimensionality measure while large-T ones are not."""

from __future__ import annotations

import pytest
import torch

from course_utils.course.notebook import keep_freed_memory
from course_utils.toy_models.memorization import MemorizationConfig, peak_index, train_memorization


@pytest.fixture(scope="module")
def run():
    keep_freed_memory()  # 3-5x faster on glibc (see its docstring)
    return train_memorization(MemorizationConfig(), generator=torch.Generator().manual_seed(0))


def test_test_loss_has_an_interior_peak(run):
    mean = run.by_size(run.test_loss).mean(1)
    i = peak_index(mean)
    assert 0 < i < len(mean) - 1, f"test loss by T {mean.tolist()} peaks at an end"
    assert mean[i] > 1.1 * max(mean[0], mean[-1]), f"peak {mean[i]:.3f} not clearly above the ends {mean.tolist()}"
    assert mean[i] > 1.0  # worse than a model that outputs nothing
    assert mean[-1] < mean[0]  # the second descent ends below where the first began


def test_small_datasets_are_memorised_as_datapoints_and_large_ones_are_not(run):
    dominated = run.by_size(run.dominated().float())
    sizes = run.cfg.dataset_sizes
    for t in (2, 4):
        assert dominated[sizes.index(t)].mean() >= 0.75, f"T={t}: datapoint-dominated in {dominated[sizes.index(t)].tolist()}"
    for t in (32, 64, 128):
        assert dominated[sizes.index(t)].sum() == 0, f"T={t} still datapoint-dominated"
    train = run.by_size(run.train_loss).mean(1)
    assert train[0] < 0.1 and train[-1] > 0.5  # memorised, then not


def test_the_peak_sits_after_the_datapoint_regime(run):
    dominated = run.by_size(run.dominated().float()).mean(1)
    last_memorised = max(i for i, d in enumerate(dominated.tolist()) if d > 0.5)
    assert peak_index(run.by_size(run.test_loss).mean(1)) > last_memorised
