"""What a |x| model computes and how its neurons share the work (TMS "Computation in Superposition").

- `abs_r2`, `features_computed`: how well y'_i follows |x_i| when feature i is alone (R^2 over [-1, 1]).
- `path_gains`: the gain |W1[k, i]| W2[i, k] of the path x_i -> neuron k -> y'_i; a feature "uses" neuron k
  when that gain is at least `GAIN_THRESHOLD` (|x| needs two such paths, one per sign of x_i).
- `asymmetric_motifs`: neurons shared by two features with unequal weights, whose large interference on
  the weak feature's output another neuron inhibits (the section's "asymmetric superposition" motif).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from jaxtyping import Float, Int
from torch import Tensor

R2_THRESHOLD = 0.9
"""A feature counts as computed when y'_i explains at least this much of the variance of |x_i|."""
GAIN_THRESHOLD = 0.2
"""A neuron serves a feature when its path gain |W1[k, i]| W2[i, k] is at least this (|x| has slope 1)."""
ASYMMETRY = 3.0
"""A shared neuron is asymmetric when the strong feature's interference on the weak one is this many times
the weak feature's interference on the strong one."""
CANCELLED = 0.5
"""An inhibitor must cancel at least this fraction of that interference."""


def abs_r2(outputs: Float[Tensor, "inst feats points"], values: Float[Tensor, " points"]) -> Float[Tensor, "inst feats"]:
    """1 - mean (y'_i - |t|)^2 / var |t| for each feature alone at the values t: 1 exact, 0 a constant, -3 zero."""
    if outputs.shape[-1] != values.numel():
        raise ValueError(f"outputs have {outputs.shape[-1]} points but there are {values.numel()} values")
    target = values.abs().to(outputs)
    return 1 - ((outputs - target) ** 2).mean(-1) / target.var(unbiased=False)


def features_computed(r2: Float[Tensor, "inst feats"], threshold: float = R2_THRESHOLD) -> Int[Tensor, " inst"]:
    """How many features each instance computes (R^2 of its |x| curve at least `threshold`)."""
    return (r2 >= threshold).sum(-1)


def path_gains(W1: Float[Tensor, "inst hidden feats"], W2: Float[Tensor, "inst feats hidden"]) -> Float[Tensor, "inst hidden feats"]:
    """|W1[k, i]| * W2[i, k]: how much y'_i rises per unit of x_i (on the side neuron k fires for) through neuron k."""
    if W1.ndim != 3 or W2.shape != (W1.shape[0], W1.shape[2], W1.shape[1]):
        raise ValueError(f"W1 must be (inst, hidden, feats) and W2 (inst, feats, hidden); got {tuple(W1.shape)} and {tuple(W2.shape)}")
    return W1.abs() * W2.transpose(1, 2)


def neurons_per_feature(gains: Float[Tensor, "inst hidden feats"], threshold: float = GAIN_THRESHOLD) -> Int[Tensor, "inst feats"]:
    """How many neurons each feature uses (2 for a cleanly computed |x| without superposition)."""
    return (gains >= threshold).sum(1)


def polysemantic_neurons(gains: Float[Tensor, "inst hidden feats"], threshold: float = GAIN_THRESHOLD) -> Int[Tensor, " inst"]:
    """How many neurons serve two or more features."""
    return ((gains >= threshold).sum(2) >= 2).sum(1)


class Motif(NamedTuple):
    """Neuron `neuron` serves `strong` and `weak`; `inhibitor` cancels the strong feature's interference on `weak`."""

    neuron: int
    strong: int
    weak: int
    inhibitor: int


def asymmetric_motifs(
    W1: Float[Tensor, "hidden feats"],
    W2: Float[Tensor, "feats hidden"],
    *,
    gain: float = GAIN_THRESHOLD,
    asymmetry: float = ASYMMETRY,
    cancelled: float = CANCELLED,
) -> list[Motif]:
    """Every asymmetric-superposition motif of one instance, sorted.

    For neuron k serving features i and j (path gains >= `gain`), x_i = +-1 on k's side adds
    I_ij = |W1[k, i]| W2[j, k] to y'_j. The motif: I_ij >= `asymmetry` * I_ji, and another neuron k' that fires
    on the same side of x_i (same sign of W1[k', i]) adds |W1[k', i]| W2[j, k'] <= -`cancelled` * I_ij to y'_j;
    `inhibitor` is the k' that inhibits most.
    """
    if W1.ndim != 2 or W2.shape != (W1.shape[1], W1.shape[0]):
        raise ValueError(f"W1 must be (hidden, feats) and W2 (feats, hidden); got {tuple(W1.shape)} and {tuple(W2.shape)}")
    W1, W2 = W1.detach().cpu().float(), W2.detach().cpu().float()
    gains = W1.abs() * W2.T  # hidden feats
    drive = W1.abs()[:, :, None] * W2.T[:, None, :]  # hidden i j: what x_i on k's side adds to y'_j
    motifs = []
    for k in range(W1.shape[0]):
        served = (gains[k] >= gain).nonzero().flatten().tolist()
        for i in served:
            same_side = torch.sign(W1[:, i]) == torch.sign(W1[k, i])
            for j in served:
                if i == j or drive[k, i, j] < asymmetry * drive[k, j, i]:
                    continue
                inhibition = torch.where(same_side, drive[:, i, j], torch.zeros(()))
                inhibition[k] = 0.0
                best = int(inhibition.argmin())
                if inhibition[best] <= -cancelled * drive[k, i, j]:
                    motifs.append(Motif(k, i, j, best))
    return sorted(motifs)


def motif_counts(W1: Float[Tensor, "inst hidden feats"], W2: Float[Tensor, "inst feats hidden"], **thresholds: float) -> Int[Tensor, " inst"]:
    """How many asymmetric-superposition motifs each instance holds."""
    path_gains(W1, W2)  # validates the shapes
    return torch.tensor([len(asymmetric_motifs(W1[k], W2[k], **thresholds)) for k in range(W1.shape[0])])


def per_feature_loss(y: Float[Tensor, "batch inst feats"], x: Float[Tensor, "batch inst feats"]) -> Float[Tensor, "inst feats"]:
    """Each feature's mean squared error (y'_i - |x_i|)^2 over a batch (unweighted)."""
    if y.shape != x.shape:
        raise ValueError(f"y and x must have the same shape; got {tuple(y.shape)} and {tuple(x.shape)}")
    return ((y - x.abs()) ** 2).mean(0)
