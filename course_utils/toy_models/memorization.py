"""The toy model on a fixed dataset (Henighan et al. 2023, "Superposition, Memorization, and Double Descent").

Each of T training points is a sparse vector rescaled to unit norm; the ReLU-output model trains on that
fixed set, full batch, with AdamW, weight decay and a warm-up + cosine schedule. Small datasets are stored
as *datapoints* in superposition (the hidden vectors h_t = W x_t form a T-gon); large ones as *features*;
test loss against T rises and falls in between (double descent).

- `MemorizationConfig`: the scaled-down setup (the paper's values in the comments).
- `unit_sparse_dataset(size, n_features, density, *, generator)`: the data.
- `tile_datasets(datasets)`: datasets of different sizes as one full batch, each repeated to the largest size.
- `train_memorization(cfg, *, generator) -> MemorizationRun`: one batched run, one instance per (T, seed).
- `reconstruction_loss`, `datapoint_dimensionality`, `datapoint_dominated`, `peak_index`: the measurements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from einops import einsum
from jaxtyping import Float, Int
from torch import Tensor

from course_utils.toy_models.feature_geometry import feature_dimensionality
from course_utils.toy_models.model import ToyModel, ToyModelConfig
from course_utils.toy_models.training import TrainConfig, TrainLog, train


@dataclass(frozen=True, kw_only=True)
class MemorizationConfig:
    """One sweep over dataset sizes; scaled down from the paper ("Experiment Setup") to run in seconds on a CPU."""

    n_features: int = 64  # paper: n = 10,000
    d_hidden: int = 2  # paper: m = 2
    density: float = 0.08  # paper: 1 - S = 0.001; here about 5 features are active in a point (paper: 10)
    dataset_sizes: tuple[int, ...] = (2, 4, 8, 16, 32, 64, 128)  # paper: T from 3 to 10^5, log-spaced
    seeds: int = 4  # paper: 4 dataset seeds per T ("Superposition Double Descent")
    steps: int = 2_500  # paper: 50,000 full-batch updates
    lr: float = 5e-3  # paper: 1e-3 (fewer steps here, so a larger rate)
    warmup_steps: int = 125  # paper: 2,500 linear warm-up steps (5% of the run), then cosine decay to zero
    weight_decay: float = 1e-2  # paper: 1e-2
    test_size: int = 2_000
    progress: bool = False

    def __post_init__(self) -> None:
        if self.n_features < 1 or self.d_hidden < 1 or self.seeds < 1 or self.test_size < 1:
            raise ValueError("n_features, d_hidden, seeds and test_size must be positive")
        if not 0 < self.density <= 1:
            raise ValueError(f"density must lie in (0, 1], got {self.density}")
        if not self.dataset_sizes or min(self.dataset_sizes) < 1:
            raise ValueError(f"dataset_sizes must be positive numbers, got {self.dataset_sizes}")
        largest = max(self.dataset_sizes)
        if any(largest % t for t in self.dataset_sizes):
            raise ValueError(
                f"every dataset size must divide the largest ({largest}), so that each dataset tiles one full "
                f"batch exactly; got {self.dataset_sizes}"
            )
        self.train_config()  # validates steps and warm-up

    @property
    def n_instances(self) -> int:
        return len(self.dataset_sizes) * self.seeds

    def instance_sizes(self) -> Int[Tensor, " inst"]:
        """The dataset size of every instance: each size `seeds` times in a row."""
        return torch.tensor(self.dataset_sizes).repeat_interleave(self.seeds)

    def train_config(self) -> TrainConfig:
        """Full batch (the largest dataset), AdamW with weight decay, linear warm-up then cosine decay."""
        return TrainConfig(
            steps=self.steps,
            batch_size=max(self.dataset_sizes),
            lr=self.lr,
            weight_decay=self.weight_decay,
            warmup_steps=self.warmup_steps,
            schedule="cosine",
            progress=self.progress,
        )


def unit_sparse_dataset(
    size: int, n_features: int, density: float, *, generator: torch.Generator
) -> Float[Tensor, "batch feats"]:
    """`size` points: each feature 0 w.p. 1 - density, else U[0, 1]; each point rescaled to unit norm (0 stays 0)."""
    values = torch.rand(size, n_features, generator=generator)
    on = torch.rand(size, n_features, generator=generator) < density
    x = values * on
    norms = x.norm(dim=1, keepdim=True)
    return torch.where(norms > 0, x / norms.clamp_min(1e-12), x)


def tile_datasets(datasets: Sequence[Float[Tensor, "size feats"]]) -> Float[Tensor, "batch inst feats"]:
    """Every dataset repeated to the largest size: a full batch whose mean loss per instance is its dataset's."""
    if not datasets:
        raise ValueError("give at least one dataset")
    largest = max(d.shape[0] for d in datasets)
    if any(d.ndim != 2 or d.shape[1] != datasets[0].shape[1] for d in datasets):
        raise ValueError("every dataset must have shape (size, feats) with the same number of features")
    if any(largest % d.shape[0] for d in datasets):
        raise ValueError(f"every dataset size must divide the largest ({largest}); got {[d.shape[0] for d in datasets]}")
    return torch.stack([d.repeat(largest // d.shape[0], 1) for d in datasets], dim=1)


def reconstruction_loss(
    W: Float[Tensor, "inst hidden feats"], b: Float[Tensor, "inst feats"], x: Float[Tensor, "batch inst feats"]
) -> Float[Tensor, " inst"]:
    """The paper's L: squared error summed over features, averaged over points (1 for a model that outputs 0)."""
    h = einsum(x, W, "batch inst feats, inst hidden feats -> batch inst hidden")
    out = torch.relu(einsum(h, W, "batch inst hidden, inst hidden feats -> batch inst feats") + b)
    return ((out - x) ** 2).sum(dim=2).mean(dim=0)


def datapoint_dimensionality(
    W: Float[Tensor, "inst hidden feats"], x: Float[Tensor, "batch inst feats"]
) -> Float[Tensor, "inst batch"]:
    """D_t = ||h_t||^2 / sum_s (h_hat_t . h_s)^2 with h_t = W x_t: feature dimensionality, applied to datapoints."""
    h = einsum(x, W, "batch inst feats, inst hidden feats -> inst hidden batch")
    return feature_dimensionality(h)


def datapoint_dominated(d_points: Float[Tensor, " batch"], d_features: Float[Tensor, " feats"]) -> bool:
    """True when the median datapoint gets more of a dimension than the most dimensional feature does."""
    return bool(d_points.median() > d_features.max())


def peak_index(mean_loss: Float[Tensor, " sizes"]) -> int:
    """Where the test loss is highest; interior (neither end) when it is a double-descent peak."""
    return int(mean_loss.argmax())


@dataclass(frozen=True, kw_only=True)
class MemorizationRun:
    """What one batched run leaves: the weights, every instance's training set, the losses and the log."""

    cfg: MemorizationConfig
    W: Float[Tensor, "inst hidden feats"]
    b: Float[Tensor, "inst feats"]
    datasets: tuple[Tensor, ...] = field(repr=False)
    """Instance i's training set, shape (T_i, feats)."""
    test_x: Float[Tensor, "test feats"] = field(repr=False)
    train_loss: Float[Tensor, " inst"]
    test_loss: Float[Tensor, " inst"]
    log: TrainLog = field(repr=False)

    @property
    def sizes(self) -> Int[Tensor, " sizes"]:
        return torch.tensor(self.cfg.dataset_sizes)

    def by_size(self, values: Float[Tensor, " inst"]) -> Float[Tensor, "sizes seeds"]:
        """Per-instance values as a (dataset size, seed) table."""
        return values.view(len(self.cfg.dataset_sizes), self.cfg.seeds)

    def instance(self, size: int, seed: int = 0) -> int:
        """The instance trained on the `seed`-th dataset of `size` points."""
        if size not in self.cfg.dataset_sizes or not 0 <= seed < self.cfg.seeds:
            raise ValueError(f"no instance for T={size}, seed={seed}; sizes {self.cfg.dataset_sizes}, {self.cfg.seeds} seeds")
        return self.cfg.dataset_sizes.index(size) * self.cfg.seeds + seed

    def hidden_vectors(self, i: int) -> Float[Tensor, "size hidden"]:
        """h_t = W x_t for instance i's training points."""
        return self.datasets[i] @ self.W[i].T

    def datapoint_dims(self, i: int) -> Float[Tensor, " size"]:
        return datapoint_dimensionality(self.W[i : i + 1], self.datasets[i].unsqueeze(1))[0]

    def feature_dims(self) -> Float[Tensor, "inst feats"]:
        return feature_dimensionality(self.W)

    def dominated(self) -> torch.Tensor:
        """Per instance: is it datapoint-dominated (median D_X above the largest D_f)?"""
        d_f = self.feature_dims()
        return torch.tensor([datapoint_dominated(self.datapoint_dims(i), d_f[i]) for i in range(self.W.shape[0])])


def train_memorization(cfg: MemorizationConfig, *, generator: torch.Generator) -> MemorizationRun:
    """Draw `seeds` datasets of every size, train one instance on each (full batch, one run), measure the losses."""
    datasets = tuple(
        unit_sparse_dataset(int(t), cfg.n_features, cfg.density, generator=generator) for t in cfg.instance_sizes()
    )
    batch = tile_datasets(datasets)
    batch = batch.permute(1, 2, 0).contiguous().permute(2, 0, 1)  # stored as the step reads it: no copy per step
    model_cfg = ToyModelConfig(
        n_features=cfg.n_features,
        d_hidden=cfg.d_hidden,
        n_instances=cfg.n_instances,
        importance=(1.0,) * cfg.n_features,  # paper: uniform importance
        density=(cfg.density,) * cfg.n_instances,
    )
    model = ToyModel(model_cfg, generator=generator)
    log = train(model, cfg.train_config(), lambda step: batch)  # the same full batch at every step
    W, b = model.W.detach().clone(), model.b.detach().clone()
    test_x = unit_sparse_dataset(cfg.test_size, cfg.n_features, cfg.density, generator=generator)
    with torch.no_grad():
        train_loss = reconstruction_loss(W, b, batch)
        test_loss = reconstruction_loss(W, b, test_x.unsqueeze(1).expand(-1, cfg.n_instances, -1))
    return MemorizationRun(
        cfg=cfg, W=W, b=b, datasets=datasets, test_x=test_x, train_loss=train_loss, test_loss=test_loss, log=log
    )
