"""Tests of course_utils.sae and sae_step: shapes, constraints, hand-written gradients, AuxK, resampling, recovery."""

from __future__ import annotations

import pytest
import torch

from course_utils.data.synthetic import (
    SyntheticConfig,
    feature_directions,
    feature_probabilities,
    synthetic_batches,
)
from course_utils.metrics.dictionary import mmcs
from course_utils.sae import (
    L1SAE,
    SAEConfig,
    TopKSAE,
    TrainConfig,
    geometric_median,
    init_b_dec_,
    make_sae,
    normalize_decoder_,
    project_decoder_grad_,
    resample_dead_,
    topk_activation,
    train,
)
from course_utils.sae import step as step_module
from course_utils.sae.step import sae_step_grads_


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_make_sae_picks_the_kind_and_shapes():
    sae = make_sae(SAEConfig(d_in=6, d_sae=10, n_inst=3, kind="topk", k=2), generator=_gen())
    assert isinstance(sae, TopKSAE)
    assert sae.W_enc.shape == sae.W_dec.shape == (3, 10, 6)
    out = sae(torch.randn(7, 6, generator=_gen(1)))
    assert out.x_hat.shape == (7, 3, 6) and out.acts.shape == (7, 3, 10)
    assert isinstance(make_sae(SAEConfig(d_in=6, d_sae=10)), L1SAE)


def test_encoder_starts_as_decoder_transpose_and_decoder_is_unit_norm():
    sae = make_sae(SAEConfig(d_in=8, d_sae=16, kind="topk", k=3), generator=_gen())
    assert torch.equal(sae.W_enc, sae.W_dec)
    torch.testing.assert_close(sae.W_dec.norm(dim=-1), torch.ones(1, 16))


def test_bad_configs_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="one per instance"):
        SAEConfig(d_in=4, d_sae=8, n_inst=2, l1_coeff=(0.1, 0.2, 0.3))
    with pytest.raises(ValueError, match="k must lie"):
        SAEConfig(d_in=4, d_sae=8, kind="topk", k=9)
    with pytest.raises(ValueError, match="kind"):
        SAEConfig(d_in=4, d_sae=8, kind="relu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected"):
        make_sae(SAEConfig(d_in=4, d_sae=8))(torch.randn(3, 5))
    with pytest.raises(ValueError, match="make_sae"):
        TopKSAE(SAEConfig(d_in=4, d_sae=8, kind="l1"))


def test_l1_forward_matches_the_formula():
    sae = make_sae(SAEConfig(d_in=5, d_sae=7), generator=_gen())
    with torch.no_grad():
        sae.b_dec.normal_(generator=_gen(2))
        sae.b_enc.normal_(generator=_gen(3))
    x = torch.randn(4, 5, generator=_gen(1))
    with torch.no_grad():
        out = sae(x)
    f = torch.relu((x - sae.b_dec[0]) @ sae.W_enc[0].T + sae.b_enc[0])
    torch.testing.assert_close(out.acts[:, 0], f)
    torch.testing.assert_close(out.x_hat[:, 0], f @ sae.W_dec[0] + sae.b_dec[0])


