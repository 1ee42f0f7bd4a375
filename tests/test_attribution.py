"""The linear attributions are exact with patterns and LayerNorm scales frozen; the graph, its pruning, the intervention."""

from __future__ import annotations

from functools import cache

import pytest
import torch

from course_utils.lm.attribution import (
    ablation_effects,
    attribute,
    freeze_prompt,
    frozen_norm,
    source_rows,
)
from course_utils.lm.graph import (
    build_graph,
    explained_share,
    prune_graph,
    prune_to_share,
    top_latents,
)
from course_utils.lm.model import LMConfig, make_model
from course_utils.lm.transcoder import Transcoder, TranscoderConfig


@cache
def tiny() -> tuple:
    """A tiny random model with random LayerNorm weights and biases, and a random transcoder on it."""
    model = make_model(LMConfig(d_model=32, n_heads=2, d_mlp=64, n_ctx=16), seed=5, init_std=0.3)
    g = torch.Generator().manual_seed(6)
    with torch.no_grad():
        for ln in (model.blocks[0].ln1, model.blocks[0].ln2, model.ln_final):
            ln.w.copy_(0.5 + torch.rand(ln.w.shape, generator=g))
            ln.b.copy_(0.3 * torch.randn(ln.b.shape, generator=g))
        model.embed.W_E.mul_(3.0)
    transcoder = Transcoder(TranscoderConfig(d_in=32, d_out=32, d_tc=48, k=6), generator=g)
    with torch.no_grad():
        transcoder.b_enc.fill_(0.5)
        transcoder.b_dec.copy_(torch.randn(32, generator=g))
    tokens = torch.randint(0, 256, (14,), generator=g)
    return model, transcoder, tokens


def test_source_rows_sum_to_the_residual_before_the_mlp():
    model, _, tokens = tiny()
    frozen = freeze_prompt(model, tokens)
    for position in (0, 5, 13):
        rows, bias = source_rows(model, frozen, position)
        assert rows.shape == (position + 1, 32)
        assert torch.allclose(rows.sum(0) + bias, frozen.resid_mid[position], atol=1e-5)


@pytest.mark.parametrize("position", [0, 7, 13])
def test_attributions_sum_exactly_to_pre_activations_and_logit(position):
    model, transcoder, tokens = tiny()
    frozen = freeze_prompt(model, tokens)
    a = attribute(model, transcoder, frozen, position)
    pre = transcoder.pre_acts(frozen.mlp_in[position][None])[0, a.latents]
    assert len(a.latents) == transcoder.cfg.k
    assert torch.allclose(a.source_to_latent.sum(1) + a.bias_to_latent, pre, atol=1e-4)
    assert torch.allclose(a.acts, pre)  # an active TopK latent's activation is its pre-activation
    total = a.latent_to_logit.sum() + a.source_to_logit.sum() + a.error_to_logit + a.bias_to_logit
    assert total.item() == pytest.approx(a.logit, abs=1e-4)
    assert a.target == int(frozen.logits[position].argmax())


def test_attributing_through_the_unfrozen_pattern_would_not_sum():
    """Gradient x input (pattern and scales not frozen) is not a decomposition: its terms miss the pre-activation."""
    model, transcoder, tokens = tiny()
    frozen = freeze_prompt(model, tokens)
    a = attribute(model, transcoder, frozen, 9)
    latent = int(a.latents[0])
    store = {}

    def keep(resid, hook):
        resid.retain_grad()
        store["resid"] = resid
        return resid

    def keep_in(normalized, hook):
        store["x"] = normalized * model.blocks[0].ln2.w + model.blocks[0].ln2.b

    with torch.enable_grad():
        model.run_with_hooks(tokens[None], fwd_hooks=[("blocks.0.hook_resid_pre", keep), ("blocks.0.ln2.hook_normalized", keep_in)])
        (store["x"][0, 9] @ transcoder.W_enc[latent]).backward()
    gxi = (store["resid"].grad[0] * store["resid"][0]).sum(-1)[:10].detach()
    assert not torch.allclose(gxi, a.source_to_latent[0], atol=1e-2)


def test_frozen_norm_is_layernorm_without_its_bias():
    model, _, tokens = tiny()
    frozen = freeze_prompt(model, tokens)
    ln1 = model.blocks[0].ln1
    x = frozen_norm(frozen.resid_pre, frozen.ln1_scale, ln1.w) + ln1.b
    assert torch.allclose(x, ln1(frozen.resid_pre[None])[0], atol=1e-5)


def test_freeze_prompt_rejects_a_batch():
    model, _, tokens = tiny()
    with pytest.raises(ValueError, match="one prompt"):
        freeze_prompt(model, tokens[None])


def test_prune_to_share_keeps_the_stated_share_with_the_fewest_edges():
    g = torch.Generator().manual_seed(0)
    for share in (0.5, 0.8, 0.95):
        weights = torch.randn(40, generator=g)
        keep = prune_to_share(weights, share)
        kept = weights[keep].abs().sum() / weights.abs().sum()
        assert kept >= share
        smallest = weights[keep].abs().min()
        assert (weights[keep].abs().sum() - smallest) / weights.abs().sum() < share  # one fewer is not enough
        assert weights[~keep].abs().max() <= smallest  # the largest are kept
    assert prune_to_share(torch.tensor([4.0, -3.0, 2.0, 1.0]), 0.7).tolist() == [True, True, False, False]
    with pytest.raises(ValueError, match="share"):
        prune_to_share(weights, 1.5)


def _graph(position=13):
    model, transcoder, tokens = tiny()
    a = attribute(model, transcoder, freeze_prompt(model, tokens), position)
    return model, transcoder, a, build_graph(a, [str(int(t)) for t in tokens], "x")


def test_graph_nodes_sum_their_incoming_edges():
    _, _, a, graph = _graph()
    latents = graph.index("latent")
    assert len(latents) == len(a.latents)
    assert torch.allclose(graph.weights[latents].sum(1), a.acts, atol=1e-4)
    assert graph.weights[graph.logit].sum().item() == pytest.approx(a.logit, abs=1e-4)


@pytest.mark.parametrize("share", [0.6, 0.8, 0.9])
def test_pruned_graph_keeps_the_stated_share(share):
    _, _, _, graph = _graph()
    pruned = prune_graph(graph, share)
    assert explained_share(graph, pruned) >= share
    assert len(pruned.labels) < len(graph.labels)
    for node in pruned.index("latent"):  # every kept latent keeps the share of its own inputs
        label = pruned.labels[node]
        full = graph.labels.index(label)
        assert pruned.weights[node].abs().sum() >= share * graph.weights[full].abs().sum() - 1e-5
    assert "logit x" in pruned.labels


def test_intervention_matches_the_graph_when_the_final_norm_is_frozen():
    model, transcoder, a, graph = _graph()
    order = top_latents(graph, 4)
    groups = [order[i : i + 1] for i in range(4)] + [order]
    predicted = torch.stack([-a.latent_to_logit[g].sum() for g in groups])
    frozen = ablation_effects(model, transcoder, a, groups, freeze_final_norm=True)
    assert torch.allclose(frozen, predicted, atol=1e-3)
    real = ablation_effects(model, transcoder, a, groups)
    assert real.shape == predicted.shape
    assert not torch.allclose(real, predicted, atol=1e-6)  # the recomputed final scale does move it
