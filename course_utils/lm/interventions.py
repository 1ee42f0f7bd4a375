"""Causal tests of SAE latents on the model: steering, ablation and attribution at the MLP (hook_post).

Hooks work on any TransformerLens model and any SAE with `encode`/`decode`/`W_dec` (course_utils.sae);
`mlp_tail_logits` is the model's computation after the MLP (one layer: W_out, the final LayerNorm and
the unembedding), which turns harvested rows into logits without running the whole model again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from course_utils.lm.model import HOOK_POST

Hook = Callable[[Tensor, Any], Tensor]


def _latents(sae: Any, rows: Float[Tensor, "n hidden"]) -> Float[Tensor, "n d_sae"]:
    """The SAE's latent activations of rows (its single instance)."""
    acts = sae.encode(rows)
    return acts[:, 0] if acts.ndim == 3 else acts


def _decode(sae: Any, latents: Float[Tensor, "n d_sae"]) -> Float[Tensor, "n hidden"]:
    out = sae.decode(latents[:, None])
    return out[:, 0]


def _decoder(sae: Any) -> Float[Tensor, "d_sae hidden"]:
    return sae.W_dec[0] if sae.W_dec.ndim == 3 else sae.W_dec


def add_vector_hook(vector: Float[Tensor, " hidden"]) -> Hook:
    """A forward hook that adds one vector to the activation at every position (steering)."""

    def hook(activation: Tensor, hook: Any) -> Tensor:
        if activation.shape[-1] != vector.shape[-1]:
            raise ValueError(f"the vector has size {vector.shape[-1]} but the activation {tuple(activation.shape)}")
        return activation + vector.to(activation.dtype)

    return hook


def steering_hooks(sae: Any, latent: int, multiple: float, scale: float = 1.0) -> list[tuple[str, Hook]]:
    """fwd_hooks that add multiple * scale * (latent's decoder direction) at hook_post (Templeton et al. 2024)."""
    return [(HOOK_POST, add_vector_hook(multiple * scale * _decoder(sae)[latent].detach()))]


def ablation_hook(sae: Any, latents: Sequence[int], *, keep_error: bool = True) -> Hook:
    """A forward hook that removes the latents' contribution f_j d_j from the MLP activations.

    keep_error=True returns x - sum_j f_j d_j: the clean activation with only those latents taken out
    (the SAE's error x - x_hat is kept). keep_error=False returns the reconstruction x_hat without them.
    """
    index = torch.as_tensor(list(latents), dtype=torch.long)

    def hook(activation: Tensor, hook: Any) -> Tensor:
        rows = activation.reshape(-1, activation.shape[-1])
        f = _latents(sae, rows)
        kept = f.clone()
        kept[:, index] = 0.0
        if keep_error:
            out = rows - (f - kept) @ _decoder(sae)
        else:
            out = _decode(sae, kept)
        return out.reshape(activation.shape).to(activation.dtype)

    return hook


def mlp_tail_logits(
    model: Any, resid_mid: Float[Tensor, "n d_model"], post: Float[Tensor, "n hidden"]
) -> Float[Tensor, "n vocab"]:
    """The logits from the residual stream before the MLP and the MLP's activations (a one-layer model)."""
    if model.cfg.n_layers != 1:
        raise ValueError(f"mlp_tail_logits is exact for one-layer models only; this one has {model.cfg.n_layers}")
    resid = resid_mid + post @ model.W_out[0] + model.b_out[0]
    return model.unembed(model.ln_final(resid[:, None]))[:, 0]


def next_byte_loss(logits: Float[Tensor, "n vocab"], targets: Int[Tensor, " n"]) -> Float[Tensor, " n"]:
    """Cross-entropy of each row's next byte, in nats."""
    return F.cross_entropy(logits.float(), targets, reduction="none")


@torch.no_grad()
def ablation_effects(
    model: Any,
    sae: Any,
    resid_mid: Float[Tensor, "n d_model"],
    post: Float[Tensor, "n hidden"],
    targets: Int[Tensor, " n"],
    *,
    promoted: Int[Tensor, "d_sae m"] | None = None,
    chunk: int = 8192,
) -> tuple[Int[Tensor, " pairs"], Int[Tensor, " pairs"], Float[Tensor, " pairs"], Float[Tensor, " pairs"]]:
    """Ablate every active latent on every row, one at a time (the SAE's error kept).

    Returns (row, latent, change in next-byte loss in nats, change in the mean log-probability of the
    latent's `promoted` bytes, NaN without them), one entry per (row, latent) with f > 0. In a one-layer
    model a latent at one position changes the prediction at that position only, so this is exact.
    """
    f = torch.cat([_latents(sae, part) for part in post.split(chunk)])
    rows, latents = f.nonzero(as_tuple=True)
    decoder = _decoder(sae)
    d_loss = torch.empty(len(rows))
    d_promoted = torch.full((len(rows),), float("nan"))
    base = mlp_tail_logits(model, resid_mid, post).log_softmax(-1)
    for start in range(0, len(rows), chunk):
        r, j = rows[start : start + chunk], latents[start : start + chunk]
        ablated = mlp_tail_logits(model, resid_mid[r], post[r] - f[r, j, None] * decoder[j]).log_softmax(-1)
        t = targets[r, None]
        d_loss[start : start + chunk] = (base[r].gather(1, t) - ablated.gather(1, t))[:, 0]
        if promoted is not None:
            p = promoted[j]
            d_promoted[start : start + chunk] = (ablated.gather(1, p) - base[r].gather(1, p)).mean(1)
    return rows, latents, d_loss, d_promoted


def latent_attribution(
    model: Any, sae: Any, tokens: Int[Tensor, "batch pos"], metric: Callable[[Tensor], Tensor]
) -> Float[Tensor, "batch pos d_sae"]:
    """Activation x gradient: f_j * dM/df_j for every latent at every position, M = metric(logits) a scalar.

    The SAE is spliced in with its error term (x = W_dec f + b_dec + (x - x_hat), the error held fixed),
    so the forward pass is the clean model's and the gradient is taken at the clean activations.
    """
    store: dict[str, Tensor] = {}

    def hook(activation: Tensor, hook: Any) -> Tensor:
        rows = activation.reshape(-1, activation.shape[-1])
        f = _latents(sae, rows).detach().requires_grad_(True)
        x_hat = _decode(sae, f)
        error = (rows - x_hat).detach()
        store["f"] = f
        return (x_hat + error).reshape(activation.shape)

    with torch.enable_grad():
        logits = model.run_with_hooks(tokens, fwd_hooks=[(HOOK_POST, hook)])
        value = metric(logits)
        if value.numel() != 1:
            raise ValueError(f"metric must return a scalar, got shape {tuple(value.shape)}")
        (grad,) = torch.autograd.grad(value, store["f"])
    f = store["f"].detach()
    return (f * grad).reshape(*tokens.shape, -1)


def summed_loss(tokens: Int[Tensor, "batch pos"]) -> Callable[[Tensor], Tensor]:
    """The metric sum over positions of the next-byte loss (nats): in a one-layer model, each position's
    attribution is then the attribution of its own prediction's loss."""

    def metric(logits: Tensor) -> Tensor:
        return F.cross_entropy(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten(), reduction="sum")

    return metric