@pytest.mark.parametrize("sparse", [True, False])
@pytest.mark.parametrize("kind", ["l1", "topk"])
def test_hand_written_step_gives_autograds_losses_and_gradients(kind, sparse):
    cfg = SAEConfig(d_in=16, d_sae=64, n_inst=2, kind=kind, k=(3, 5), l1_coeff=(0.5, 1.0), aux_k=6, sparse_kernel=sparse)
    x = torch.rand(32, 16, generator=_gen(1))
    dead = torch.zeros(2, 64, dtype=torch.bool)
    dead[0, 10:40] = True
    dead[1, :3] = True  # fewer dead latents than aux_k: AuxK uses the 3 there are
    for case_dead, l1_scale in ((None, 1.0), (dead, 0.3)):
        manual, auto = make_sae(cfg, generator=_gen()), make_sae(cfg, generator=_gen())
        with torch.no_grad():
            for sae in (manual, auto):
                sae.b_enc.normal_(-0.5, 0.3, generator=_gen(2))  # some latents off, as in training
                sae.b_dec.normal_(generator=_gen(3))
        result = sae_step_grads_(manual, x, dead=case_dead, l1_scale=l1_scale)
        out = auto(x)
        losses = auto.losses(x, out, dead=case_dead, l1_scale=l1_scale)
        losses["loss"].sum().backward()
        for key, value in losses.items():
            torch.testing.assert_close(result.losses[key], value.detach(), msg=f"loss {key!r}")
        torch.testing.assert_close(result.x_hat, out.x_hat.detach())
        torch.testing.assert_close(result.fires, (out.acts > 0).sum(0).float())
        for name, param in auto.named_parameters():
            torch.testing.assert_close(getattr(manual, name).grad, param.grad, atol=1e-5, rtol=1e-4, msg=name)
        if kind == "topk" and case_dead is not None:
            assert float(result.losses["aux"].min()) > 0


def test_transposed_products_are_torchs_transposes_bit_for_bit():
    """The step builds A's transposed pattern once for A^T d and G^T x: the same numbers as torch's CSR transpose."""
    rows, cols, k = 96, 200, 5
    gen = _gen(4)
    idx = torch.rand(rows, cols, generator=gen).topk(k, dim=-1, sorted=False).indices
    vals, grads = torch.rand(rows, k, generator=gen), torch.randn(rows, k, generator=gen)
    d_out, centred = torch.randn(rows, 16, generator=gen), torch.randn(rows, 16, generator=gen)
    acts = step_module._rows_matrix(idx, vals, cols, sparse=True)
    g_acts = step_module._rows_matrix(idx, grads, cols, sparse=True)
    mine = step_module._transposed_products(acts, g_acts, d_out, centred)
    torchs = (acts.t() @ d_out, g_acts.t() @ centred)
    assert all(torch.equal(a, b) for a, b in zip(mine, torchs, strict=True))
    dense = (acts.to_dense().t() @ d_out, g_acts.to_dense().t() @ centred)
    for a, b in zip(mine, dense, strict=True):
        torch.testing.assert_close(a, b)


def test_hand_written_step_refuses_other_modules():
    with pytest.raises(TypeError, match="make_sae"):
        sae_step_grads_(torch.nn.Linear(3, 3), torch.zeros(2, 3))  # type: ignore[arg-type]


def test_topk_keeps_exactly_k_per_row():
    pre = torch.randn(50, 2, 40, generator=_gen()) + 3.0  # all positive: ReLU removes nothing
    acts = topk_activation(pre, torch.tensor([4, 7]))
    assert torch.equal((acts[:, 0] != 0).sum(-1), torch.full((50,), 4))
    assert torch.equal((acts[:, 1] != 0).sum(-1), torch.full((50,), 7))
    kept = acts[:, 0] != 0
    assert bool((pre[:, 0][kept].reshape(50, 4).min(-1).values >= pre[:, 0].topk(4).values[:, -1]).all())
    sae = make_sae(SAEConfig(d_in=8, d_sae=64, kind="topk", k=6), generator=_gen())
    with torch.no_grad():
        sae.b_enc.fill_(5.0)
    assert torch.equal((sae(torch.randn(9, 8)).acts != 0).sum(-1), torch.full((9, 1), 6))


def test_auxk_is_zero_when_nothing_is_dead_and_positive_otherwise():
    sae = make_sae(SAEConfig(d_in=8, d_sae=32, kind="topk", k=2), generator=_gen())
    x = torch.randn(16, 8, generator=_gen(1))
    out = sae(x)
    none_dead = sae.losses(x, out, dead=torch.zeros(1, 32, dtype=torch.bool))
    assert float(none_dead["aux"]) == 0.0
    torch.testing.assert_close(none_dead["loss"], none_dead["mse"])
    dead = torch.zeros(1, 32, dtype=torch.bool)
    dead[0, :16] = True
    some_dead = sae.losses(x, out, dead=dead)
    assert float(some_dead["aux"].detach()) > 0
    torch.testing.assert_close(some_dead["loss"], some_dead["mse"] + some_dead["aux"] / 32)
    some_dead["loss"].sum().backward()
    assert float(sae.W_enc.grad[0, :16].abs().sum()) > 0  # dead latents learn from AuxK


