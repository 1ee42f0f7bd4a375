"""Exercises of notebook 08 (SAE variants and their evaluation): references, verifiers and the recipes."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float
from torch import Tensor

from course_utils.data.hierarchical import ClusterConfig, HierarchyConfig
from course_utils.exercises import (
    Case,
    CheckFailure,
    Verifier,
    compare_values,
    make_exercise,
    verifier,
)
from course_utils.sae import SAEConfig, SAEKind, TrainConfig

NOTEBOOK = "08_sae_variants"

HIERARCHY = HierarchyConfig()
"""The notebook's hierarchy: 8 parents x 3 children in 48 dimensions, true L0 1.54."""

CLUSTERS = ClusterConfig()
"""The splitting sweep's data: 8 clusters of 4 fine features in 32 dimensions."""

SWEEP: dict[str, tuple[str, tuple[float, ...]]] = {
    "l1": ("l1_coeff", (0.1, 0.2, 0.4)),
    "topk": ("k", (1, 2, 3)),
    "gated": ("l1_coeff", (0.3, 0.6, 1.0)),
    "jumprelu": ("l0_coeff", (0.5, 1.0, 2.0)),
    "batchtopk": ("k", (1.0, 1.5, 2.0)),
    "matryoshka": ("k", (1.0, 1.5, 2.0)),
}
"""Each kind's sparsity knob and the three values the notebook trains at once (one per instance)."""

D_SAE = 40
"""Latents of every SAE in the comparison: the 32 true features and 8 to spare."""


def variant_recipe(kind: SAEKind, *, restarts: int = 2) -> tuple[SAEConfig, TrainConfig]:
    """The notebook's SAE and training settings for one kind: the kind's three knob values, each trained
    `restarts` times from different initialisations, all as instances of one SAE (values repeat)."""
    knob, values = SWEEP[kind]
    values = tuple(int(v) for v in values) if kind == "topk" else values
    values = values * restarts
    sae = SAEConfig(d_in=HIERARCHY.d_hidden, d_sae=D_SAE, n_inst=len(values), kind=kind, **{knob: values},
                    jumprelu_bandwidth=0.05, jumprelu_init_threshold=0.1,
                    matryoshka_widths=(HIERARCHY.n_parents,))
    train = TrainConfig(steps=400, lr=1e-2, log_every=400, dead_after=20 * 256, resample_every=50,
                        resample_source="residual")
    return sae, train


def _g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------ Gated


def gated_loss(
    x: Float[Tensor, "batch inst hidden"],
    pi_gate: Float[Tensor, "batch inst d_sae"],
    pi_mag: Float[Tensor, "batch inst d_sae"],
    W_dec: Float[Tensor, "inst d_sae hidden"],
    b_dec: Float[Tensor, "inst hidden"],
    l1_coeff: Float[Tensor, " inst"],
) -> Float[Tensor, " inst"]:
    """Reconstruction with f = 1[pi_gate > 0] ReLU(pi_mag), plus lambda L1 of ReLU(pi_gate), plus the
    reconstruction of ReLU(pi_gate) through a frozen copy of the decoder; per instance."""
    f = (pi_gate > 0).float() * torch.relu(pi_mag)
    x_hat = torch.einsum("bid,idh->bih", f, W_dec) + b_dec
    gate = torch.relu(pi_gate)
    x_aux = torch.einsum("bid,idh->bih", gate, W_dec.detach()) + b_dec.detach()
    mse = (x - x_hat).pow(2).sum(-1).mean(0)
    aux = (x - x_aux).pow(2).sum(-1).mean(0)
    return mse + l1_coeff * gate.sum(-1).mean(0) + aux


def _gated_inputs(seed: int) -> tuple[Tensor, ...]:
    g = _g(seed)
    x = torch.randn(12, 2, 5, generator=g)
    pi_gate = torch.randn(12, 2, 7, generator=g)
    pi_mag = torch.randn(12, 2, 7, generator=g) + 0.5
    W_dec = F.normalize(torch.randn(2, 7, 5, generator=g), dim=-1)
    b_dec = torch.randn(2, 5, generator=g) * 0.3
    return x, pi_gate, pi_mag, W_dec, b_dec, torch.tensor([0.1, 0.5])


