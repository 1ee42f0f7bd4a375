"""Sparse feature batches, the data of the toy models (Elhage et al. 2022, "Demonstrating superposition").

Each feature is 0 with probability 1 - density, else Uniform[0, 1]; the density may differ per
instance (or per instance and feature). Two ways to draw a batch, both seeded explicitly:

- `sparse_batch(batch_size, density, *, generator)`: one batch from `torch.rand` (the reference).
- `sparse_batches(density, batch_size=..., generator=...)`: a *batch function* `step -> batch`.

A batch function is the data protocol of `course_utils.toy_models.training`: any callable that maps a
0-d int64 step tensor to a `Float[Tensor, "batch inst feats"]`, pure (the same step gives the same
batch). `SparseBatches` draws its numbers from a counter-based hash of (key, step, position), so
it costs a few integer operations per number and `torch.compile` can fuse it into the training step.
Other generators (correlated, anticorrelated features) can sit beside it with the same protocol.
`SparseBatches.writer(instances, work)` gives a `BatchWriter`, which writes the same batches (bit for bit)
straight into the plain trainer's buffers, in place and in fewer passes over memory.

One uniform number u per entry gives both the mask and the value: the feature is on when
u < density, and then u / density is again Uniform[0, 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from jaxtyping import Float, Int
from torch import Tensor

_MASK32 = 0xFFFFFFFF


def as_density(
    density: float | Sequence[float] | Sequence[Sequence[float]] | Tensor,
    n_instances: int,
    n_features: int,
) -> Float[Tensor, "inst feats"]:
    """Broadcast a density (a number, one per instance, or one per instance and feature) to (inst, feats)."""
    d = torch.as_tensor(density, dtype=torch.float32)
    if d.ndim == 1:
        if d.shape[0] != n_instances:
            raise ValueError(
                f"density has {d.shape[0]} values but there are {n_instances} instances; "
                "give one density per instance (or a number, or an (inst, feats) table)"
            )
        d = d[:, None]
    elif d.ndim == 2 and d.shape != (n_instances, n_features):
        raise ValueError(f"density table has shape {tuple(d.shape)}; expected ({n_instances}, {n_features})")
    elif d.ndim > 2:
        raise ValueError(f"density must be a number, a vector or an (inst, feats) table, not {d.ndim}-D")
    if torch.any(d <= 0) or torch.any(d > 1):
        raise ValueError(f"every density must lie in (0, 1]; got values from {d.min():.3g} to {d.max():.3g}")
    return d.expand(n_instances, n_features).contiguous()


def sparse_batch(
    batch_size: int,
    density: Float[Tensor, "inst feats"],
    *,
    generator: torch.Generator,
) -> Float[Tensor, "batch inst feats"]:
    """One batch: each entry is 0 w.p. 1 - density, else Uniform[0, 1] (values drawn first, then the mask)."""
    if density.ndim != 2:
        raise ValueError(f"density must have shape (inst, feats); got {tuple(density.shape)} (see as_density)")
    shape = (batch_size, *density.shape)
    values = torch.rand(shape, generator=generator, device=density.device)
    on = torch.rand(shape, generator=generator, device=density.device) < density
    return values * on


def _lowbias32(x: Int[Tensor, "*dims"]) -> Int[Tensor, "*dims"]:
    """A 32-bit integer hash with good avalanche (C. Wellons' lowbias32), on int64 tensors."""
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _MASK32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _MASK32
    return x ^ (x >> 16)


def _lowbias32_int(x: int) -> int:
    """`_lowbias32` on a Python integer."""
    x ^= x >> 16
    x = (x * 0x7FEB352D) & _MASK32
    x ^= x >> 15
    x = (x * 0x846CA68B) & _MASK32
    return x ^ (x >> 16)


def _lowbias32_int32(x: Int[Tensor, "*dims"]) -> Int[Tensor, "*dims"]:
    """`_lowbias32` on int32 tensors (multiplication wraps; shifts made logical by masking): half the memory traffic."""
    x = x ^ ((x >> 16) & 0xFFFF)
    x = x * 0x7FEB352D
    x = x ^ ((x >> 15) & 0x1FFFF)
    x = x * (0x846CA68B - (1 << 32))
    return x ^ ((x >> 16) & 0xFFFF)


def hash_uniform(
    positions: Int[Tensor, "*dims"], key: Int[Tensor, ""] | int, step: Int[Tensor, ""] | int
) -> Float[Tensor, "*dims"]:
    """Uniform[0, 1) numbers (24 bits) from a counter-based hash of (hashed position, key, step).

    `positions` are int32 (or int64) hashes of each entry's index; one lowbias32 round of
    position xor lowbias32(step * golden + key) makes each number.
    """
    if torch.compiler.is_compiling():  # a tensor, so that one compiled graph serves every step
        step_key = _lowbias32((torch.as_tensor(step, dtype=torch.int64) * 0x9E3779B1 + key) & _MASK32)
        signed_key = (step_key - (step_key >> 31 << 32)).to(torch.int32)
    else:  # the same bits from Python integers: no 0-d tensor operations
        step_key = _lowbias32_int((int(step) * 0x9E3779B1 + int(key)) & _MASK32)
        signed_key = step_key - (step_key >> 31 << 32)
    if positions.dtype == torch.int32:
        bits = _lowbias32_int32(positions ^ signed_key)
        bits = (bits >> 8) & 0xFFFFFF
    else:
        bits = _lowbias32(positions ^ step_key) >> 8
    return bits.to(torch.float32) * (1.0 / (1 << 24))


@dataclass(frozen=True, kw_only=True, eq=False)
class SparseBatches:
    """A batch function step -> sparse batch, pure and cheap (counter-based hash; see module docstring)."""

    density: Float[Tensor, "inst feats"]
    key: Int[Tensor, ""]
    """The seed, a 0-d int64 tensor (a tensor, so that compiled steps don't specialise on its value)."""
    batch_size: int = 1024  # TMS notebook: n_batch=1024
    positions: Int[Tensor, "batch inst feats"] | None = None
    """Hashed entry indices (int32), precomputed by `sparse_batches`."""

    def __call__(self, step: Int[Tensor, ""] | int) -> Float[Tensor, "batch inst feats"]:
        positions = self.positions
        if positions is None:
            positions = _positions(self.batch_size, *self.density.shape, device=self.density.device)
        u = hash_uniform(positions, self.key, step)
        v = u / self.density  # Uniform[0, 1) where v < 1, i.e. with probability density
        return v * torch.relu(torch.sign(1.0 - v))  # v where v < 1, else 0 (no bool mask: much faster)

    def instances(self, index: slice) -> SparseBatches:
        """The same batches restricted to some instances (the same numbers: each entry has its own hash)."""
        positions = self.positions if self.positions is not None else _positions(self.batch_size, *self.density.shape)
        return replace(self, density=self.density[index], positions=positions[:, index])

    def writer(self, index: slice, work: tuple[Tensor, Tensor]) -> BatchWriter:
        """A `BatchWriter` of the instances `index`, computing in `work`: two int32 buffers of at least their size."""
        return BatchWriter(self, index, work)

    _WRITER_SCALE = -1.0
    """A `BatchWriter` divides the 24 random bits by density * 2**24 * this: -u / density here."""

    @staticmethod
    def _finish_(x: Float[Tensor, "*dims"], zero: Float[Tensor, ""], one: Float[Tensor, ""]) -> None:
        """What `__call__` returns, in place, from x = -u / density: u / density where that is below 1, else +0."""
        torch.threshold_(x, -1.0, -0.0)  # -v where v < 1, else -0 (v == 1 too, as sign(1 - v) = 0 above)
        x.neg_()  # v or +0: the same bits as __call__, zeros' signs included

    @property
    def n_instances(self) -> int:
        return self.density.shape[0]

    @property
    def n_features(self) -> int:
        return self.density.shape[1]


class BatchWriter:
    """Writes the batches of some instances of a `SparseBatches` into a buffer, (inst, feats, batch), bit for bit.

    The same numbers as calling the batch function, for the plain (not compiled) trainer, in fewer passes
    over memory: every operation in place on preallocated buffers, its constants 0-d tensors of the buffers'
    dtype (a fresh tensor per operation, and a Python number turned into a tensor per operation, cost more
    than the arithmetic at these sizes), and three identities of `_lowbias32_int32`'s arithmetic:

    - lowbias32 starts with y ^= y >>> 16, and y = position ^ key; xor and shifts distribute, so the
      positions' part is computed once and the key's part in Python;
    - the last xorshift and the top 24 bits, ((y ^ (y >>> 16)) >>> 8), are (y & ~0xFF) ^ ((y >> 16) & 0xFF00)
      read as an unsigned number times 256;
    - u / density, u = bits * 2**-24, is bits / (density * 2**24): the same real number, rounded once.
    """

    def __init__(self, batches: SparseBatches, index: slice, work: tuple[Tensor, Tensor]):
        density = batches.density[index]
        device = density.device
        positions = batches.positions
        if positions is None:
            positions = _positions(batches.batch_size, *batches.density.shape, device=device)
        positions = positions[:, index].permute(1, 2, 0)  # inst feats batch
        self.mixed_positions = positions ^ ((positions >> 16) & 0xFFFF)  # lowbias32's first xorshift, position part
        n = positions.shape[0]
        self.bits, self.shifted = (w[:n] for w in work)
        if self.bits.shape != positions.shape or self.bits.dtype != torch.int32:
            raise ValueError(f"work buffers must be int32 of shape {tuple(positions.shape)}; got {tuple(self.bits.shape)}")
        self.scale = density.unsqueeze(-1) * (float(1 << 32) * batches._WRITER_SCALE)  # bits * 256 come in
        self.key = int(batches.key)
        self.finish = batches._finish_

        def int32(value: int) -> Tensor:
            return torch.tensor(value - (value >> 31 << 32), dtype=torch.int32, device=device)

        self.step_key = int32(0)
        self.c1, self.c2 = int32(0x7FEB352D), int32(0x846CA68B)
        self.shift15, self.mask15, self.shift16 = int32(15), int32(0x1FFFF), int32(16)
        self.low_byte_of_high_half, self.top24 = int32(0xFF00), int32(0xFFFFFF00)
        self.zero, self.one = torch.zeros((), device=device), torch.ones((), device=device)

    def __call__(self, step: int, out: Float[Tensor, "inst feats batch"]) -> None:
        """Write batch `step` of these instances into `out` (float32, contiguous, (inst, feats, batch))."""
        key = _lowbias32_int((step * 0x9E3779B1 + self.key) & _MASK32)
        key ^= key >> 16  # lowbias32's first xorshift, key part
        self.step_key.fill_(key - (key >> 31 << 32))
        x, t = self.bits, self.shifted
        torch.bitwise_xor(self.mixed_positions, self.step_key, out=x).mul_(self.c1)
        torch.bitwise_right_shift(x, self.shift15, out=t)
        x.bitwise_xor_(t.bitwise_and_(self.mask15)).mul_(self.c2)  # x ^= x >>> 15; x *= c2
        torch.bitwise_right_shift(x, self.shift16, out=t)
        x.bitwise_and_(self.top24).bitwise_xor_(t.bitwise_and_(self.low_byte_of_high_half))
        out.copy_(x.view(torch.uint32))  # 24 random bits times 256: exact in float32
        out.div_(self.scale)
        self.finish(out, self.zero, self.one)


def _positions(batch_size: int, n_instances: int, n_features: int, device=None) -> Int[Tensor, "batch inst feats"]:
    index = torch.arange(batch_size * n_instances * n_features, dtype=torch.int64, device=device)
    hashed = _lowbias32(index)
    hashed = (hashed - (hashed >> 31 << 32)).to(torch.int32)  # the same 32 bits, as a signed int32
    # Stored (inst, feats, batch): the batch axis innermost gives long contiguous loops, and
    # x.permute(1, 2, 0), one (feats, batch) matrix per instance, needs no copy.
    return hashed.view(n_instances, n_features, batch_size).permute(2, 0, 1)


def sparse_batches(
    density: Float[Tensor, "inst feats"],
    *,
    batch_size: int = 1024,
    generator: torch.Generator,
) -> SparseBatches:
    """A seeded batch function for `train`: its key is drawn from `generator`."""
    if density.ndim != 2:
        raise ValueError(f"density must have shape (inst, feats); got {tuple(density.shape)} (see as_density)")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    key = torch.randint(0, 1 << 31, (), generator=generator)
    return SparseBatches(
        density=density,
        batch_size=batch_size,
        key=key,
        positions=_positions(batch_size, *density.shape, device=density.device),
    )