def test_gradient_projection_removes_the_parallel_part_hand_made():
    sae = make_sae(SAEConfig(d_in=2, d_sae=2), generator=_gen())
    with torch.no_grad():
        sae.W_dec.copy_(torch.tensor([[[1.0, 0.0], [0.6, 0.8]]]))
    sae.W_dec.grad = torch.tensor([[[3.0, 4.0], [1.0, 0.0]]])
    project_decoder_grad_(sae)
    # [3, 4] minus its part along [1, 0]; [1, 0] minus 0.6 * [0.6, 0.8]
    torch.testing.assert_close(sae.W_dec.grad, torch.tensor([[[0.0, 4.0], [0.64, -0.48]]]))
    assert float((sae.W_dec.grad * sae.W_dec.detach()).sum(-1).abs().max()) < 1e-6


def test_normalize_decoder_gives_unit_directions():
    sae = make_sae(SAEConfig(d_in=4, d_sae=6), generator=_gen())
    with torch.no_grad():
        sae.W_dec.mul_(torch.rand(1, 6, 1, generator=_gen(1)) * 5)
    normalize_decoder_(sae)
    torch.testing.assert_close(sae.W_dec.norm(dim=-1), torch.ones(1, 6))


def test_decoder_stays_unit_norm_after_every_step():
    syn = SyntheticConfig(n_feats=16, d_hidden=8, mean_active=2)
    directions, probs = feature_directions(syn, generator=_gen()), feature_probabilities(syn)
    norms = []
    for kind in ("l1", "topk"):
        sae = make_sae(SAEConfig(d_in=8, d_sae=16, kind=kind, k=2), generator=_gen())

        def record(step, sae, log):
            norms.append(sae.W_dec.detach().norm(dim=-1))
            return False

        train(sae, TrainConfig(steps=20, lr=1e-2, log_every=1), synthetic_batches(directions, probs, 64, generator=_gen(1)),
              callback=record, progress=False)
    assert len(norms) == 40
    torch.testing.assert_close(torch.stack(norms), torch.ones(40, 1, 16))


def test_instances_train_like_separate_saes():
    x_stream = [torch.rand(32, 6, generator=_gen(i)) for i in range(5)]
    both = make_sae(SAEConfig(d_in=6, d_sae=12, n_inst=2, l1_coeff=(0.1, 0.5)), generator=_gen())
    single = make_sae(SAEConfig(d_in=6, d_sae=12, l1_coeff=0.5), generator=_gen())
    with torch.no_grad():
        for name, param in single.named_parameters():
            param.copy_(getattr(both, name)[1:2])
    cfg = TrainConfig(steps=5, lr=1e-2, log_every=1)
    train(both, cfg, x_stream, progress=False)
    train(single, cfg, x_stream, progress=False)
    torch.testing.assert_close(both.W_dec[1:2], single.W_dec, atol=1e-5, rtol=1e-4)


def test_geometric_median_and_b_dec_init():
    points = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [100.0, 100.0]])
    median = geometric_median(points)
    assert float(median.norm()) < 1.0  # the mean (25.25, 25.25) is dragged by the outlier; the median isn't
    sae = make_sae(SAEConfig(d_in=2, d_sae=3, n_inst=2))
    init_b_dec_(sae, points)
    torch.testing.assert_close(sae.b_dec, median.expand(2, 2))


