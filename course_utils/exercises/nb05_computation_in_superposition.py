"""Exercises of notebook 05 (computation in superposition): the |x| data, the model's forward pass, the
two-neuron construction and its loss, path gains, and the asymmetric-superposition motif."""

from __future__ import annotations

from collections.abc import Callable

import torch
from jaxtyping import Float
from torch import Tensor

from course_utils.exercises import (
    Case,
    CheckFailure,
    compare_values,
    make_exercise,
    replayed,
    verifier,
)
from course_utils.metrics.computation import asymmetric_motifs, path_gains

NOTEBOOK = "05_computation_in_superposition"


# 1. The data --------------------------------------------------------------------------------------------

def abs_batch(
    batch_size: int, density: Float[Tensor, "inst feats"], *, generator: torch.Generator
) -> Float[Tensor, "batch inst feats"]:
    """Each feature is 0 with probability 1 - density, else Uniform[-1, 1]."""
    values = 2 * torch.rand(batch_size, *density.shape, generator=generator) - 1
    on = torch.rand(batch_size, *density.shape, generator=generator) < density
    return values * on


def _verify_abs_batch(candidate: Callable[..., Tensor]) -> int:
    density = torch.tensor([[1.0, 1.0, 1.0], [0.5, 0.5, 0.5], [0.05, 0.05, 0.05], [0.9, 0.3, 0.1]])
    shown = "batch_size=20000, density=" + str(density.tolist())

    def draw(seed: int) -> Tensor:
        return candidate(20_000, density.clone(), generator=torch.Generator().manual_seed(seed))

    x = draw(0)
    if not isinstance(x, Tensor):
        raise CheckFailure(f"expected a torch.Tensor, got {type(x).__name__}", inputs=shown)
    if x.shape != (20_000, *density.shape):
        raise CheckFailure(f"expected shape (batch, inst, feats) = (20000, 4, 3), got {tuple(x.shape)}", inputs=shown)
    if x.dtype != torch.float32:
        raise CheckFailure(f"expected dtype torch.float32, got {x.dtype}", inputs=shown)
    if x.min() < -1 or x.max() > 1:
        raise CheckFailure(f"values must lie in [-1, 1]; got values from {x.min():.3g} to {x.max():.3g}", inputs=shown)
    active = (x != 0).float().mean(0)
    worst = (active - density).abs().max()
    if worst > 0.02:
        index = tuple(int(i) for i in ((active - density).abs() == worst).nonzero()[0])
        raise CheckFailure(
            f"the fraction of non-zero entries should equal the density; at (inst, feat) = {index} "
            f"density {density[index]:.2f} gave {active[index]:.3f} non-zero",
            inputs=shown,
        )
    on = x[x != 0]
    if abs(on.mean()) > 0.02 or abs(on.var() - 1 / 3) > 0.02:
        raise CheckFailure(
            f"non-zero values should be Uniform[-1, 1] (mean 0, variance 1/3 = 0.333); got mean {on.mean():.3f}, "
            f"variance {on.var():.3f}",
            inputs=shown,
        )
    if not torch.equal(x, draw(0)):
        raise CheckFailure("two calls with identically seeded generators differ: draw every number with generator=generator", inputs=shown)
    if torch.equal(x, draw(1)):
        raise CheckFailure("different seeds gave the same batch: draw every number with generator=generator", inputs=shown)
    return 4


# 2. The forward pass --------------------------------------------------------------------------------------

def abs_forward(
    x: Float[Tensor, "batch inst feats"],
    W1: Float[Tensor, "inst hidden feats"],
    W2: Float[Tensor, "inst feats hidden"],
    b: Float[Tensor, "inst feats"],
) -> Float[Tensor, "batch inst feats"]:
    """h = ReLU(W1 x), y' = ReLU(W2 h + b), for every instance at once."""
    h = torch.relu(torch.einsum("bif,ihf->bih", x, W1))
    return torch.relu(torch.einsum("bih,ifh->bif", h, W2) + b)


def _abs_forward_cases() -> list[Case]:
    g = torch.Generator().manual_seed(50)
    square = torch.tensor([[[1.0, 2.0], [-1.0, 0.5]]])
    return [
        Case((2 * torch.rand(8, 3, 5, generator=g) - 1, torch.randn(3, 4, 5, generator=g), torch.randn(3, 5, 4, generator=g),
              torch.randn(3, 5, generator=g))),
        Case((2 * torch.rand(6, 2, 4, generator=g) - 1, torch.randn(2, 6, 4, generator=g), torch.randn(2, 4, 6, generator=g),
              torch.randn(2, 4, generator=g))),
        Case(
            (torch.tensor([[[1.0, 0.0]], [[0.0, -1.0]], [[0.5, 0.5]]]), square, torch.tensor([[[1.0, 0.0], [3.0, 1.0]]]),
             torch.tensor([[0.0, 0.0]])),
            description="hidden = feats = 2: W1 = [[1, 2], [-1, 0.5]], W2 = [[1, 0], [3, 1]], b = 0 (a transposed weight runs but differs)",
        ),
        Case(
            (torch.tensor([[[-1.0, 0.0]]]), torch.tensor([[[1.0, 0.0], [-1.0, 0.0]]]), torch.tensor([[[1.0, 1.0], [0.0, 0.0]]]),
             torch.tensor([[0.0, 0.3]])),
            description="x = [-1, 0], the two-neuron |x| of feature 0, b = [0, 0.3]: y' = [1, 0.3]",
        ),
    ]


