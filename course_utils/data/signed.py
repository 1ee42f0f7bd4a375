"""Signed sparse batches, the data of TMS "Computation in Superposition": each feature is 0 with
probability 1 - density, else Uniform[-1, 1].

- `signed_sparse_batch(batch_size, density, *, generator)`: one batch from `torch.rand` (the reference).
- `signed_sparse_batches(density, batch_size=..., generator=...)`: a batch function `step -> batch` for
  `course_utils.toy_models.train`, drawn from the same counter-based hash as `SparseBatches`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from course_utils.data.sparse import SparseBatches, hash_uniform, sparse_batches


def signed_sparse_batch(
    batch_size: int, density: Float[Tensor, "inst feats"], *, generator: torch.Generator
) -> Float[Tensor, "batch inst feats"]:
    """One batch: each entry is 0 w.p. 1 - density, else Uniform[-1, 1] (values drawn first, then the mask)."""
    if density.ndim != 2:
        raise ValueError(f"density must have shape (inst, feats); got {tuple(density.shape)} (see as_density)")
    shape = (batch_size, *density.shape)
    values = 2 * torch.rand(shape, generator=generator, device=density.device) - 1
    on = torch.rand(shape, generator=generator, device=density.device) < density
    return values * on


@dataclass(frozen=True, kw_only=True, eq=False)
class SignedSparseBatches(SparseBatches):
    """`SparseBatches` with signed values: the on entries are Uniform[-1, 1) instead of Uniform[0, 1)."""

    def __call__(self, step: Int[Tensor, ""] | int) -> Float[Tensor, "batch inst feats"]:
        if self.positions is None:
            raise ValueError("make signed batches with signed_sparse_batches(...), which precomputes their positions")
        v = hash_uniform(self.positions, self.key, step) / self.density  # Uniform[0, 1) where v < 1 (w.p. density)
        return (2 * v - 1) * torch.relu(torch.sign(1.0 - v))  # 2v - 1 where on, else 0 (no bool mask: faster)

    _WRITER_SCALE = 0.5  # a BatchWriter's quotient is 2v

    @staticmethod
    def _finish_(x: Float[Tensor, "*dims"], zero: Float[Tensor, ""], one: Float[Tensor, ""]) -> None:
        """What `__call__` returns, in place, from x = 2v: 2v - 1 where v < 1, else +0."""
        torch.sub(one, x, out=x)  # 1 - 2v = -(2v - 1) exactly; above -1 exactly where v < 1
        torch.threshold_(x, -1.0, 0.0)
        torch.sub(zero, x, out=x)  # 2v - 1 or +0: the same bits as __call__, zeros' signs included


def signed_sparse_batches(
    density: Float[Tensor, "inst feats"], *, batch_size: int = 1024, generator: torch.Generator
) -> SignedSparseBatches:
    """A seeded signed batch function for `train`: its key is drawn from `generator`."""
    base = sparse_batches(density, batch_size=batch_size, generator=generator)
    return SignedSparseBatches(density=base.density, key=base.key, batch_size=base.batch_size, positions=base.positions)