def test_resampling_follows_bricken_et_al():
    sae = make_sae(SAEConfig(d_in=4, d_sae=6), generator=_gen())
    opt = torch.optim.Adam(sae.parameters(), lr=1e-3)
    x = torch.randn(10, 4, generator=_gen(1))
    out = sae(x)
    sae.losses(x, out)["loss"].sum().backward()
    opt.step()
    x_hat = torch.zeros(10, 1, 4)
    x_hat[:, 0] = x
    x_hat[3, 0] = 0.0  # only input 3 has a non-zero loss, so every dead latent gets it
    dead = torch.tensor([[True, False, True, False, False, False]])
    alive_norm = sae.W_enc[0, ~dead[0]].norm(dim=-1).mean()
    counts = resample_dead_(sae, opt, x, x_hat, dead, generator=_gen(2))
    assert counts == [2]
    unit = x[3] / x[3].norm()
    for row in (0, 2):
        torch.testing.assert_close(sae.W_dec[0, row], unit)
        torch.testing.assert_close(sae.W_enc[0, row], unit * 0.2 * alive_norm)
        assert float(sae.b_enc[0, row].detach()) == 0.0
        assert float(opt.state[sae.W_enc]["exp_avg"][0, row].abs().sum()) == 0.0
        assert float(opt.state[sae.W_dec]["exp_avg_sq"][0, row].abs().sum()) == 0.0
    assert float(opt.state[sae.W_enc]["exp_avg"][0, 1].abs().sum()) > 0


def test_distinct_resampling_gives_each_dead_latent_its_own_input():
    sae = make_sae(SAEConfig(d_in=4, d_sae=6), generator=_gen())
    x = torch.randn(10, 4, generator=_gen(1))
    x_hat = torch.zeros(10, 1, 4)
    x_hat[:, 0] = x
    lossy = [2, 5, 7]
    x_hat[lossy, 0] = 0.0  # three inputs with a loss; input 2's dominates
    x[2] *= 10
    dead = torch.tensor([[True, True, False, True, False, False]])
    units = {i: x[i] / x[i].norm() for i in lossy}

    def inputs_taken(distinct: bool, seed: int) -> list[int]:
        resample_dead_(sae, None, x, x_hat, dead, generator=_gen(seed), distinct=distinct)
        return [next(i for i, u in units.items() if torch.allclose(sae.W_dec[0, row], u)) for row in (0, 1, 3)]

    assert all(sorted(inputs_taken(True, seed)) == lossy for seed in range(5))
    assert any(len(set(inputs_taken(False, seed))) < 3 for seed in range(5))  # independent draws repeat input 2
    dead_all = torch.ones(1, 6, dtype=torch.bool)  # more dead latents than inputs with a loss: draws may repeat
    assert resample_dead_(sae, None, x, x_hat, dead_all, generator=_gen(0), distinct=True) == [6]


def test_resampling_leaves_fewer_dead_latents_on_the_same_seed():
    from course_utils.exercises.nb07_sparse_autoencoders import SYNTHETIC

    directions, probs = feature_directions(SYNTHETIC, generator=_gen()), feature_probabilities(SYNTHETIC)
    dead, mmcs_end = {}, {}
    for resample in (None, 100):  # the notebook's demonstration: as many latents as features, large lr and lambda
        sae = make_sae(SAEConfig(d_in=SYNTHETIC.d_hidden, d_sae=SYNTHETIC.n_feats, l1_coeff=0.5, n_inst=8), generator=_gen(1))
        cfg = TrainConfig(steps=800, lr=3e-2, log_every=25, resample_every=resample, resample_until=0.75, dead_after=2560)
        log = train(sae, cfg, synthetic_batches(directions, probs, 256, generator=_gen(2)), true_features=directions,
                    progress=False)
        dead[resample], mmcs_end[resample] = float(log.dead_frac[-1].mean()), float(log.mmcs[-1].mean())
        if resample:
            assert sum(counts[0] for _, counts in log.resampled) > 0
    assert dead[None] > 0.15  # a quarter of the latents die without resampling (measured 0.26 on this seed)
    assert dead[100] < dead[None] - 0.03  # measured 0.05-0.09 lower on data seeds 2-6
    assert mmcs_end[100] > mmcs_end[None]


