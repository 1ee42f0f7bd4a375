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

from course_utils.exercises import (
    Case,
    CheckFailure,
    Verifier,
    call_each,
    judge_each,
    make_exercise,
    verifier,
)
from course_utils.lm.model import HOOK_POST, LMConfig, make_model
from course_utils.metrics.tokens import token_purity
from course_utils.sae import SAEConfig, make_sae, normalize_decoder_, project_decoder_grad_

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

# ---------------------------------------------------------------------------------------------- the learner's SAE


def train_sae(sae: Any, acts: Float[Tensor, "batch hidden"], *, steps: int, batch_size: int, lr: float,
              generator: torch.Generator) -> list[float]:
    """Train a (TopK) SAE in place with Adam on random batches of rows; keep the decoder directions unit-norm."""
    optimizer = torch.optim.Adam(sae.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        x = acts[torch.randint(0, len(acts), (batch_size,), generator=generator)]
        loss = sae.losses(x, sae(x))["loss"].sum()
        optimizer.zero_grad()
        loss.backward()
        project_decoder_grad_(sae)
        optimizer.step()
        normalize_decoder_(sae)
        losses.append(loss.item())
    return losses


_TRAIN_CASE = dict(steps=200, batch_size=128, lr=5e-3)


@cache
def _sparse_rows(seed: int) -> tuple[Tensor, Tensor]:
    """Rows made of 64 random unit features in 32 dimensions, about 3 active at a time (train, held out)."""
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(64, 32, generator=g)
    features /= features.norm(dim=1, keepdim=True)
    active = torch.rand(6144, 64, generator=g) < 3 / 64
    rows = (active * torch.rand(6144, 64, generator=g)) @ features
    return rows[:4096], rows[4096:]


def _fresh_sae() -> Any:
    sae = make_sae(SAEConfig(d_in=32, d_sae=64, kind="topk", k=4), generator=torch.Generator().manual_seed(65))
    return sae


@torch.no_grad()
def _held_out_mse(sae: Any, rows: Tensor) -> float:
    return float((sae(rows).x_hat[:, 0] - rows).pow(2).sum(-1).mean())


TRAIN_INPUTS = (f"a TopK SAE (32 -> 64 latents, k=4) on 4096 rows of 64 sparse features in 32 dimensions, "
                f"steps={_TRAIN_CASE['steps']}, batch_size={_TRAIN_CASE['batch_size']}, lr={_TRAIN_CASE['lr']}")


def _probe_train_sae(candidate: Callable[..., Any]) -> dict[str, Any]:
    """Train a fresh SAE with the candidate on toy rows; what the SAE it produces looks like, as plain numbers."""
    train_rows, held_out = _sparse_rows(66)
    rows = train_rows.clone()
    sae = _fresh_sae()
    candidate(sae, rows, generator=torch.Generator().manual_seed(67), **_TRAIN_CASE)
    norms = sae.W_dec.detach().norm(dim=-1)
    return {"acts_unchanged": bool(torch.equal(rows, train_rows)), "norm_min": float(norms.min()),
            "norm_max": float(norms.max()), "held_out_mse": _held_out_mse(sae, held_out)}


def _judge_train_sae(got: Any, expected: Any) -> int:
    """The candidate's SAE against the reference loop's: unit-norm decoder, held-out error within 25%."""
    if not isinstance(got, dict):
        raise CheckFailure("its check recorded no outputs", inputs=TRAIN_INPUTS)
    if not got["acts_unchanged"]:
        raise CheckFailure("your loop changed the activations it was given; sample batches without writing to acts",
                           inputs=TRAIN_INPUTS)
    if max(abs(got["norm_min"] - 1), abs(got["norm_max"] - 1)) > 1e-3:
        raise CheckFailure(f"the decoder directions must stay unit-norm after training; their norms range "
                           f"{got['norm_min']:.3f}..{got['norm_max']:.3f} (renormalise after each step)", inputs=TRAIN_INPUTS)
    reference, start = expected["held_out_mse"], _held_out_mse(_fresh_sae(), _sparse_rows(66)[1])
    if not got["held_out_mse"] <= 1.25 * reference + 1e-3:
        raise CheckFailure(f"held-out reconstruction error {got['held_out_mse']:.4f}: expected at most {1.25 * reference:.4f} "
                           f"(the reference loop reaches {reference:.4f}; the untrained SAE {start:.4f})", inputs=TRAIN_INPUTS)
    return 1


# ---------------------------------------------------------------------------------------------- ablation


def ablated_reconstruction(sae: Any, x: Float[Tensor, "batch hidden"], latent: int) -> Float[Tensor, "batch hidden"]:
    """The SAE's reconstruction of x with one latent's contribution f_j d_j removed (the others unchanged)."""
    f = sae.encode(x)[:, 0].clone()
    f[:, latent] = 0.0
    return sae.decode(f[:, None])[:, 0]


@cache
def _small_sae(seed: int, d_in: int = 64, d_sae: int = 128, k: int = 8) -> Any:
    """A random TopK SAE with small positive encoder biases, so that more than k pre-activations are positive."""
    sae = make_sae(SAEConfig(d_in=d_in, d_sae=d_sae, kind="topk", k=k), generator=torch.Generator().manual_seed(seed))
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        sae.b_enc.copy_(0.1 * torch.rand(sae.b_enc.shape, generator=g))
        sae.b_dec.copy_(0.1 * torch.randn(sae.b_dec.shape, generator=g))
    return sae.eval()


def _ablated_reconstruction_cases() -> list[Case]:
    sae = _small_sae(70)
    g = torch.Generator().manual_seed(71)
    x = torch.randn(40, 64, generator=g)
    with torch.no_grad():
        busiest = int((sae.encode(x)[:, 0] > 0).sum(0).argmax())
        silent = int((sae.encode(x)[:, 0] > 0).sum(0).argmin())
    return [
        Case((sae, x, busiest), description=f"a random TopK SAE (64 -> 128, k=8), 40 random rows, latent {busiest} (fires most)"),
        Case((sae, x, silent), description=f"the same SAE and rows, latent {silent} (fires least)"),
        Case((sae, x[:1], busiest), description=f"one row, latent {busiest}"),
    ]


# ---------------------------------------------------------------------------------------------- steering


def steering_hook(direction: Float[Tensor, " hidden"], multiple: float) -> tuple[str, Callable[[Tensor, Any], Tensor]]:
    """The (hook name, hook) pair that adds multiple * direction to the MLP activations at every position."""

    def hook(activation: Tensor, hook: Any) -> Tensor:
        return activation + multiple * direction

    return "blocks.0.mlp.hook_post", hook


def _steering_cases() -> list[Case]:
    g = torch.Generator().manual_seed(72)
    direction = torch.randn(64, generator=g)
    return [Case((direction, 2.0), description="a random direction, multiple 2"),
            Case((direction, -0.5), description="the same direction, multiple -0.5"),
            Case((torch.eye(64)[5], 3.0), description="neuron 5's one-hot direction, multiple 3"),
            Case((direction, 0.0), description="multiple 0 (the clean model)")]


def _probe_steering_hook(make_pair: Callable[..., Any]) -> list:
    """For each case, the hook name the candidate returns and a small model's logits with its hook."""
    model, tokens = _small_model(3), _tokens(4, 2, 16)

    def run(vector: Tensor, multiple: float) -> tuple[str, Tensor]:
        pair = make_pair(vector, multiple)
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str) and callable(pair[1])):
            raise TypeError(f"return a (hook name, hook function) pair, got {type(pair).__name__}")
        return pair[0], model.run_with_hooks(tokens, fwd_hooks=[pair]).detach()

    return call_each(run, _steering_cases())


