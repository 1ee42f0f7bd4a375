"""Steering, ablation, attribution and cross-width matching of SAE latents on the small transformer."""

from __future__ import annotations

import pytest
import torch

from course_utils.data.text import TextDocument, document_windows
from course_utils.lm import (
    HOOK_POST,
    LMConfig,
    ablation_effects,
    ablation_hook,
    add_vector_hook,
    best_matches,
    children,
    decoder_cosines,
    dequantize_rows,
    harvest,
    latent_attribution,
    make_model,
    mlp_tail_logits,
    next_byte_loss,
    quantize_rows,
    sample,
    steering_hooks,
    summed_loss,
)
from course_utils.sae import SAEConfig, make_sae

TINY = LMConfig(d_model=32, n_heads=2, d_mlp=64, n_ctx=16)


@pytest.fixture(scope="module")
def model():
    return make_model(TINY, seed=11, init_std=0.3)


@pytest.fixture(scope="module")
def tokens():
    return torch.randint(0, 256, (3, 16), generator=torch.Generator().manual_seed(12))


def random_sae(seed: int = 13, d_sae: int = 128, k: int = 8):
    sae = make_sae(SAEConfig(d_in=64, d_sae=d_sae, kind="topk", k=k), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        sae.b_enc.copy_(0.05 * torch.rand(sae.b_enc.shape, generator=torch.Generator().manual_seed(seed + 1)))
    return sae.eval()


def identity_sae(d: int = 64):
    """An L1 SAE with W_enc = W_dec = [I; -I] and no biases: f = (relu(x), relu(-x)), x_hat = x exactly."""
    sae = make_sae(SAEConfig(d_in=d, d_sae=2 * d, kind="l1"))
    eye = torch.eye(d)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye])[None])
        sae.W_dec.copy_(torch.cat([eye, -eye])[None])
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae.eval()


def test_identity_sae_ablation_of_nothing_changes_nothing(model, tokens):
    clean = model(tokens)
    sae = identity_sae()
    for keep_error in (True, False):
        got = model.run_with_hooks(tokens, fwd_hooks=[(HOOK_POST, ablation_hook(sae, [], keep_error=keep_error))])
        assert torch.allclose(got, clean, atol=1e-5)
    # the identity SAE's latent j is the positive part of neuron j: ablating it is clamping that neuron at 0 from above
    def clamp_neuron(activation, hook):
        activation = activation.clone()
        activation[..., 7] = activation[..., 7].clamp(max=0)
        return activation
    expected = model.run_with_hooks(tokens, fwd_hooks=[(HOOK_POST, clamp_neuron)])
    got = model.run_with_hooks(tokens, fwd_hooks=[(HOOK_POST, ablation_hook(sae, [7]))])
    assert torch.allclose(got, expected, atol=1e-5) and not torch.allclose(got, clean, atol=1e-3)


def test_ablating_a_latent_that_never_fires_changes_nothing(model, tokens):
    sae = random_sae()
    _, cache = model.run_with_cache(tokens, names_filter=HOOK_POST)
    fired = (sae.encode(cache[HOOK_POST].reshape(-1, 64))[:, 0] > 0).any(0)
    silent, busy = int((~fired).nonzero()[0]), int(fired.nonzero()[0])
    clean = model(tokens)
    assert torch.allclose(model.run_with_hooks(tokens, fwd_hooks=[(HOOK_POST, ablation_hook(sae, [silent]))]), clean, atol=1e-5)
    assert not torch.allclose(model.run_with_hooks(tokens, fwd_hooks=[(HOOK_POST, ablation_hook(sae, [busy]))]), clean, atol=1e-4)


def test_steering_with_multiple_zero_is_the_clean_model(model, tokens):
    sae = random_sae()
    clean = model(tokens)
    assert torch.equal(model.run_with_hooks(tokens, fwd_hooks=steering_hooks(sae, 3, 0.0)), clean)
    direction = sae.W_dec[0, 3].detach()
    def by_hand(activation, hook):
        return activation + 2.5 * 1.5 * direction
    expected = model.run_with_hooks(tokens, fwd_hooks=[(HOOK_POST, by_hand)])
    assert torch.allclose(model.run_with_hooks(tokens, fwd_hooks=steering_hooks(sae, 3, 2.5, scale=1.5)), expected)
    with pytest.raises(ValueError, match="size"):
        model.run_with_hooks(tokens, fwd_hooks=[(HOOK_POST, add_vector_hook(torch.zeros(5)))])
    g = torch.Generator().manual_seed(0)
    assert sample(model, "ab", 6, generator=g, fwd_hooks=steering_hooks(sae, 3, 0.0)) == sample(
        model, "ab", 6, generator=torch.Generator().manual_seed(0))


