"""Activation harvest: run the model over held-out windows in chunks, keep one hook's activations.

Also what the dashboards read from a harvest: each unit's top activations (dense neurons, or
sparse SAE latents stored as (row, latent, value) triples), and the text around a row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from course_utils.lm.evaluate import windows_batches
from course_utils.lm.model import HOOK_POST, HOOK_RESID_MID


@dataclass(frozen=True, kw_only=True)
class Harvest:
    """Activations of one hook, one row per token, and where each row comes from."""

    acts: Float[Tensor, "batch hidden"]
    doc: Int[Tensor, " batch"]
    """Index of the row's document in the list of documents the windows were cut from."""
    pos: Int[Tensor, " batch"]
    """Position of the row's token in its document."""
    window_pos: Int[Tensor, " batch"]
    """Position of the row's token in its window of n_ctx tokens (the model sees only that window)."""
    tokens: Int[Tensor, " batch"]
    """The token at (doc, pos): the one the model reads when the activation is computed."""
    next_tokens: Int[Tensor, " batch"]
    """The token the model predicts at that row (the next one in its window; -1 at the window's end)."""
    resid_mid: Float[Tensor, "batch d_model"] | None = None
    """The residual stream before the MLP (blocks.0.hook_resid_mid), when harvested with_resid_mid:
    with `acts` it fixes the row's logits (course_utils.lm.interventions.mlp_tail_logits)."""


@torch.no_grad()
def harvest(
    model: Any,
    windows: Int[Tensor, "batch pos"],
    origins: Int[Tensor, "batch 2"],
    *,
    hook_name: str = HOOK_POST,
    batch_size: int = 64,
    with_resid_mid: bool = False,
) -> Harvest:
    """Run the model over windows in chunks and keep the hook's activations at every position
    (and the residual stream before the MLP, with_resid_mid)."""
    if windows.ndim != 2 or origins.shape != (len(windows), 2):
        raise ValueError(
            f"windows {tuple(windows.shape)} and origins {tuple(origins.shape)} do not match; "
            "pass both as returned by course_utils.data.text.document_windows"
        )
    chunks, mids = [], []
    names = {hook_name, HOOK_RESID_MID} if with_resid_mid else {hook_name}
    for batch in windows_batches(windows, batch_size):
        _, cache = model.run_with_cache(batch, names_filter=lambda name: name in names, return_type=None)
        chunks.append(cache[hook_name].flatten(0, 1))
        if with_resid_mid:
            mids.append(cache[HOOK_RESID_MID].flatten(0, 1))
    n_ctx = windows.shape[1]
    offsets = torch.arange(n_ctx)
    following = torch.cat([windows[:, 1:], torch.full((len(windows), 1), -1, dtype=windows.dtype)], dim=1)
    return Harvest(
        acts=torch.cat(chunks),
        doc=origins[:, 0].repeat_interleave(n_ctx),
        pos=(origins[:, 1:2] + offsets).flatten(),
        window_pos=offsets.repeat(len(windows)),
        tokens=windows.flatten(),
        next_tokens=following.flatten(),
        resid_mid=torch.cat(mids) if with_resid_mid else None,
    )


@torch.no_grad()
def top_k_dense(acts: Float[Tensor, "batch hidden"], k: int) -> tuple[Float[Tensor, "hidden k"], Int[Tensor, "hidden k"]]:
    """Each unit's (column's) k largest activations and their rows, largest first."""
    if not 1 <= k <= len(acts):
        raise ValueError(f"k must lie in 1..{len(acts)} (the number of rows), got {k}")
    values, rows = acts.topk(k, dim=0)
    return values.T.contiguous(), rows.T.contiguous()


@dataclass(frozen=True, kw_only=True)
class SparseActs:
    """The non-zero activations of many units over many rows, as (row, unit, value) triples."""

    rows: Int[Tensor, " nnz"]
    units: Int[Tensor, " nnz"]
    values: Float[Tensor, " nnz"]
    n_rows: int
    n_units: int


