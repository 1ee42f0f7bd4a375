"""Which tokens a unit (a neuron, an SAE or transcoder latent) responds to: the purity of its top activations."""

from __future__ import annotations

import torch
from jaxtyping import Float, Int
from torch import Tensor


def token_purity(top_tokens: Int[Tensor, "units k"], vocab_size: int = 256) -> Float[Tensor, " units"]:
    """For each unit, the share of its top-k tokens equal to the most common one among them (1: one token)."""
    counts = torch.nn.functional.one_hot(top_tokens, num_classes=vocab_size).sum(1)
    return counts.max(-1).values.float() / top_tokens.shape[1]
