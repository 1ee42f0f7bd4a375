"""Notebook 10's checks accept the reference and reject plausible wrong answers."""

from __future__ import annotations

import pytest
import torch

from course_utils.exercises import exercises_for, run_check
from course_utils.exercises.nb10_transcoders_and_attribution import (
    _small_model,
    _tokens,
    latent_logit_attributions,
    mlp_in_out,
    prune_to_share,
    token_to_latent,
)
from course_utils.lm.attribution import freeze_prompt, frozen_norm, source_rows

REFERENCES = {"mlp_in_out": mlp_in_out, "latent_logit_attributions": latent_logit_attributions,
              "token_to_latent": token_to_latent, "prune_to_share": prune_to_share}


def test_notebook_10_has_its_four_exercises():
    assert [ex.name for ex in exercises_for("10_transcoders_and_attribution")] == list(REFERENCES)


@pytest.mark.parametrize("name", list(REFERENCES))
def test_reference_passes(name):
    result = run_check(name, REFERENCES[name])
    assert result.status == "passed", result.message
    assert result.cases >= 2


def test_token_to_latent_reference_is_the_library_decomposition():
    model, tokens = _small_model(3), _tokens(3, 12)
    row = torch.randn(32, generator=torch.Generator().manual_seed(0))
    frozen = freeze_prompt(model, tokens)
    rows, _ = source_rows(model, frozen, 7)
    expected = frozen_norm(rows, frozen.ln2_scale[7], model.blocks[0].ln2.w) @ row
    got = token_to_latent(model, tokens, row, 7)
    assert torch.allclose(got[:8], expected, atol=1e-5)
    assert (got[8:] == 0).all()


# --- mlp_in_out: the wrong hooks ----------------------------------------------------------------------------------

def _resid_mid(model, tokens):  # the residual stream before LN2: not what the MLP reads
    _, cache = model.run_with_cache(tokens)
    return cache["blocks.0.hook_resid_mid"], cache["blocks.0.hook_mlp_out"]


def _normalized_without_weight(model, tokens):  # LN2's hook_normalized, missing w and b
    _, cache = model.run_with_cache(tokens)
    return cache["blocks.0.ln2.hook_normalized"], cache["blocks.0.hook_mlp_out"]


def _neurons_as_output(model, tokens):  # the MLP neurons instead of the MLP's output
    x, _ = mlp_in_out(model, tokens)
    _, cache = model.run_with_cache(tokens)
    return x, cache["blocks.0.mlp.hook_post"]


@pytest.mark.parametrize("wrong", [_resid_mid, _normalized_without_weight, _neurons_as_output])
def test_mlp_in_out_rejects(wrong):
    assert run_check("mlp_in_out", wrong).status == "failed"


# --- latent_logit_attributions: the LayerNorm done wrong ------------------------------------------------------------

def _missing_scale(acts, W_dec, u, ln_w, scale):
    return acts * (((W_dec - W_dec.mean(-1, keepdim=True)) * ln_w) @ u)


def _not_centred(acts, W_dec, u, ln_w, scale):
    return acts * ((W_dec / scale * ln_w) @ u)


def _missing_weight(acts, W_dec, u, ln_w, scale):
    return acts * (((W_dec - W_dec.mean(-1, keepdim=True)) / scale) @ u)


def _per_unit_of_activation(acts, W_dec, u, ln_w, scale):  # forgets to multiply by f_j
    return ((W_dec - W_dec.mean(-1, keepdim=True)) / scale * ln_w) @ u


@pytest.mark.parametrize("wrong", [_missing_scale, _not_centred, _missing_weight, _per_unit_of_activation])
def test_latent_logit_attributions_rejects(wrong):
    assert run_check("latent_logit_attributions", wrong).status == "failed"


# --- token_to_latent: unfrozen pattern, LayerNorm scale, positions that cannot attend ---------------------------------

def _gradient_times_input(model, tokens, encoder_row, position):
    """Attribution through the unfrozen pattern and scales: d pre / d resid_pre times resid_pre."""
    store = {}

    def keep(resid, hook):
        resid.retain_grad()
        store["resid"] = resid
        return resid

    with torch.enable_grad():
        _, cache = model.run_with_cache(tokens[None], fwd_hooks=[])
        model.reset_hooks()
        ln2 = model.blocks[0].ln2
        captured = {}

        def keep_mlp_in(normalized, hook):
            captured["x"] = normalized * ln2.w + ln2.b

        model.run_with_hooks(tokens[None], fwd_hooks=[("blocks.0.hook_resid_pre", keep),
                                                      ("blocks.0.ln2.hook_normalized", keep_mlp_in)])
        pre = captured["x"][0, position] @ encoder_row
        pre.backward()
    resid = store["resid"]
    return (resid.grad[0] * resid[0]).sum(-1).detach()