GATED_INPUTS = "x [12, 2, 5], pi_gate and pi_mag [12, 2, 7], W_dec [2, 7, 5], b_dec [2, 5], l1_coeff (0.1, 0.5)"
GATED_GRADS = ("pi_gate", "pi_mag", "W_dec", "b_dec")


def _probe_gated(fn: Any) -> list[Any]:
    """The loss and its gradients (weights 1 and 2 on the instances) on two seeded inputs."""
    outputs: list[Any] = []
    for seed in (0, 1):
        x, pi_gate, pi_mag, W_dec, b_dec, l1 = _gated_inputs(seed)
        leaves = [t.requires_grad_(True) for t in (pi_gate, pi_mag, W_dec, b_dec)]
        loss = fn(x, pi_gate, pi_mag, W_dec, b_dec, l1)  # a raise is recorded by the check itself
        grads = torch.autograd.grad((loss * torch.tensor([1.0, 2.0])).sum(), leaves, allow_unused=True)
        outputs.append((loss.detach(), [torch.zeros_like(t) if gr is None else gr for t, gr in zip(leaves, grads, strict=True)]))
    return outputs


def _judge_cases(got: Any, expected: list[Any], descriptions: list[str], compare_case: Any) -> int:
    """Judge a probe's per-case records: `compare_case(got_i, expected_i)` raises CheckFailure on a wrong one."""
    if not isinstance(got, list) or len(got) < 1:
        raise CheckFailure("its check recorded no outputs")
    for index, (want, description) in enumerate(zip(expected, descriptions, strict=True)):
        if index >= len(got):
            raise CheckFailure("no output was recorded for this input", inputs=description)
        try:
            compare_case(got[index], want)
        except CheckFailure as failure:
            failure.inputs = description
            raise
        except (TypeError, ValueError) as error:
            raise CheckFailure(f"its outputs have the wrong form ({error})", inputs=description) from None
    return len(expected)


def _compare_gated(got: Any, expected: Any) -> None:
    (loss, grads), (ref_loss, ref_grads) = got, expected
    compare_values(loss, ref_loss, atol=1e-5, rtol=1e-4, where="loss")
    for name, value, want in zip(GATED_GRADS, grads, ref_grads, strict=True):
        compare_values(value, want, atol=1e-5, rtol=1e-4, where=f"gradient for {name}")


def _judge_gated(got: Any, expected: Any) -> int:
    return _judge_cases(got, expected, [GATED_INPUTS] * len(expected), _compare_gated)


make_exercise(
    name="gated_loss",
    notebook=NOTEBOOK,
    reference=gated_loss,
    verify=Verifier(gated_loss, _probe_gated, _judge_gated, GATED_INPUTS),
    summary="the Gated SAE's loss, value and gradients",
)


# ------------------------------------------------------------------ JumpReLU


class JumpReLU(torch.autograd.Function):
    """JumpReLU_theta(z) = z * 1[z > theta] with the pseudo-derivative -(theta/eps) K((z - theta)/eps) for theta."""

    @staticmethod
    def forward(ctx: Any, z: Tensor, threshold: Tensor, bandwidth: float) -> Tensor:
        ctx.save_for_backward(z, threshold)
        ctx.bandwidth = bandwidth
        return z * (z > threshold)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, None]:
        z, threshold = ctx.saved_tensors
        eps = ctx.bandwidth
        grad_z = (z > threshold) * grad
        kernel = ((z - threshold).abs() < eps / 2).to(z.dtype)
        grad_threshold = (-(threshold / eps) * kernel * grad).sum(0)
        return grad_z, grad_threshold, None


def _jumprelu_cases() -> list[tuple[Tensor, Tensor, float, Tensor, str]]:
    cases = []
    for seed, eps in ((0, 0.2), (1, 0.5), (2, 0.05)):
        g = _g(seed)
        z = torch.rand(64, 5, generator=g) * 2
        theta = 0.3 + torch.rand(5, generator=g)
        upstream = torch.randn(64, 5, generator=g)
        cases.append((z, theta, eps, upstream, f"z ~ U[0, 2] of shape [64, 5], theta of shape [5], bandwidth {eps}"))
    return cases