def test_attribution_matches_finite_differences(model, tokens):
    model64 = make_model(TINY, seed=11, init_std=0.3).double()
    model64.cfg.dtype = torch.float64  # TransformerLens casts the attention pattern to cfg.dtype
    sae = random_sae().double()
    metric = summed_loss(tokens)
    attribution = latent_attribution(model64, sae, tokens, metric)
    assert attribution.shape == (3, 16, 128) and attribution.dtype == torch.float64

    def scaled(batch: int, pos: int, latent: int, factor: float) -> float:
        def hook(activation, hook):
            rows = activation.reshape(-1, 64)
            f = sae.encode(rows)[:, 0]
            x_hat = sae.decode(f[:, None])[:, 0]
            g = f.clone()
            g[batch * 16 + pos, latent] *= factor
            return (sae.decode(g[:, None])[:, 0] + rows - x_hat).reshape(activation.shape)
        with torch.no_grad():
            return float(metric(model64.run_with_hooks(tokens, fwd_hooks=[(HOOK_POST, hook)])))

    active = attribution.abs().flatten().topk(5).indices.tolist()  # the five largest attributions
    eps = 1e-5
    for index in active:
        batch, rest = divmod(index, 16 * 128)
        pos, latent = divmod(rest, 128)
        estimate = (scaled(batch, pos, latent, 1 + eps) - scaled(batch, pos, latent, 1 - eps)) / (2 * eps)
        assert float(attribution[batch, pos, latent]) == pytest.approx(estimate, rel=1e-5, abs=1e-9)
    with pytest.raises(ValueError, match="scalar"):
        latent_attribution(model64, sae, tokens, lambda logits: logits.sum(-1))


def rows_of(model, n_docs: int = 2):
    docs = [TextDocument(name=f"d{i}.py", tokens=torch.randint(0, 256, (40,), dtype=torch.uint8,
                                                               generator=torch.Generator().manual_seed(20 + i)))
            for i in range(n_docs)]
    windows, origins = document_windows(docs, 16)
    return windows, harvest(model, windows, origins, with_resid_mid=True)


def test_mlp_tail_and_ablation_effects_match_the_model(model):
    windows, h = rows_of(model)
    assert h.resid_mid.shape == (len(h.acts), 32)
    assert h.next_tokens.reshape(len(windows), 16)[:, :-1].tolist() == windows[:, 1:].tolist()
    assert (h.next_tokens.reshape(len(windows), 16)[:, -1] == -1).all()
    logits = model(windows).reshape(-1, 256)
    assert torch.allclose(mlp_tail_logits(model, h.resid_mid, h.acts), logits, atol=1e-4)
    sae = random_sae()
    valid = h.next_tokens >= 0
    rows, latents, d_loss, d_promoted = ablation_effects(model, sae, h.resid_mid[valid], h.acts[valid],
                                                         h.next_tokens[valid], promoted=torch.zeros(128, 2, dtype=torch.long))
    assert len(rows) == int((sae.encode(h.acts[valid])[:, 0] > 0).sum()) and torch.isfinite(d_promoted).all()
    latent = int(latents.bincount().argmax())  # check one latent against the whole model with the ablation hook
    ablated = model.run_with_hooks(windows, fwd_hooks=[(HOOK_POST, ablation_hook(sae, [latent]))]).reshape(-1, 256)
    targets = h.next_tokens[valid]
    expected = next_byte_loss(ablated[valid], targets) - next_byte_loss(logits[valid], targets)
    mine = latents == latent
    assert torch.allclose(d_loss[mine], expected[rows[mine]], atol=1e-4)
    others = torch.ones(int(valid.sum()), dtype=torch.bool)
    others[rows[mine]] = False
    assert expected[others].abs().max() < 1e-4  # where the latent does not fire, ablating it changes nothing
    deep = make_model(TINY, seed=0)
    deep.cfg.n_layers = 2
    with pytest.raises(ValueError, match="one-layer"):
        mlp_tail_logits(deep, h.resid_mid, h.acts)


def test_matching_recovers_a_permuted_copy_and_finds_children():
    g = torch.Generator().manual_seed(30)
    small = torch.randn(8, 16, generator=g)
    perm = torch.randperm(8, generator=g)
    large = torch.cat([small[perm] * 3.0, small[2:3] + 0.3 * torch.randn(2, 16, generator=g), torch.randn(4, 16, generator=g)])
    cos = decoder_cosines(small, large)
    values, index = best_matches(cos)
    assert torch.allclose(values, torch.ones(8), atol=1e-5)
    assert torch.equal(perm[index], torch.arange(8))
    split = children(cos, 2, threshold=0.5)
    assert split[0] == int((perm == 2).nonzero()) and {8, 9} <= set(split.tolist())
    assert (cos[2, split][:-1] >= cos[2, split][1:]).all()
    with pytest.raises(ValueError, match="same hidden size"):
        decoder_cosines(small, torch.randn(3, 5))
    with pytest.raises(ValueError, match="latent"):
        children(cos, 8)


def test_int8_rows_round_trip_within_half_a_step():
    weight = torch.randn(50, 40, generator=torch.Generator().manual_seed(31)) * torch.linspace(0.01, 5, 50)[:, None]
    q, scale = quantize_rows(weight)
    assert q.dtype == torch.int8 and scale.shape == (50,)
    error = (dequantize_rows(q, scale) - weight).abs()
    assert (error <= scale[:, None] / 2 + 1e-7).all()
    assert (error.amax(1) <= weight.abs().amax(1) / 254 + 1e-7).all()
