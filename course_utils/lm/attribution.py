"""Exact linear attributions through the one-layer model with its attention patterns and LayerNorm scales frozen.

Freeze, for one prompt, every attention pattern A_h and every LayerNorm scale sigma. Then each LayerNorm is
an affine map, LN(v) = (v - mean(v)) / sigma * w + b, and the residual stream before the MLP at position t is

    resid_mid_t = resid_pre_t + sum_h sum_{s <= t} A_h[t, s] LN1_s(resid_pre_s) W_V^h W_O^h   (+ biases),

a sum of one term per source position s (resid_pre_s = the byte's embedding plus its position embedding).
A transcoder latent's pre-activation W_enc_j LN2_t(resid_mid_t) + b_enc_j, and the logit
W_U[:, v] LN_f(resid_mid_t + mlp_out_t), are then sums of one term per source, per active latent, plus a
bias term and (for the MLP) the transcoder's error: Dunefsky et al. (2024, sec. 4) for the transcoder
circuits, Ameisen et al. (2025, "Constructing an attribution graph") for freezing attention and norms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from course_utils.lm.transcoder import HOOK_LN2, HOOK_MLP_OUT, Transcoder, mlp_input

_NAMES = ("blocks.0.hook_resid_pre", "blocks.0.attn.hook_pattern", "blocks.0.ln1.hook_scale",
          "blocks.0.ln2.hook_scale", "ln_final.hook_scale", HOOK_LN2, HOOK_MLP_OUT, "blocks.0.hook_resid_mid")


@dataclass(frozen=True, kw_only=True)
class FrozenPrompt:
    """What one clean forward pass fixes: the inputs, attention patterns and LayerNorm scales of one prompt."""

    tokens: Int[Tensor, " pos"]
    resid_pre: Float[Tensor, "pos d_model"]
    """Embedding plus position embedding of each byte: the input nodes' vectors."""
    pattern: Float[Tensor, "head pos pos"]
    """pattern[h, t, s]: how much position t attends to s (zero for s > t)."""
    ln1_scale: Float[Tensor, "pos 1"]
    ln2_scale: Float[Tensor, "pos 1"]
    lnf_scale: Float[Tensor, "pos 1"]
    resid_mid: Float[Tensor, "pos d_model"]
    mlp_in: Float[Tensor, "pos d_model"]
    mlp_out: Float[Tensor, "pos d_model"]
    logits: Float[Tensor, "pos vocab"]


@torch.no_grad()
def freeze_prompt(model: Any, tokens: Int[Tensor, " pos"]) -> FrozenPrompt:
    """Run the clean model on one prompt and keep what the linear attributions hold fixed."""
    if tokens.ndim != 1 or not 1 <= len(tokens) <= model.cfg.n_ctx:
        raise ValueError(f"tokens must be one prompt of 1..{model.cfg.n_ctx} bytes, shape [pos]; got {tuple(tokens.shape)}")
    logits, cache = model.run_with_cache(tokens[None], names_filter=list(_NAMES))
    return FrozenPrompt(
        tokens=tokens, resid_pre=cache["blocks.0.hook_resid_pre"][0], pattern=cache["blocks.0.attn.hook_pattern"][0],
        ln1_scale=cache["blocks.0.ln1.hook_scale"][0], ln2_scale=cache["blocks.0.ln2.hook_scale"][0],
        lnf_scale=cache["ln_final.hook_scale"][0], resid_mid=cache["blocks.0.hook_resid_mid"][0],
        mlp_in=mlp_input(model, cache[HOOK_LN2])[0], mlp_out=cache[HOOK_MLP_OUT][0], logits=logits[0],
    )


def frozen_norm(v: Float[Tensor, "... d_model"], scale: Float[Tensor, "... 1"] | float, w: Float[Tensor, " d_model"]) -> Float[Tensor, "... d_model"]:
    """The linear part of a LayerNorm whose scale is frozen: (v - mean(v)) / scale * w."""
    return (v - v.mean(-1, keepdim=True)) / scale * w


def source_rows(model: Any, frozen: FrozenPrompt, position: int) -> tuple[Float[Tensor, "src d_model"], Float[Tensor, " d_model"]]:
    """Each source position's term in resid_mid at `position` (rows 0..position), and the bias term.

    Row s: sum_h A_h[t, s] LN1_s(resid_pre_s) W_V^h W_O^h, plus resid_pre_t itself when s = t.
    """
    if not 0 <= position < len(frozen.tokens):
        raise ValueError(f"position must lie in 0..{len(frozen.tokens) - 1}, got {position}")
    attn = model.blocks[0].attn
    ln1 = model.blocks[0].ln1
    src = slice(0, position + 1)
    x1 = frozen_norm(frozen.resid_pre[src], frozen.ln1_scale[src], ln1.w)
    ov = torch.einsum("sd,hde,hem->hsm", x1, attn.W_V, attn.W_O)
    rows = torch.einsum("hs,hsm->sm", frozen.pattern[:, position, src], ov)
    rows[position] += frozen.resid_pre[position]
    bias = torch.einsum("d,hde,hem->m", ln1.b, attn.W_V, attn.W_O) + torch.einsum("he,hem->m", attn.b_V, attn.W_O) + attn.b_O
    return rows, bias