def _probe_jumprelu(fn: Any) -> Any:
    """The forward output and both gradients on each seeded case, or why the answer is not a Function."""
    if not (isinstance(fn, type) and issubclass(fn, torch.autograd.Function)):
        return {"not_a_function": type(fn).__name__}
    outputs: list[Any] = []
    for z, theta, eps, upstream, _ in _jumprelu_cases():
        zz, tt = z.clone().requires_grad_(True), theta.clone().requires_grad_(True)
        out = fn.apply(zz, tt, eps)  # a raise is recorded by the check itself
        (out * upstream).sum().backward()
        outputs.append((out.detach(), zz.grad, tt.grad))
    return outputs


def _compare_jumprelu(got: Any, expected: Any) -> None:
    (out, gz, gt), (out_ref, gz_ref, gt_ref) = got, expected
    compare_values(out, out_ref, atol=1e-6, rtol=1e-5, where="forward output")
    if gz is None:
        raise CheckFailure("backward returned no gradient for z (expected 1[z > theta] * grad)")
    compare_values(gz, gz_ref, atol=1e-5, rtol=1e-4, where="gradient for z")
    if gt is None:
        raise CheckFailure("backward returned no gradient for threshold")
    compare_values(gt, gt_ref, atol=1e-4, rtol=1e-4, where="gradient for threshold")


def _judge_jumprelu(got: Any, expected: Any) -> int:
    if isinstance(got, dict) and "not_a_function" in got:
        raise CheckFailure(f"expected a torch.autograd.Function subclass, got {got['not_a_function']}")
    return _judge_cases(got, expected, [case[-1] for case in _jumprelu_cases()], _compare_jumprelu)


make_exercise(
    name="JumpReLU",
    notebook=NOTEBOOK,
    reference=JumpReLU,
    verify=Verifier(JumpReLU, _probe_jumprelu, _judge_jumprelu),
    summary="the JumpReLU forward and its straight-through pseudo-derivative",
)


# ------------------------------------------------------------------ BatchTopK


def batchtopk_activation(pre_acts: Float[Tensor, "batch d_sae"], k: float) -> Float[Tensor, "batch d_sae"]:
    """Keep the round(k * batch) largest entries of ReLU(pre_acts) over the whole batch, zeros elsewhere."""
    acts = torch.relu(pre_acts)
    budget = round(k * pre_acts.shape[0])
    flat = acts.flatten()
    vals, idx = flat.topk(budget)
    return torch.zeros_like(flat).scatter(0, idx, vals).reshape(acts.shape)


def _batchtopk_cases() -> list[Case]:
    skewed = torch.randn(6, 10, generator=_g(1))
    skewed[0] += 3.0  # one input with many large pre-activations: batch-level top-k gives it more
    return [
        Case((skewed, 2.0), description="6 inputs, one with all pre-activations raised by 3; k = 2"),
        Case((torch.randn(16, 32, generator=_g(2)), 3.0)),
        Case((torch.randn(10, 8, generator=_g(3)) - 1.0, 2.5), description="mostly negative pre-activations, k = 2.5"),
    ]


make_exercise(
    name="batchtopk_activation",
    notebook=NOTEBOOK,
    reference=batchtopk_activation,
    verify=verifier(batchtopk_activation, _batchtopk_cases),
    summary="BatchTopK's batch-level selection",
)


# ------------------------------------------------------------------ Matryoshka


def matryoshka_loss(
    x: Float[Tensor, "batch inst hidden"],
    acts: Float[Tensor, "batch inst d_sae"],
    W_dec: Float[Tensor, "inst d_sae hidden"],
    b_dec: Float[Tensor, "inst hidden"],
    widths: tuple[int, ...],
) -> Float[Tensor, " inst"]:
    """Sum over m in widths of the squared error of the prefix reconstruction W_dec[:m] f[:m] + b_dec."""
    total = torch.zeros(W_dec.shape[0])
    for m in widths:
        x_hat = torch.einsum("bim,imh->bih", acts[..., :m], W_dec[:, :m]) + b_dec
        total = total + (x - x_hat).pow(2).sum(-1).mean(0)
    return total


