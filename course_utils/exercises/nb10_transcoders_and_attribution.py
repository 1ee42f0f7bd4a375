"""Exercises of notebook 10 (transcoders and attribution graphs): references and the cases that check them.

The cases run on small random models of the same architecture whose LayerNorms have random weights and
biases (so a missing LayerNorm weight, scale or centring shows), not on the shipped checkpoint.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from course_utils.exercises import Case, make_exercise, verifier
from course_utils.lm.model import LMConfig, make_model

NOTEBOOK = "10_transcoders_and_attribution"


def mlp_in_out(model: Any, tokens: Int[Tensor, "batch pos"]) -> tuple[Float[Tensor, "batch pos d_model"], Float[Tensor, "batch pos d_model"]]:
    """The MLP's input (LN2 of the residual stream, weight and bias applied) and its output, at every position."""
    _, cache = model.run_with_cache(tokens)
    ln2 = model.blocks[0].ln2
    return cache["blocks.0.ln2.hook_normalized"] * ln2.w + ln2.b, cache["blocks.0.hook_mlp_out"]


def latent_logit_attributions(
    acts: Float[Tensor, " d_tc"], W_dec: Float[Tensor, "d_tc d_model"], u: Float[Tensor, " d_model"],
    ln_w: Float[Tensor, " d_model"], scale: Float[Tensor, ""],
) -> Float[Tensor, " d_tc"]:
    """Each latent's term in one logit, the final LayerNorm's scale frozen: f_j (centred(d_j) / scale * w) . u."""
    centred = W_dec - W_dec.mean(-1, keepdim=True)
    return acts * ((centred / scale * ln_w) @ u)


def token_to_latent(
    model: Any, tokens: Int[Tensor, " pos"], encoder_row: Float[Tensor, " d_model"], position: int
) -> Float[Tensor, " pos"]:
    """Each input position's term in a latent's pre-activation at `position`, patterns and LN scales frozen."""
    _, cache = model.run_with_cache(tokens[None])
    attn, ln1, ln2 = model.blocks[0].attn, model.blocks[0].ln1, model.blocks[0].ln2
    resid = cache["blocks.0.hook_resid_pre"][0]
    x1 = (resid - resid.mean(-1, keepdim=True)) / cache["blocks.0.ln1.hook_scale"][0] * ln1.w
    moved = torch.einsum("sd,hde,hem->hsm", x1, attn.W_V, attn.W_O)
    rows = torch.einsum("hs,hsm->sm", cache["blocks.0.attn.hook_pattern"][0, :, position], moved)
    rows[position] = rows[position] + resid[position]
    x2 = (rows - rows.mean(-1, keepdim=True)) / cache["blocks.0.ln2.hook_scale"][0, position] * ln2.w
    return x2 @ encoder_row


def prune_to_share(weights: Float[Tensor, " edges"], share: float) -> Bool[Tensor, " edges"]:
    """The fewest edges, largest |weight| first, whose |weights| sum to at least `share` of the total |weight|."""
    magnitude = weights.abs()
    order = magnitude.argsort(descending=True, stable=True)
    cumulative = magnitude[order].cumsum(0)
    needed = int((cumulative < share * magnitude.sum() * (1 - 1e-6)).sum()) + 1
    keep = torch.zeros(len(weights), dtype=torch.bool)
    keep[order[:needed]] = True
    return keep


@cache
def _small_model(seed: int) -> Any:
    """A small random model (d_model 32, 2 heads) with random LayerNorm weights and biases."""
    model = make_model(LMConfig(d_model=32, n_heads=2, d_mlp=64, n_ctx=16), seed=seed, init_std=0.3)
    g = torch.Generator().manual_seed(100 + seed)
    with torch.no_grad():
        for ln in (model.blocks[0].ln1, model.blocks[0].ln2, model.ln_final):
            ln.w.copy_(0.5 + torch.rand(ln.w.shape, generator=g))
            ln.b.copy_(0.3 * torch.randn(ln.b.shape, generator=g))
        model.embed.W_E.mul_(3.0)  # so the LayerNorm scales are far from 1
    return model


