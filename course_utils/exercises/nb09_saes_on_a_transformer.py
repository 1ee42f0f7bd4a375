"""Exercises of notebook 09 (SAEs on a transformer): references and the cases that check them.

The cases run on small, randomly initialised models of the same architecture, so a check takes
well under a second and does not depend on the shipped checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from course_utils.exercises import Case, Verifier, call_each, judge_each, make_exercise, verifier
from course_utils.lm.model import HOOK_POST, LMConfig, make_model

NOTEBOOK = "09_saes_on_a_transformer"


def mlp_activations(model: Any, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos hidden"]:
    """The MLP neurons' activations (after the GELU) at every position."""
    _, cache = model.run_with_cache(tokens, names_filter="blocks.0.mlp.hook_post")
    return cache["blocks.0.mlp.hook_post"]


def top_k_rows(acts: Float[Tensor, "batch hidden"], unit: int, k: int) -> Int[Tensor, " k"]:
    """The rows of the k largest activations of one unit (column), largest first."""
    return acts[:, unit].topk(k).indices


def splice_hook(reconstruct: Callable[[Tensor], Tensor]) -> Callable[[Tensor, Any], Tensor]:
    """A forward hook that replaces the activation [batch pos hidden] by reconstruct(rows [n hidden])."""

    def hook(activation: Tensor, hook: Any) -> Tensor:
        rows = activation.reshape(-1, activation.shape[-1])
        return reconstruct(rows).reshape(activation.shape)

    return hook


def direct_logits(
    direction: Float[Tensor, " hidden"], W_out: Float[Tensor, "hidden d_model"], W_U: Float[Tensor, "d_model vocab"]
) -> Float[Tensor, " vocab"]:
    """How much one unit of an MLP direction raises each next-byte logit, through W_out and the unembedding."""
    return direction @ W_out @ W_U


def token_purity(top_tokens: Int[Tensor, "units k"]) -> Float[Tensor, " units"]:
    """For each unit, the share of its top-k tokens equal to the most common one among them."""
    counts = torch.nn.functional.one_hot(top_tokens, num_classes=256).sum(1)
    return counts.max(-1).values.float() / top_tokens.shape[1]


@cache
def _small_model(seed: int) -> Any:
    """A small random model of the same architecture (weights larger than at init, so GELU bends)."""
    return make_model(LMConfig(d_model=32, n_heads=2, d_mlp=64, n_ctx=16), seed=seed, init_std=0.3)


def _tokens(seed: int, batch: int, pos: int) -> Tensor:
    return torch.randint(0, 256, (batch, pos), generator=torch.Generator().manual_seed(seed))


def _mlp_activations_cases() -> list[Case]:
    return [
        Case((_small_model(1), _tokens(1, 3, 16)), description="a random model (d_mlp=64), 3 windows of 16 bytes"),
        Case((_small_model(2), _tokens(2, 2, 7)), description="another random model, 2 windows of 7 bytes"),
    ]


def _top_k_rows_cases() -> list[Case]:
    g = torch.Generator().manual_seed(61)
    acts = torch.randn(50, 6, generator=g)
    return [
        Case((torch.tensor([[0.0, 5.0], [3.0, 1.0], [2.0, 4.0], [1.0, 0.0]]), 0, 2),
             description="acts [[0,5],[3,1],[2,4],[1,0]], unit 0, k 2: rows [1, 2]"),
        Case((acts, 3, 5), description="random acts of shape (50, 6), unit 3, k 5"),
        Case((torch.randn(8, 30, generator=g), 29, 3), description="random acts of shape (8, 30), unit 29, k 3"),
    ]


def _direct_logits_cases() -> list[Case]:
    g = torch.Generator().manual_seed(62)
    return [
        Case((torch.randn(12, generator=g), torch.randn(12, 5, generator=g), torch.randn(5, 9, generator=g)),
             description="hidden 12, d_model 5, vocab 9"),
        Case((torch.eye(4)[1], torch.randn(4, 3, generator=g), torch.randn(3, 7, generator=g)),
             description="the one-hot direction of neuron 1: row 1 of W_out @ W_U"),
    ]