def _judge_steering_hook(got: Any, expected: Any) -> int:
    """The hook name and the logits with the candidate's hook against the reference's, case by case."""
    return judge_each(got, expected, [case.describe() for case in _steering_cases()], atol=1e-4, rtol=1e-4,
                      where="(hook name, logits with your hook)")


# ---------------------------------------------------------------------------------------------- attribution


def latent_attribution(model: Any, sae: Any, tokens: Int[Tensor, "batch pos"],
                       metric: Callable[[Tensor], Tensor]) -> Float[Tensor, "batch pos d_sae"]:
    """Activation x gradient f_j * dM/df_j of a scalar metric of the logits, for every latent at every position."""
    store = {}

    def hook(activation, hook):
        rows = activation.reshape(-1, activation.shape[-1])
        f = sae.encode(rows)[:, 0].detach().requires_grad_(True)
        x_hat = sae.decode(f[:, None])[:, 0]
        store["f"] = f
        return (x_hat + (rows - x_hat).detach()).reshape(activation.shape)

    logits = model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.mlp.hook_post", hook)])
    (grad,) = torch.autograd.grad(metric(logits), store["f"])
    return (store["f"] * grad).detach().reshape(*tokens.shape, -1)


def _logit_metric(batch: int, pos: int, byte: int) -> Callable[[Tensor], Tensor]:
    return lambda logits: logits[batch, pos, byte]


def _loss_metric(tokens: Tensor) -> Callable[[Tensor], Tensor]:
    def metric(logits: Tensor) -> Tensor:
        return torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten(), reduction="sum")
    return metric


def _latent_attribution_cases() -> list[Case]:
    model, sae = _small_model(5), _small_sae(73)
    tokens = _tokens(5, 2, 16)
    return [
        Case((model, sae, tokens, _logit_metric(1, 9, 101)),
             description="a random model and TopK SAE (64 -> 128, k=8); metric: the logit of byte 'e' at (1, 9)"),
        Case((model, sae, tokens, _loss_metric(tokens)),
             description="the same; metric: the summed next-byte loss of 2 windows of 16 bytes"),
    ]


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
    name="train_sae",
    notebook=NOTEBOOK,
    reference=train_sae,
    verify=Verifier(train_sae, _probe_train_sae, _judge_train_sae, inputs=TRAIN_INPUTS),
    summary="the SAE training loop: Adam on random batches, decoder kept unit-norm; judged by the SAE it makes",
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

make_exercise(
    name="ablated_reconstruction",
    notebook=NOTEBOOK,
    reference=ablated_reconstruction,
    verify=verifier(ablated_reconstruction, _ablated_reconstruction_cases),
    summary="the reconstruction without one latent's output f_j d_j (not its pre-activation)",
)

make_exercise(
    name="steering_hook",
    notebook=NOTEBOOK,
    reference=steering_hook,
    verify=Verifier(steering_hook, _probe_steering_hook, _judge_steering_hook),
    summary="the (hook_post, hook) pair that adds multiple * direction at every position",
)

make_exercise(
    name="latent_attribution",
    notebook=NOTEBOOK,
    reference=latent_attribution,
    verify=verifier(latent_attribution, _latent_attribution_cases, atol=1e-4, rtol=1e-3),
    summary="activation x gradient of a metric for every latent, with the SAE's error term kept",
)