# 3. The dense construction ----------------------------------------------------------------------------------

def two_neuron_construction(
    n_features: int, d_hidden: int, density: float
) -> tuple[Float[Tensor, "hidden feats"], Float[Tensor, "feats hidden"], Float[Tensor, " feats"]]:
    """|x_i| = ReLU(x_i) + ReLU(-x_i) for the d_hidden // 2 most important features (the first ones), two neurons
    each; every other feature outputs the constant that minimises its loss, E|x_i| = density / 2."""
    W1 = torch.zeros(d_hidden, n_features)
    W2 = torch.zeros(n_features, d_hidden)
    b = torch.full((n_features,), density / 2)
    for i in range(min(d_hidden // 2, n_features)):
        W1[2 * i, i], W1[2 * i + 1, i] = 1.0, -1.0
        W2[i, 2 * i] = W2[i, 2 * i + 1] = 1.0
        b[i] = 0.0
    return W1, W2, b


def _run(W1: Tensor, W2: Tensor, b: Tensor, x: Tensor) -> Tensor:
    return abs_forward(x, W1[None], W2[None], b[None])


def _verify_two_neuron_construction(candidate: Callable[..., tuple[Tensor, Tensor, Tensor]]) -> int:
    cases = [(8, 4, 0.1), (6, 6, 1.0), (5, 3, 0.02), (10, 7, 0.3)]
    g = torch.Generator().manual_seed(51)
    for n, m, p in cases:
        shown = f"n_features={n}, d_hidden={m}, density={p}"
        got = candidate(n, m, p)
        if not isinstance(got, tuple | list) or len(got) != 3:
            raise CheckFailure(f"return the tuple (W1, W2, b), got {type(got).__name__}", inputs=shown)
        W1, W2, b = (torch.as_tensor(t, dtype=torch.float32) for t in got)
        for name, t, shape in (("W1", W1, (m, n)), ("W2", W2, (n, m)), ("b", b, (n,))):
            if tuple(t.shape) != shape:
                raise CheckFailure(f"{name} should have shape {shape}, got {tuple(t.shape)}", inputs=shown)
        ref = two_neuron_construction(n, m, p)
        t = torch.linspace(-1, 1, 21)
        alone = torch.zeros(21 * n, 1, n)
        for i in range(n):
            alone[i * 21 : (i + 1) * 21, 0, i] = t
        dense = abs_batch(512, torch.full((1, n), p), generator=g)
        for x, what in ((alone, "each feature alone at values in [-1, 1]"), (dense, f"a batch at density {p}")):
            try:
                compare_values(_run(W1, W2, b, x), _run(*ref, x), atol=1e-5, rtol=1e-4, where=f"y' on {what}")
            except CheckFailure as failure:
                failure.inputs = shown + " (outputs compared, so any order of the neurons passes)"
                raise
    return len(cases)


def construction_loss(importance: Float[Tensor, " feats"], density: float, d_hidden: int) -> float:
    """The expected loss of two_neuron_construction: mean over features of importance_i * E[(y'_i - |x_i|)^2]."""
    p = density
    uncomputed = importance[d_hidden // 2 :]
    return float(uncomputed.sum() * (p / 3 - p**2 / 4) / importance.numel())


def _construction_loss_cases() -> list[Case]:
    imp = 0.8 ** torch.arange(20.0)
    return [
        Case((imp, 1.0, 10), description="importance 0.8^i over 20 features, density 1, 10 neurons"),
        Case((imp, 0.05, 10), description="importance 0.8^i over 20 features, density 0.05, 10 neurons"),
        Case((torch.ones(6), 0.5, 5), description="importance 1 over 6 features, density 0.5, 5 neurons (2 computed)"),
        Case((torch.tensor([2.0, 1.0, 0.5]), 0.2, 8), description="3 features, 8 neurons: every feature computed, loss 0"),
    ]


# 4. Path gains and the asymmetric motif --------------------------------------------------------------------

def _path_gains_cases() -> list[Case]:
    g = torch.Generator().manual_seed(52)
    return [
        Case((torch.randn(3, 4, 6, generator=g), torch.randn(3, 6, 4, generator=g))),
        Case((torch.tensor([[[1.0, -2.0], [0.5, 0.0]]]), torch.tensor([[[1.0, 3.0], [0.25, -1.0]]])),
             description="hidden = feats = 2: W1 = [[1, -2], [0.5, 0]], W2 = [[1, 3], [0.25, -1]]"),
        Case((torch.tensor([[[-1.0, 1.0]]]).transpose(1, 2).contiguous(), torch.tensor([[[1.0, 1.0]]])),
             description="one feature, two neurons: W1 = [[-1], [1]], W2 = [[1, 1]] (the two-neuron |x|): gains [[1], [1]]"),
    ]


def planted_motif() -> tuple[Tensor, Tensor]:
    """4 neurons, 3 features: neuron 0 reads f0 (+2) and f1 (-0.5) with reciprocal outputs (0.5 and 2);
    neuron 1 reads f0 (+1) and inhibits f1 (-4); neurons 2 and 3 compute f2 and the other side of f0."""
    W1 = torch.tensor([[2.0, -0.5, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]])
    W2 = torch.tensor([[0.5, 0.0, 0.0, 1.0], [2.0, -4.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    return W1, W2


def _motif_inputs() -> list[tuple[str, Tensor, Tensor]]:
    W1, W2 = planted_motif()
    no_inhibitor = W2.clone()
    no_inhibitor[1, 1] = 0.0
    wrong_side = W1.clone()
    wrong_side[1, 0] = -1.0  # the would-be inhibitor fires for x_0 < 0, neuron 0 for x_0 > 0
    symmetric = W1.clone(), W2.clone()
    symmetric[0][0, 1], symmetric[1][1, 0] = -2.0, 0.5  # both features drive each other equally
    construction = two_neuron_construction(6, 6, 0.1)
    g = torch.Generator().manual_seed(53)
    randoms = [
        (f"random weights (seed {seed}): W1 ~ 1.5 N(0, 1) of shape (6, 10), W2 ~ 1.5 N(0, 1)",
         1.5 * torch.randn(6, 10, generator=g), 1.5 * torch.randn(10, 6, generator=g))
        for seed in range(3)
    ]
    return [
        ("the planted motif (neuron 0 shares f0 and f1, neuron 1 inhibits f1)", W1, W2),
        ("the planted motif without the inhibitor (W2[1, 1] = 0)", W1, no_inhibitor),
        ("the planted motif with the inhibitor on the other side of x_0 (W1[1, 0] = -1)", wrong_side, W2),
        ("a symmetric pair (each feature drives the other by 1)", *symmetric),
        ("the two-neuron construction (6 features, 6 neurons): no shared neuron", construction[0], construction[1]),
        *randoms,
    ]


def _verify_find_asymmetric_motifs(candidate: Callable[..., list]) -> int:
    cases = _motif_inputs()
    for shown, W1, W2 in cases:
        expected = {tuple(m) for m in asymmetric_motifs(W1, W2)}
        try:
            got_list = candidate(W1.clone(), W2.clone())
        except (NotImplementedError, CheckFailure):
            raise
        except Exception as error:
            raise CheckFailure(f"raised {type(error).__name__}: {error}", inputs=shown) from error
        try:
            got = {tuple(int(v) for v in m) for m in got_list}
        except TypeError as error:
            raise CheckFailure("return a list of (neuron, strong, weak, inhibitor) tuples of ints", inputs=shown) from error
        if got != expected:
            missing, extra = sorted(expected - got), sorted(got - expected)
            raise CheckFailure(f"expected the motifs {sorted(expected)}, got {sorted(got)} (missing {missing}, extra {extra})",
                               inputs=shown)
    return len(cases)


def find_asymmetric_motifs(W1: Float[Tensor, "hidden feats"], W2: Float[Tensor, "feats hidden"]) -> list[tuple[int, int, int, int]]:
    """Every (neuron, strong, weak, inhibitor) of one instance (see `asymmetric_motifs` for the thresholds)."""
    return [tuple(m) for m in asymmetric_motifs(W1, W2)]


make_exercise(name="abs_batch", notebook=NOTEBOOK, reference=abs_batch, verify=replayed(abs_batch, _verify_abs_batch),
              summary="signed sparse batches: 0 w.p. 1 - density, else Uniform[-1, 1]")
make_exercise(name="abs_forward", notebook=NOTEBOOK, reference=abs_forward, verify=verifier(abs_forward, _abs_forward_cases),
              summary="the |x| model's forward pass, ReLU(W2 ReLU(W1 x) + b), all instances at once")
make_exercise(name="two_neuron_construction", notebook=NOTEBOOK, reference=two_neuron_construction,
              verify=replayed(two_neuron_construction, _verify_two_neuron_construction), summary="the dense solution by hand: two neurons per feature")
make_exercise(name="construction_loss", notebook=NOTEBOOK, reference=construction_loss,
              verify=verifier(construction_loss, _construction_loss_cases, atol=1e-7, rtol=1e-5),
              summary="the construction's expected loss in closed form")
make_exercise(name="path_gains", notebook=NOTEBOOK, reference=path_gains, verify=verifier(path_gains, _path_gains_cases),
              summary="how strongly each neuron carries each feature to its output")
make_exercise(name="find_asymmetric_motifs", notebook=NOTEBOOK, reference=find_asymmetric_motifs,
              verify=replayed(find_asymmetric_motifs, _verify_find_asymmetric_motifs), summary="the asymmetric-superposition motif in a weight matrix")
