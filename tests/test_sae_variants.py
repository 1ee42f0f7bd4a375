"""Tests of the Gated, JumpReLU, BatchTopK and Matryoshka SAEs: forward passes against their formulas, the
hand-written (straight-through) gradients against finite differences and autograd, training, resampling."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course_utils.sae import (
    BatchTopKSAE,
    GatedSAE,
    JumpReLUFunction,
    JumpReLUSAE,
    MatryoshkaSAE,
    SAEConfig,
    StepFunction,
    TrainConfig,
    batchtopk_activation,
    make_sae,
    matryoshka_loss,
    rectangle,
    resample_dead_,
    train,
)
from course_utils.sae.batchtopk import updated_threshold


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _cfg(kind: str, **kw) -> SAEConfig:
    return SAEConfig(d_in=6, d_sae=10, n_inst=2, kind=kind, **kw)


@pytest.mark.parametrize("kind,cls", [("gated", GatedSAE), ("jumprelu", JumpReLUSAE), ("batchtopk", BatchTopKSAE),
                                      ("matryoshka", MatryoshkaSAE)])
def test_make_sae_builds_each_variant_with_the_instance_dimension(kind, cls):
    cfg = _cfg(kind, k=2.0, matryoshka_widths=(3,))
    sae = make_sae(cfg, generator=_gen())
    assert type(sae) is cls
    out = sae(torch.randn(5, 6, generator=_gen(1)))
    assert out.x_hat.shape == (5, 2, 6) and out.acts.shape == (5, 2, 10)
    with pytest.raises(ValueError, match="make_sae"):
        cls(_cfg("l1"))


def test_bad_variant_configs_are_refused():
    with pytest.raises(ValueError, match="matryoshka_widths"):
        _cfg("matryoshka", k=2.0, matryoshka_widths=())
    with pytest.raises(ValueError, match="matryoshka_widths"):
        _cfg("matryoshka", k=2.0, matryoshka_widths=(5, 3))
    with pytest.raises(ValueError, match="mean active"):
        _cfg("batchtopk", k=0.0)
    with pytest.raises(ValueError, match="positive"):
        _cfg("jumprelu", jumprelu_bandwidth=0.0)
    with pytest.raises(ValueError, match="one per instance"):
        _cfg("jumprelu", l0_coeff=(1.0, 2.0, 3.0))


# ------------------------------------------------------------------------------------------------ Gated


def test_gated_forward_matches_the_papers_formula():
    sae = make_sae(_cfg("gated"), generator=_gen())
    with torch.no_grad():
        sae.r_mag.normal_(generator=_gen(2))
        sae.b_mag.normal_(generator=_gen(3))
        sae.b_enc.normal_(generator=_gen(4))
    x = torch.randn(7, 6, generator=_gen(1))
    with torch.no_grad():
        out = sae(x)
    i = 1
    gate = (x - sae.b_dec[i]) @ sae.W_enc[i].T + sae.b_enc[i]
    mag = (x - sae.b_dec[i]) @ (sae.W_enc[i] * sae.r_mag[i].exp()[:, None]).T + sae.b_mag[i]
    f = (gate > 0).float() * F.relu(mag)
    torch.testing.assert_close(out.acts[:, i], f)
    torch.testing.assert_close(out.x_hat[:, i], f @ sae.W_dec[i] + sae.b_dec[i])
    torch.testing.assert_close(out.pre_acts[:, i], gate)


def test_gated_gradients_follow_the_paper():
    """The decoder gets no gradient from the auxiliary term; the gate gets none from the reconstruction."""
    cfg = _cfg("gated", l1_coeff=0.3)
    sae = make_sae(cfg, generator=_gen())
    with torch.no_grad():
        sae.b_enc.normal_(0.2, 0.3, generator=_gen(2))
    x = torch.randn(16, 6, generator=_gen(1))
    out = sae(x)
    losses = sae.losses(x, out)
    # the auxiliary term alone: no gradient into the decoder, but into the gate
    W_dec_grad, b_gate_grad = torch.autograd.grad(losses["aux"].sum(), (sae.W_dec, sae.b_enc), allow_unused=True)
    assert W_dec_grad is None or float(W_dec_grad.abs().max()) == 0.0
    assert float(b_gate_grad.abs().max()) > 0
    # the reconstruction alone: no gradient into the gate's bias (the Heaviside step), but into the magnitude's
    b_gate_grad, b_mag_grad = torch.autograd.grad(losses["mse"].sum(), (sae.b_enc, sae.b_mag), allow_unused=True)
    assert b_gate_grad is None or float(b_gate_grad.abs().max()) == 0.0
    assert float(b_mag_grad.abs().max()) > 0
    # total loss = mse + lambda * l1 + aux
    torch.testing.assert_close(losses["loss"], losses["mse"] + 0.3 * losses["l1"] + losses["aux"])


# ------------------------------------------------------------------------------------------------ JumpReLU


def test_rectangle_kernel():
    u = torch.tensor([-0.6, -0.5, -0.49, 0.0, 0.49, 0.5, 0.6])
    assert rectangle(u).tolist() == [0, 0, 1, 1, 1, 0, 0]


def _smoothed_expectation(fn, z, theta, eps, n=4001):
    """E over the threshold's window of fn(z, theta'): the kernel-smoothed function whose derivative the
    pseudo-derivative estimates (Rajamanoharan et al. 2024b, sec. 4)."""
    shifts = torch.linspace(-0.5, 0.5, n, dtype=torch.float64) * eps
    return torch.stack([fn(z + s, theta) for s in shifts]).mean(0)


def test_jumprelu_pseudo_derivative_matches_finite_differences_of_the_smoothed_loss():
    """For the rectangle kernel, summing the pseudo-derivative over many inputs z equals the derivative in theta
    of the expected output once z is smeared by the kernel: check that against central finite differences."""
    eps = 0.1
    z = torch.linspace(0.0, 2.0, 201, dtype=torch.float64)
    theta0 = torch.tensor([0.73], dtype=torch.float64, requires_grad=True)
    out = JumpReLUFunction.apply(z[:, None], theta0, eps)
    (grad,) = torch.autograd.grad(out.sum(), theta0)
    # finite differences of sum_z E_s[(z + s) 1[z + s > theta]] in theta
    def smoothed(theta: float) -> float:
        jump = lambda zz, t: zz * (zz > t).double()  # noqa: E731
        return float(_smoothed_expectation(jump, z, theta, eps).sum())
    h = 1e-3
    fd = (smoothed(0.73 + h) - smoothed(0.73 - h)) / (2 * h)
    assert float(grad) == pytest.approx(fd, rel=0.05)
    # and the step function (L0): d/dtheta sum H(z - theta)
    out = StepFunction.apply(z[:, None], theta0, eps)
    (grad,) = torch.autograd.grad(out.sum(), theta0)
    def smoothed_step(theta: float) -> float:
        return float(_smoothed_expectation(lambda zz, t: (zz > t).double(), z, theta, eps).sum())
    fd = (smoothed_step(0.73 + h) - smoothed_step(0.73 - h)) / (2 * h)
    assert float(grad) == pytest.approx(fd, rel=0.05)
    assert float(grad) < 0  # raising the threshold lowers L0


def test_jumprelu_gradients_by_hand():
    """Exact values: z-gradient H(z - theta); theta-gradient -(theta/eps) K((z-theta)/eps) (JumpReLU) and
    -(1/eps) K (step), summed over the batch; no gradient into z through the step."""
    eps = 0.2
    z = torch.tensor([[0.3, 0.95], [1.05, 0.5], [2.0, 1.2]], requires_grad=True)
    theta = torch.tensor([1.0, 1.0], requires_grad=True)
    out = JumpReLUFunction.apply(z, theta, eps)
    torch.testing.assert_close(out.detach(), torch.tensor([[0.0, 0.0], [1.05, 0.0], [2.0, 1.2]]))
    out.sum().backward()
    torch.testing.assert_close(z.grad, torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]))
    # window |z - 1| < 0.1: z = 0.95 (col 1) and 1.05 (col 0)
    torch.testing.assert_close(theta.grad, torch.tensor([-1.0 / eps, -1.0 / eps]))
    z.grad, theta.grad = None, None
    StepFunction.apply(z, theta * 2, eps).sum().backward()
    assert z.grad is None or float(z.grad.abs().max()) == 0.0
    # window |z - 2| < 0.1: z = 2.0 in column 0; d(2 theta)/dtheta = 2
    torch.testing.assert_close(theta.grad, torch.tensor([-2.0 / eps, 0.0]))


def test_jumprelu_sae_trains_its_thresholds_and_l0_penalty_lowers_l0():
    cfg = SAEConfig(d_in=8, d_sae=16, n_inst=2, kind="jumprelu", l0_coeff=(0.0, 1.0), jumprelu_bandwidth=0.05,
                    jumprelu_init_threshold=0.05)
    sae = make_sae(cfg, generator=_gen())
    data = (F.relu(torch.randn(64, 8, generator=_gen(1))) for _ in range(10_000))
    start = sae.threshold.detach().clone()
    log = train(sae, TrainConfig(steps=150, lr=1e-2, log_every=150), data, progress=False)
    assert not torch.equal(sae.threshold.detach(), start)
    assert float(log.l0[-1, 1]) < float(log.l0[-1, 0])
    with torch.no_grad():
        pre = sae.pre_acts(torch.randn(4, 8, generator=_gen(2)))
        torch.testing.assert_close(sae.activation(pre), pre * (pre > sae.threshold))


# ------------------------------------------------------------------------------------------------ BatchTopK


def test_batchtopk_keeps_k_times_batch_over_the_whole_batch():
    pre = torch.randn(20, 2, 30, generator=_gen()) + 0.5
    acts = batchtopk_activation(pre, torch.tensor([1.5, 4.0]))
    counts = (acts != 0).sum((0, 2))
    assert counts.tolist() == [30, 80]
    for i, budget in ((0, 30), (1, 80)):
        relu = F.relu(pre[:, i]).flatten()
        threshold = relu.topk(budget).values[-1]
        torch.testing.assert_close(acts[:, i].flatten(), relu * (relu >= threshold))
    per_row = (acts[:, 1] != 0).sum(-1)
    assert int(per_row.max()) != int(per_row.min())  # not k per row: some inputs get more


def test_batchtopk_threshold_is_a_running_average_of_the_smallest_kept_activation():
    acts = torch.tensor([[[0.0, 0.4, 0.9]], [[0.7, 0.0, 0.0]]])  # batch 2, inst 1
    torch.testing.assert_close(updated_threshold(torch.tensor([1.0]), acts, 0.1), torch.tensor([0.94]))
    sae = make_sae(SAEConfig(d_in=6, d_sae=12, kind="batchtopk", k=2.0, threshold_lr=0.5), generator=_gen())
    x = torch.randn(32, 6, generator=_gen(1))
    out = sae.training_forward(x)
    kept = out.acts[out.acts > 0]
    torch.testing.assert_close(sae.threshold, 0.5 * kept.min()[None])
    with torch.no_grad():  # inference uses the threshold, not the batch
        inf = sae(x)
        assert torch.equal(inf.acts > 0, F.relu(inf.pre_acts) > sae.threshold[:, None])


# ------------------------------------------------------------------------------------------------ Matryoshka


def test_matryoshka_loss_sums_the_prefix_reconstructions():
    sae = make_sae(SAEConfig(d_in=6, d_sae=10, n_inst=2, kind="matryoshka", k=3.0, matryoshka_widths=(2, 5)),
                   generator=_gen())
    assert sae.widths == (2, 5, 10)
    x = torch.randn(8, 6, generator=_gen(1))
    out = sae.training_forward(x)
    total = 0.0
    for m in (2, 5, 10):
        recon = torch.einsum("bim,imh->bih", out.acts[..., :m], sae.W_dec[:, :m]) + sae.b_dec
        total = total + (recon - x[:, None]).pow(2).sum(-1).mean(0)
    torch.testing.assert_close(matryoshka_loss(x, out.acts, sae.W_dec, sae.b_dec, sae.widths), total)
    losses = sae.losses(x, out)
    torch.testing.assert_close(losses["loss"], total)  # no dead latents: no AuxK
    torch.testing.assert_close(losses["mse"], (out.x_hat - x[:, None]).pow(2).sum(-1).mean(0))


# ------------------------------------------------------------------------------------------------ training


@pytest.mark.parametrize("kind", ["gated", "jumprelu", "batchtopk", "matryoshka"])
def test_every_variant_trains_with_the_shared_loop(kind):
    cfg = SAEConfig(d_in=8, d_sae=16, n_inst=2, kind=kind, l1_coeff=0.1, l0_coeff=0.1, k=2.0,
                    matryoshka_widths=(4,), jumprelu_bandwidth=0.05, jumprelu_init_threshold=0.05)
    sae = make_sae(cfg, generator=_gen())
    data = (torch.rand(64, 8, generator=_gen(1)) for _ in range(10_000))
    log = train(sae, TrainConfig(steps=60, lr=1e-2, log_every=20), data, progress=False)
    assert log.mse.shape == (3, 2)
    assert float(log.mse[-1].max()) < float(log.mse[0].max())
    torch.testing.assert_close(sae.W_dec.norm(dim=-1), torch.ones(2, 16))


def test_resampling_resets_the_variant_parameters():
    sae = make_sae(_cfg("gated"), generator=_gen())
    jump = make_sae(_cfg("jumprelu", jumprelu_init_threshold=0.2), generator=_gen())
    dead = torch.zeros(2, 10, dtype=torch.bool)
    dead[0, 3] = True
    x = torch.randn(16, 6, generator=_gen(1))
    with torch.no_grad():
        sae.r_mag.fill_(1.0)
        jump.log_threshold.fill_(0.0)
    resample_dead_(sae, None, x, torch.zeros(16, 2, 6), dead, generator=_gen(2))
    resample_dead_(jump, None, x, torch.zeros(16, 2, 6), dead, generator=_gen(2))
    r_mag, threshold = sae.r_mag.detach(), jump.threshold.detach()
    assert float(r_mag[0, 3]) == 0.0 and float(r_mag[0, 2]) == 1.0
    assert float(threshold[0, 3]) == pytest.approx(0.2) and float(threshold[0, 2]) == pytest.approx(1.0)
    assert math.isclose(float(threshold[1, 3]), 1.0)