def test_alive_mean_bias_keeps_revived_latents_selective():
    sae = make_sae(SAEConfig(d_in=4, d_sae=6, b_enc_init=-0.4), generator=_gen())
    torch.testing.assert_close(sae.b_enc.detach(), torch.full((1, 6), -0.4))
    x = torch.randn(10, 4, generator=_gen(1))
    dead = torch.tensor([[True, False, True, False, False, False]])
    resample_dead_(sae, None, x, torch.zeros(10, 1, 4), dead, scale=0.5, generator=_gen(2), bias="alive_mean")
    torch.testing.assert_close(sae.b_enc[0, [0, 2]].detach(), torch.tensor([-0.2, -0.2]))
    resample_dead_(sae, None, x, torch.zeros(10, 1, 4), dead, generator=_gen(2))  # Bricken et al.: bias 0
    assert float(sae.b_enc[0, [0, 2]].detach().abs().sum()) == 0.0
    with pytest.raises(ValueError, match="bias"):
        resample_dead_(sae, None, x, torch.zeros(10, 1, 4), dead, bias="median")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["l1", "topk"])
def test_both_kinds_recover_the_notebook_synthetic_features(kind):
    from course_utils.exercises.nb07_sparse_autoencoders import SYNTHETIC, synthetic_recipe

    syn_cfg, sae_cfg, train_cfg, batch = synthetic_recipe(kind)
    assert syn_cfg == SYNTHETIC
    directions = feature_directions(syn_cfg, generator=_gen())
    sae = make_sae(sae_cfg, generator=_gen(1))
    log = train(sae, train_cfg, synthetic_batches(directions, feature_probabilities(syn_cfg), batch, generator=_gen(2)),
                true_features=directions, progress=False)
    assert float(mmcs(sae.W_dec, directions)) >= 0.99
    assert float(log.mmcs[-1, 0]) >= 0.99


def test_residual_resampling_points_at_what_is_missing():
    sae = make_sae(SAEConfig(d_in=3, d_sae=4), generator=_gen())
    x = torch.tensor([[1.0, 2.0, 0.0], [0.0, 0.0, 0.1]])
    x_hat = torch.tensor([[[1.0, 0.0, 0.0]], [[0.0, 0.0, 0.1]]])  # input 0 misses its [0, 2, 0] part
    dead = torch.tensor([[False, True, False, False]])
    resample_dead_(sae, None, x, x_hat, dead, generator=_gen(1), source="residual")
    torch.testing.assert_close(sae.W_dec[0, 1], torch.tensor([0.0, 1.0, 0.0]))
    with pytest.raises(ValueError, match="source"):
        resample_dead_(sae, None, x, x_hat, dead, source="output")  # type: ignore[arg-type]


def test_fused_adam_is_torch_adam_bit_for_bit():
    """The trainer's Adam (no torch.optim, whose first use imports torch._dynamo) is torch's fused Adam exactly,
    with the lr changed every step as LambdaLR changes it, and a state that resampling can reset."""
    from course_utils.sae.adam import FusedAdam

    g = torch.Generator().manual_seed(0)
    ours = [torch.nn.Parameter(torch.randn(3, 5, generator=g)), torch.nn.Parameter(torch.randn(4, generator=g))]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    opt = FusedAdam(ours, lr=3e-3, betas=(0.9, 0.99))
    ref = torch.optim.Adam(theirs, lr=3e-3, betas=(0.9, 0.99), fused=True)
    sched = torch.optim.lr_scheduler.LambdaLR(ref, lambda s: 1.0 - s / 20)
    for step in range(10):
        grads = [torch.randn(p.shape, generator=g) for p in ours]
        for a, b, grad in zip(ours, theirs, grads, strict=True):
            a.grad, b.grad = grad.clone(), grad.clone()
        if step == 3:  # a parameter without a gradient is left alone, as torch.optim does
            ours[1].grad = theirs[1].grad = None
        opt.lr = 3e-3 * (1.0 - step / 20)
        opt.step()
        ref.step()
        sched.step()
        if step == 5:
            for o in (opt, ref):
                o.state[(ours if o is opt else theirs)[0]]["exp_avg"][1] = 0.0
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)
        assert torch.equal(opt.state[a]["exp_avg_sq"], ref.state[b]["exp_avg_sq"])