def _tokens(seed: int, *shape: int) -> Tensor:
    return torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(seed))


def _mlp_in_out_cases() -> list[Case]:
    return [Case((_small_model(1), _tokens(1, 3, 16)), description="a random model (d_model 32), 3 windows of 16 bytes"),
            Case((_small_model(2), _tokens(2, 2, 5)), description="another random model, 2 windows of 5 bytes")]


def _latent_logit_cases() -> list[Case]:
    g = torch.Generator().manual_seed(71)
    acts = torch.zeros(40)
    acts[[3, 17, 25]] = torch.tensor([1.5, 0.7, 2.0])
    return [
        Case((acts, torch.randn(40, 12, generator=g) + 0.5, torch.randn(12, generator=g),
              0.5 + torch.rand(12, generator=g), torch.tensor(2.5)),
             description="40 latents (3 active), d_model 12, decoder rows with a non-zero mean, scale 2.5"),
        Case((torch.rand(6, generator=g), torch.randn(6, 5, generator=g) - 1.0, torch.randn(5, generator=g),
              torch.rand(5, generator=g) + 0.2, torch.tensor(0.3)),
             description="6 latents, d_model 5, scale 0.3"),
    ]


def _token_to_latent_cases() -> list[Case]:
    g = torch.Generator().manual_seed(72)
    return [
        Case((_small_model(3), _tokens(3, 12), torch.randn(32, generator=g), 11),
             description="a random model, 12 bytes, a random encoder row, the last position"),
        Case((_small_model(4), _tokens(4, 16), torch.randn(32, generator=g), 6),
             description="a random model, 16 bytes, position 6 (positions 7..15 cannot be attended: their terms are 0)"),
        Case((_small_model(3), _tokens(5, 9), torch.randn(32, generator=g), 0),
             description="a random model, 9 bytes, position 0 (it attends only to itself)"),
    ]


def _prune_cases() -> list[Case]:
    g = torch.Generator().manual_seed(73)
    return [
        Case((torch.tensor([4.0, -3.0, 2.0, 1.0]), 0.7),
             description="weights [4, -3, 2, 1], share 0.7: |4| + |-3| = 7 of 10 is enough, keep 2"),
        Case((torch.tensor([1.0, -6.0, 0.5, 2.5]), 0.5),
             description="weights [1, -6, 0.5, 2.5], share 0.5: the negative -6 alone carries 60%"),
        Case((torch.randn(50, generator=g), 0.8), description="50 random weights, share 0.8"),
        Case((torch.tensor([2.0, 2.0, 2.0, 2.0]), 1.0), description="four equal weights, share 1: keep all"),
    ]


make_exercise(
    name="mlp_in_out",
    notebook=NOTEBOOK,
    reference=mlp_in_out,
    verify=verifier(mlp_in_out, _mlp_in_out_cases, atol=1e-4),
    summary="the transcoder's data: LN2's output (w and b applied) and hook_mlp_out",
)

make_exercise(
    name="latent_logit_attributions",
    notebook=NOTEBOOK,
    reference=latent_logit_attributions,
    verify=verifier(latent_logit_attributions, _latent_logit_cases, atol=1e-4),
    summary="f_j times the centred decoder row over the frozen scale, times w, dotted with W_U's column",
)

make_exercise(
    name="token_to_latent",
    notebook=NOTEBOOK,
    reference=token_to_latent,
    verify=verifier(token_to_latent, _token_to_latent_cases, atol=1e-4, rtol=1e-3),
    summary="each source's term through the heads' OV with the frozen pattern and frozen LN scales",
)

make_exercise(
    name="prune_to_share",
    notebook=NOTEBOOK,
    reference=prune_to_share,
    verify=verifier(prune_to_share, _prune_cases),
    summary="the fewest largest-|w| edges that reach the share of the total |w|",
)
