"""Held-out loss in bits per byte, the bigram baseline, and splicing a reconstruction into the MLP."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from course_utils.data.text import VOCAB_SIZE, TextDocument, document_windows, load_documents

EVAL_WINDOWS = 512
"""Size of the evenly spaced subset of held-out windows that the notebook and the tests evaluate on."""


def eval_subset(windows: Int[Tensor, "batch pos"], n: int = EVAL_WINDOWS) -> Int[Tensor, "batch pos"]:
    """n evenly spaced windows (all of them when there are fewer): a fast, fixed estimate of the loss."""
    if len(windows) <= n:
        return windows
    return windows[torch.linspace(0, len(windows) - 1, n).round().long()]


def windows_batches(windows: Int[Tensor, "batch pos"], batch_size: int) -> Iterator[Int[Tensor, "batch pos"]]:
    """Consecutive chunks of at most batch_size windows."""
    for start in range(0, len(windows), batch_size):
        yield windows[start : start + batch_size]


@torch.no_grad()
def bits_per_byte(
    model: Any,
    windows: Int[Tensor, "batch pos"],
    *,
    batch_size: int = 64,
    fwd_hooks: list[tuple[str, Callable]] | None = None,
) -> float:
    """Mean next-byte cross-entropy over every predicted position of the windows, in bits per byte."""
    total, count = 0.0, 0
    for batch in windows_batches(windows, batch_size):
        per_token = model.run_with_hooks(batch, return_type="loss", loss_per_token=True, fwd_hooks=fwd_hooks or [])
        total += per_token.double().sum().item()
        count += per_token.numel()
    return total / count / math.log(2)


def bigram_log_probs(stream: Int[Tensor, " pos"], *, alpha: float = 1.0) -> Float[Tensor, "prev next"]:
    """log p(next byte | previous byte) counted on a token stream, with add-alpha smoothing."""
    stream = stream.long()
    counts = torch.bincount(stream[:-1] * VOCAB_SIZE + stream[1:], minlength=VOCAB_SIZE**2).double()
    counts = counts.reshape(VOCAB_SIZE, VOCAB_SIZE) + alpha
    return (counts / counts.sum(-1, keepdim=True)).log()


def bigram_bits_per_byte(log_probs: Float[Tensor, "prev next"], windows: Int[Tensor, "batch pos"]) -> float:
    """The bigram model's loss on the same predicted positions as `bits_per_byte` (all but the first)."""
    nats = -log_probs[windows[:, :-1], windows[:, 1:]]
    return nats.mean().item() / math.log(2)


def replace_hook(reconstruct: Callable[[Tensor], Tensor]) -> Callable[[Tensor, Any], Tensor]:
    """A TransformerLens forward hook that returns reconstruct(activation) in place of the activation."""

    def hook(activation: Tensor, hook: Any) -> Tensor:
        flat = activation.reshape(-1, activation.shape[-1])
        return reconstruct(flat).reshape(activation.shape).to(activation.dtype)

    return hook


def zero_hook(activation: Tensor, hook: Any) -> Tensor:
    """A forward hook that zero-ablates the activation (the baseline of the loss-recovered score)."""
    return torch.zeros_like(activation)


def loss_recovered(clean: float, spliced: float, ablated: float) -> float:
    """Share of the loss gap between zero-ablating the layer and the clean model that the splice closes."""
    if ablated == clean:
        raise ValueError("the ablated and clean losses are equal; the fraction recovered is undefined")
    return (ablated - spliced) / (ablated - clean)


def held_out_windows(n_ctx: int = 128) -> tuple[list[TextDocument], Int[Tensor, "batch pos"], Int[Tensor, "batch 2"]]:
    """The held-out documents and their windows with origins (document index, start position)."""
    documents = load_documents("held_out")
    windows, origins = document_windows(documents, n_ctx)
    return documents, windows, origins