def _matryoshka_cases() -> list[Case]:
    g = _g(0)
    acts = torch.relu(torch.randn(10, 2, 12, generator=g))
    return [
        Case((torch.randn(10, 2, 4, generator=g), acts, torch.randn(2, 12, 4, generator=g),
              torch.randn(2, 4, generator=g), (3, 7, 12)), description="widths (3, 7, 12), 12 latents"),
        Case((torch.randn(10, 2, 4, generator=g), acts, torch.randn(2, 12, 4, generator=g),
              torch.randn(2, 4, generator=g), (1, 12)), description="widths (1, 12)"),
    ]


make_exercise(
    name="matryoshka_loss",
    notebook=NOTEBOOK,
    reference=matryoshka_loss,
    verify=verifier(matryoshka_loss, _matryoshka_cases),
    summary="the Matryoshka loss over nested prefixes",
)


# ------------------------------------------------------------------ absorption


def absorption_rate(
    parent_latent_acts: Float[Tensor, " batch"], parent_active: Bool[Tensor, " batch"], child_active: Bool[Tensor, " batch"]
) -> Float[Tensor, ""]:
    """Among inputs where the parent and one of its children are active, the fraction on which the parent's
    latent does not fire (activation <= 0)."""
    both = parent_active & child_active
    return (parent_latent_acts[both] <= 0).float().mean()


def _absorption_cases() -> list[Case]:
    g = _g(0)
    parent = torch.rand(400, generator=g) < 0.5
    child = (torch.rand(400, generator=g) < 0.6) & parent
    acts = torch.rand(400, generator=g) * parent * (torch.rand(400, generator=g) < 0.5)  # silent half the time
    hand_acts = torch.tensor([0.9, 0.0, 0.0, 0.7, 0.0])
    hand_parent = torch.tensor([True, True, True, True, False])
    hand_child = torch.tensor([False, True, True, False, False])
    return [
        Case((hand_acts, hand_parent, hand_child),
             description="5 inputs: parent alone and firing twice, parent+child with the latent silent twice, neither once"),
        Case((acts, parent, child)),
        Case((acts + 0.5 * child, parent, child), description="the latent always fires where a child is active"),
    ]


make_exercise(
    name="absorption_rate",
    notebook=NOTEBOOK,
    reference=absorption_rate,
    verify=verifier(absorption_rate, _absorption_cases),
    summary="the absorption rate against the ground truth",
)


# ------------------------------------------------------------------ Hungarian MCC


def hungarian_mcc(W_dec: Float[Tensor, "d_sae hidden"], true_features: Float[Tensor, "feats hidden"]) -> Float[Tensor, ""]:
    """Mean |cosine| over the one-to-one matching of latents and features that maximises the summed |cosine|."""
    from scipy.optimize import linear_sum_assignment  # here: `course` loads every exercise module

    cos = (F.normalize(true_features, dim=-1) @ F.normalize(W_dec, dim=-1).T).abs()
    rows, cols = linear_sum_assignment(-cos.numpy())
    return cos[torch.as_tensor(rows), torch.as_tensor(cols)].mean()


def _mcc_cases() -> list[Case]:
    g = _g(0)
    true = F.normalize(torch.randn(6, 8, generator=g), dim=-1)
    duplicated = torch.cat([true[:3], true[:3] + 0.05 * torch.randn(3, 8, generator=g)])  # two latents per feature
    return [
        Case((duplicated, true), description="6 latents: each of the first 3 features twice, the last 3 missing"),
        Case((-true[[2, 0, 1, 5, 4, 3]], true), description="the true features, permuted and negated"),
        Case((torch.randn(4, 8, generator=g), true), description="4 random latents for 6 features"),
        Case((torch.randn(9, 8, generator=g), true), description="9 random latents for 6 features"),
    ]


make_exercise(
    name="hungarian_mcc",
    notebook=NOTEBOOK,
    reference=hungarian_mcc,
    verify=verifier(hungarian_mcc, _mcc_cases),
    summary="the mean correlation coefficient after a one-to-one matching",
)