@torch.no_grad()
def sparse_codes(
    encode: Callable[[Tensor], Tensor], acts: Float[Tensor, "batch hidden"], *, chunk: int = 4096
) -> SparseActs:
    """Encode the rows in chunks (e.g. an SAE's latents) and keep only the non-zero entries."""
    rows, units, values = [], [], []
    n_units = 0
    for start in range(0, len(acts), chunk):
        codes = encode(acts[start : start + chunk])
        if codes.ndim != 2 or len(codes) != len(acts[start : start + chunk]):
            raise ValueError(f"encode must map [batch, hidden] to [batch, d_sae], got shape {tuple(codes.shape)}")
        n_units = codes.shape[1]
        r, u = codes.nonzero(as_tuple=True)
        rows.append(r + start)
        units.append(u)
        values.append(codes[r, u].float())
    return SparseActs(rows=torch.cat(rows), units=torch.cat(units), values=torch.cat(values),
                      n_rows=len(acts), n_units=n_units)


def sparse_decode(
    codes: SparseActs, W_dec: Float[Tensor, "d_sae hidden"], b_dec: Float[Tensor, " hidden"]
) -> Float[Tensor, "batch hidden"]:
    """The reconstructions W_dec f + b_dec of sparse codes, without building the dense [batch, d_sae] matrix."""
    if W_dec.shape[0] != codes.n_units:
        raise ValueError(f"W_dec has {W_dec.shape[0]} rows but the codes have {codes.n_units} units")
    f = torch.sparse_coo_tensor(torch.stack([codes.rows, codes.units]), codes.values.to(W_dec.dtype),
                                (codes.n_rows, codes.n_units), check_invariants=False)
    return torch.sparse.mm(f, W_dec) + b_dec


def top_k_sparse(codes: SparseActs, k: int) -> tuple[Float[Tensor, "d_sae k"], Int[Tensor, "d_sae k"]]:
    """Each unit's k largest activations and their rows, largest first; padded with value 0, row -1."""
    by_value = codes.values.argsort(descending=True, stable=True)
    order = by_value[codes.units[by_value].argsort(stable=True)]
    units = codes.units[order]
    counts = torch.bincount(units, minlength=codes.n_units)
    first = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(order)) - first[units]
    keep = rank < k
    values = torch.zeros(codes.n_units, k)
    rows = torch.full((codes.n_units, k), -1, dtype=torch.long)
    values[units[keep], rank[keep]] = codes.values[order][keep]
    rows[units[keep], rank[keep]] = codes.rows[order][keep]
    return values, rows


def unit_values(codes: SparseActs, unit: int) -> Float[Tensor, " nnz"]:
    """Every non-zero activation of one unit (for its histogram)."""
    if not 0 <= unit < codes.n_units:
        raise ValueError(f"unit must lie in 0..{codes.n_units - 1}, got {unit}")
    return codes.values[codes.units == unit]


def context_rows(
    harvest: Harvest, rows: Int[Tensor, " k"], *, before: int = 24, after: int = 4
) -> Int[Tensor, "k ctx"]:
    """For each row, the rows of the tokens around it in the same window (-1 outside the window)."""
    offsets = torch.arange(-before, after + 1)
    around = rows[:, None] + offsets
    n_ctx = int(harvest.window_pos.max()) + 1
    inside = (harvest.window_pos[rows][:, None] + offsets >= 0) & (harvest.window_pos[rows][:, None] + offsets < n_ctx)
    return torch.where(inside & (rows[:, None] >= 0), around, -1)


def gather_context(
    harvest: Harvest, around: Int[Tensor, "k ctx"], unit_acts: Callable[[Tensor], Tensor]
) -> tuple[Int[Tensor, "k ctx"], Float[Tensor, "k ctx"]]:
    """The tokens at the context rows (-1 where there is none) and a unit's activation on each.

    unit_acts maps activations [n, hidden] to that unit's values [n] (a neuron's column, a latent's code).
    """
    valid = around >= 0
    tokens = torch.full(around.shape, -1, dtype=torch.long)
    values = torch.zeros(around.shape)
    tokens[valid] = harvest.tokens[around[valid]]
    with torch.no_grad():
        values[valid] = unit_acts(harvest.acts[around[valid]]).float()
    return tokens, values