@dataclass(frozen=True, kw_only=True)
class Attributions:
    """One prediction's linear attributions: into each active latent's pre-activation, and into one logit."""

    tokens: Int[Tensor, " pos"]
    position: int
    target: int
    """The byte whose logit is explained (by default the one the model predicts)."""
    latents: Int[Tensor, " active"]
    acts: Float[Tensor, " active"]
    source_to_latent: Float[Tensor, "active src"]
    bias_to_latent: Float[Tensor, " active"]
    latent_to_logit: Float[Tensor, " active"]
    source_to_logit: Float[Tensor, " src"]
    """Each source's direct path to the logit (through attention and the residual stream, not the MLP)."""
    error_to_logit: float
    """The MLP's output that the transcoder misses, as seen by the logit."""
    bias_to_logit: float
    logit: float


@torch.no_grad()
def attribute(model: Any, transcoder: Transcoder, frozen: FrozenPrompt, position: int, target: int | None = None) -> Attributions:
    """Exact attributions of the active latents' pre-activations and of the target logit at `position`."""
    rows, bias = source_rows(model, frozen, position)
    ln2, lnf = model.blocks[0].ln2, model.ln_final
    acts = transcoder.encode(frozen.mlp_in[position][None])[0]
    latents = acts.nonzero().squeeze(1)
    enc = transcoder.W_enc[latents]
    source_to_latent = frozen_norm(rows, frozen.ln2_scale[position], ln2.w) @ enc.T
    bias_to_latent = enc @ (frozen_norm(bias, frozen.ln2_scale[position], ln2.w) + ln2.b) + transcoder.b_enc[latents]
    target = int(frozen.logits[position].argmax()) if target is None else int(target)
    u = model.W_U[:, target]
    scale_f = frozen.lnf_scale[position]
    error = frozen.mlp_out[position] - transcoder(frozen.mlp_in[position][None])[0]
    return Attributions(
        tokens=frozen.tokens, position=position, target=target, latents=latents, acts=acts[latents],
        source_to_latent=source_to_latent.T.contiguous(), bias_to_latent=bias_to_latent,
        latent_to_logit=acts[latents] * (frozen_norm(transcoder.W_dec[latents], scale_f, lnf.w) @ u),
        source_to_logit=frozen_norm(rows, scale_f, lnf.w) @ u,
        error_to_logit=float(frozen_norm(error, scale_f, lnf.w) @ u),
        bias_to_logit=float((frozen_norm(bias + transcoder.b_dec, scale_f, lnf.w) + lnf.b) @ u + model.b_U[target]),
        logit=float(frozen.logits[position, target]),
    )


def ablate_latents_hook(
    transcoder: Transcoder, acts: Float[Tensor, " active"], latents: Int[Tensor, " active"], position: int
) -> Callable[[Tensor, Any], Tensor]:
    """A hook on the MLP output that removes the given latents' writes f_j W_dec_j at one position (the rest untouched)."""
    removed = (acts[:, None] * transcoder.W_dec[latents]).sum(0).detach()

    def hook(mlp_out: Tensor, hook: Any) -> Tensor:
        mlp_out = mlp_out.clone()
        mlp_out[:, position] -= removed
        return mlp_out

    return hook


@torch.no_grad()
def ablation_effects(
    model: Any, transcoder: Transcoder, attributions: Attributions, groups: list[Int[Tensor, " n"]],
    *, freeze_final_norm: bool = False,
) -> Float[Tensor, " groups"]:
    """The real change of the target logit when each group of active latents (indices into attributions.latents)
    is removed at the position; the final LayerNorm's scale recomputed, or frozen (then the graph is exact)."""
    changes = []
    position = attributions.position
    frozen_scale = model.run_with_cache(attributions.tokens[None], names_filter="ln_final.hook_scale")[1]["ln_final.hook_scale"]

    def keep_scale(scale: Tensor, hook: Any) -> Tensor:
        return frozen_scale

    for group in groups:
        index = torch.as_tensor(group, dtype=torch.long)
        hooks = [(HOOK_MLP_OUT, ablate_latents_hook(transcoder, attributions.acts[index], attributions.latents[index], position))]
        if freeze_final_norm:
            hooks.append(("ln_final.hook_scale", keep_scale))
        logits = model.run_with_hooks(attributions.tokens[None], fwd_hooks=hooks)
        changes.append(logits[0, position, attributions.target] - attributions.logit)
    return torch.stack(changes) if changes else torch.zeros(0)