def _missing_ln_scales(model, tokens, encoder_row, position):
    _, cache = model.run_with_cache(tokens[None])
    attn, ln1, ln2 = model.blocks[0].attn, model.blocks[0].ln1, model.blocks[0].ln2
    resid = cache["blocks.0.hook_resid_pre"][0]
    x1 = (resid - resid.mean(-1, keepdim=True)) * ln1.w
    moved = torch.einsum("sd,hde,hem->hsm", x1, attn.W_V, attn.W_O)
    rows = torch.einsum("hs,hsm->sm", cache["blocks.0.attn.hook_pattern"][0, :, position], moved)
    rows[position] = rows[position] + resid[position]
    return ((rows - rows.mean(-1, keepdim=True)) * ln2.w) @ encoder_row


def _missing_ln2_scale(model, tokens, encoder_row, position):
    scale = model.run_with_cache(tokens[None])[1]["blocks.0.ln2.hook_scale"][0, position]
    return token_to_latent(model, tokens, encoder_row, position) * scale


def _transposed_pattern(model, tokens, encoder_row, position):
    """pattern[:, s, t] instead of pattern[:, t, s]: sums over later positions, which cannot be attended."""
    _, cache = model.run_with_cache(tokens[None])
    attn, ln1, ln2 = model.blocks[0].attn, model.blocks[0].ln1, model.blocks[0].ln2
    resid = cache["blocks.0.hook_resid_pre"][0]
    x1 = (resid - resid.mean(-1, keepdim=True)) / cache["blocks.0.ln1.hook_scale"][0] * ln1.w
    moved = torch.einsum("sd,hde,hem->hsm", x1, attn.W_V, attn.W_O)
    rows = torch.einsum("hs,hsm->sm", cache["blocks.0.attn.hook_pattern"][0, :, :, position], moved)
    rows[position] = rows[position] + resid[position]
    x2 = (rows - rows.mean(-1, keepdim=True)) / cache["blocks.0.ln2.hook_scale"][0, position] * ln2.w
    return x2 @ encoder_row


def _residual_from_every_position(model, tokens, encoder_row, position):
    """Adds every earlier byte's embedding to the residual path, which carries only the byte itself."""
    _, cache = model.run_with_cache(tokens[None])
    resid = cache["blocks.0.hook_resid_pre"][0]
    extra = resid.clone()
    extra[position:] = 0
    ln2 = model.blocks[0].ln2
    x2 = (extra - extra.mean(-1, keepdim=True)) / cache["blocks.0.ln2.hook_scale"][0, position] * ln2.w
    return token_to_latent(model, tokens, encoder_row, position) + x2 @ encoder_row


def _with_biases(model, tokens, encoder_row, position):
    """Puts LN2's bias into every source's term (the bias is one separate node)."""
    ln2 = model.blocks[0].ln2
    got = token_to_latent(model, tokens, encoder_row, position)
    return got + torch.where(torch.arange(len(tokens)) <= position, ln2.b @ encoder_row, torch.tensor(0.0))


@pytest.mark.parametrize("wrong", [_gradient_times_input, _missing_ln_scales, _missing_ln2_scale, _transposed_pattern,
                                   _residual_from_every_position, _with_biases])
def test_token_to_latent_rejects(wrong):
    assert run_check("token_to_latent", wrong).status == "failed"


# --- prune_to_share ---------------------------------------------------------------------------------------------------

def _signed_order(weights, share):  # ranks by signed weight: a large negative edge comes last
    order = weights.argsort(descending=True, stable=True)
    cumulative = weights.abs()[order].cumsum(0)
    keep = torch.zeros(len(weights), dtype=torch.bool)
    keep[order[: int((cumulative < share * weights.abs().sum()).sum()) + 1]] = True
    return keep


def _one_too_many(weights, share):  # stops only once the share is exceeded, not reached
    order = weights.abs().argsort(descending=True, stable=True)
    cumulative = weights.abs()[order].cumsum(0)
    keep = torch.zeros(len(weights), dtype=torch.bool)
    keep[order[: min(int((cumulative <= share * weights.abs().sum()).sum()) + 1, len(weights))]] = True
    return keep


def _share_of_edges(weights, share):  # keeps a share of the edges, not of the attribution
    order = weights.abs().argsort(descending=True, stable=True)
    keep = torch.zeros(len(weights), dtype=torch.bool)
    keep[order[: int(round(share * len(weights)))]] = True
    return keep


def _signed_total(weights, share):  # measures the share against the signed sum
    order = weights.abs().argsort(descending=True, stable=True)
    cumulative = weights[order].cumsum(0)
    keep = torch.zeros(len(weights), dtype=torch.bool)
    keep[order[: int((cumulative < share * weights.sum()).sum()) + 1]] = True
    return keep


@pytest.mark.parametrize("wrong", [_signed_order, _one_too_many, _share_of_edges, _signed_total])
def test_prune_to_share_rejects(wrong):
    assert run_check("prune_to_share", wrong).status == "failed"