def _token_purity_cases() -> list[Case]:
    g = torch.Generator().manual_seed(63)
    return [
        Case((torch.tensor([[97, 97, 98, 97], [10, 32, 40, 41]]),),
             description="[[a, a, b, a], [\\n, space, (, )]]: purity [0.75, 0.25]"),
        Case((torch.tensor([[200, 5, 5, 200, 200]]),), description="[[200, 5, 5, 200, 200]]: purity 0.6"),
        Case((torch.randint(0, 4, (20, 10), generator=g),), description="20 units, k 10, tokens in 0..3"),
    ]


def _identity(rows: Tensor) -> Tensor:
    return _two_dim(rows)


def _zeros(rows: Tensor) -> Tensor:
    return torch.zeros_like(_two_dim(rows))


def _two_dim(rows: Tensor) -> Tensor:
    if rows.ndim != 2:
        raise ValueError(f"reconstruct was given a tensor of shape {tuple(rows.shape)}; it takes rows [n, hidden]")
    return rows


@cache
def _affine(hidden: int) -> torch.nn.Linear:
    layer = torch.nn.Linear(hidden, hidden)
    g = torch.Generator().manual_seed(64)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(hidden, hidden, generator=g) / hidden**0.5)
        layer.bias.copy_(torch.randn(hidden, generator=g))
    return layer


def _affine_rows(rows: Tensor) -> Tensor:
    return _affine(rows.shape[-1])(_two_dim(rows))


SPLICE_CASES: list[tuple[Callable[[Tensor], Tensor], str]] = [
    (_identity, "the identity (the model's own logits)"),
    (_zeros, "zeros (zero-ablating the MLP)"),
    (_affine_rows, "an affine map of the rows, like an SAE's x -> x_hat"),
]


def _probe_splice_hook(make_hook: Callable[[Callable[[Tensor], Tensor]], Callable]) -> list:
    """A small model's logits with the hook that `make_hook` builds for each reconstruct, on hook_post."""
    model, tokens = _small_model(3), _tokens(3, 2, 16)
    return call_each(
        lambda reconstruct: model.run_with_hooks(tokens, fwd_hooks=[(HOOK_POST, make_hook(reconstruct))]).detach(),
        [Case((reconstruct,), description=f"reconstruct = {description}") for reconstruct, description in SPLICE_CASES],
    )


def _judge_splice_hook(got: list, expected: list) -> int:
    """The logits with the candidate's hook against those with the reference's, for each reconstruct."""
    return judge_each(got, expected, [f"reconstruct = {description}" for _, description in SPLICE_CASES],
                      atol=1e-4, rtol=1e-4, where="the model's logits with your hook")


make_exercise(
    name="mlp_activations",
    notebook=NOTEBOOK,
    reference=mlp_activations,
    verify=verifier(mlp_activations, _mlp_activations_cases),
    summary="read blocks.0.mlp.hook_post with run_with_cache",
)

make_exercise(
    name="top_k_rows",
    notebook=NOTEBOOK,
    reference=top_k_rows,
    verify=verifier(top_k_rows, _top_k_rows_cases),
    summary="the rows of a unit's k largest activations, largest first",
)

make_exercise(
    name="splice_hook",
    notebook=NOTEBOOK,
    reference=splice_hook,
    verify=Verifier(splice_hook, _probe_splice_hook, _judge_splice_hook),
    summary="a hook that replaces hook_post by a reconstruction of its rows",
)

make_exercise(
    name="direct_logits",
    notebook=NOTEBOOK,
    reference=direct_logits,
    verify=verifier(direct_logits, _direct_logits_cases),
    summary="the logits a direction in MLP space promotes: direction @ W_out @ W_U",
)

make_exercise(
    name="token_purity",
    notebook=NOTEBOOK,
    reference=token_purity,
    verify=verifier(token_purity, _token_purity_cases),
    summary="the monosemanticity score: share of the top-k tokens equal to the most common one",
)
