"""The seed's 2-in-1 model: two features in one hidden dimension, its losses and gradient descent.

Feature k is the scalar f_k; with input x the hidden state is h = f1 x1 + f2 x2 and the readout is
x_hat_j = sigma(f_j h + b_j), sigma the identity (linear) or ReLU. Every loss broadcasts over grids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor
from torch.optim.adam import adam

Scalar = Float[Tensor, "*grid"] | float
LossFn = Callable[[Float[Tensor, "inst ..."]], Float[Tensor, " inst"]]
"""A loss over a batch of parameter vectors (one row per start), one value per row."""


def linear_loss(f1: Scalar, f2: Scalar) -> Float[Tensor, "*grid"]:
    """L = E_k[L_k] for sigma = identity and b = 0 (the seed's linear case), one feature on at a time."""
    f1, f2 = torch.as_tensor(f1), torch.as_tensor(f2)
    loss_1 = (1 - f1 * f1) ** 2 + (f2 * f1) ** 2  # feature 1 on: h = f1
    loss_2 = (1 - f2 * f2) ** 2 + (f1 * f2) ** 2  # feature 2 on: h = f2
    return (loss_1 + loss_2) / 2


def relu_loss(f1: Scalar, f2: Scalar, b1: Scalar, b2: Scalar) -> Float[Tensor, "*grid"]:
    """L = E_k[L_k] for sigma = ReLU with biases b1, b2 (the seed's ReLU case), one feature on at a time."""
    f1, f2, b1, b2 = (torch.as_tensor(v) for v in (f1, f2, b1, b2))
    loss_1 = (1 - torch.relu(f1 * f1 + b1)) ** 2 + torch.relu(f2 * f1 + b2) ** 2
    loss_2 = (1 - torch.relu(f2 * f2 + b2)) ** 2 + torch.relu(f1 * f2 + b1) ** 2
    return (loss_1 + loss_2) / 2


def _best_bias_1d(own: Tensor, cross: Tensor) -> tuple[Tensor, Tensor]:
    """Min over b of (1 - relu(own + b))^2 + relu(cross + b)^2, exactly, and the b that attains it."""

    def g(b: Tensor) -> Tensor:
        return (1 - torch.relu(own + b)) ** 2 + torch.relu(cross + b) ** 2

    # g is piecewise quadratic: its minimum sits at a piece's vertex or at a kink.
    candidates = torch.stack(
        [(1 - own - cross) / 2, 1 - own, -own, -cross, torch.minimum(-own, -cross)], dim=0
    )
    values = g(candidates)
    index = values.argmin(dim=0, keepdim=True)
    return values.gather(0, index)[0], candidates.gather(0, index)[0]


def relu_loss_best_bias(
    f1: Float[Tensor, "*grid"], f2: Float[Tensor, "*grid"]
) -> tuple[Float[Tensor, "*grid"], Float[Tensor, "*grid"], Float[Tensor, "*grid"]]:
    """The ReLU loss at (f1, f2) with both biases at their best values: (loss, best b1, best b2)."""
    f1, f2 = torch.broadcast_tensors(torch.as_tensor(f1), torch.as_tensor(f2))
    # b1 enters only feature 1's own term (k=1) and its interference when feature 2 is on (k=2).
    part_1, b1 = _best_bias_1d(f1 * f1, f1 * f2)
    part_2, b2 = _best_bias_1d(f2 * f2, f1 * f2)
    return (part_1 + part_2) / 2, b1, b2


STATES: Float[Tensor, "state feats"] = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
"""Every input of two binary features: none, only 1, only 2, both."""


def state_probabilities(p: Scalar) -> Float[Tensor, "state ..."]:
    """The probability of each of STATES when each feature is on independently with probability p."""
    p = torch.as_tensor(p, dtype=torch.get_default_dtype())
    if ((p < 0) | (p > 1)).any():
        raise ValueError(f"the density p must lie in [0, 1], got values from {p.min():.3g} to {p.max():.3g}")
    q = 1 - p
    return torch.stack([q * q, p * q, q * p, p * p])


def state_losses(
    f1: Scalar, f2: Scalar, b1: Scalar, b2: Scalar, *, relu: bool = True
) -> Float[Tensor, "state ..."]:
    """The squared error sum_j (x_j - x_hat_j)^2 for each input of STATES (ReLU or linear readout)."""
    f1, f2, b1, b2 = (torch.as_tensor(v) for v in (f1, f2, b1, b2))
    sigma = torch.relu if relu else (lambda z: z)
    losses = []
    for x1, x2 in STATES.tolist():
        h = f1 * x1 + f2 * x2
        losses.append((x1 - sigma(f1 * h + b1)) ** 2 + (x2 - sigma(f2 * h + b2)) ** 2)
    return torch.stack(torch.broadcast_tensors(*losses))


def expected_loss(f1: Scalar, f2: Scalar, b1: Scalar, b2: Scalar, p: Scalar) -> Float[Tensor, "*grid"]:
    """The ReLU model's expected squared error when each feature is on independently with probability p."""
    losses = state_losses(f1, f2, b1, b2)
    probs = state_probabilities(p)
    return sum(probs[s] * losses[s] for s in range(len(STATES)))


def pair_loss_fixed_bias(p: Scalar) -> Float[Tensor, "*grid"]:
    """The antipodal pair f = (1, -1), b = 0 under density p: only 'both on' fails (h = 0), costing 2."""
    p = torch.as_tensor(p, dtype=torch.get_default_dtype())
    return 2 * p * p


def dedicated_loss_fixed_bias(p: Scalar) -> Float[Tensor, "*grid"]:
    """One dedicated feature f = (1, 0), b = 0 under density p: feature 2 is missed whenever it is on."""
    return torch.as_tensor(p, dtype=torch.get_default_dtype()).clone()


def dedicated_loss_best_bias(p: Scalar) -> Float[Tensor, "*grid"]:
    """One dedicated feature with its best bias: x_hat_1 = x1 exactly, x_hat_2 = p (its mean), loss p(1-p)."""
    p = torch.as_tensor(p, dtype=torch.get_default_dtype())
    return p * (1 - p)


def pair_loss_best_bias(
    p: Float[Tensor, " batch"], *, resolution: int = 201
) -> tuple[Float[Tensor, " batch"], Float[Tensor, " batch"], Float[Tensor, " batch"]]:
    """The best symmetric pair f = (a, -a), b = (c, c) under density p, by grid search: (loss, a, c)."""
    p = torch.as_tensor(p, dtype=torch.get_default_dtype()).reshape(-1)
    a = torch.linspace(0, 1.5, resolution)
    c = torch.linspace(-1, 1.5, resolution)
    a_grid, c_grid = torch.meshgrid(a, c, indexing="ij")
    losses = expected_loss(a_grid, -a_grid, c_grid, c_grid, p[:, None, None])
    flat = losses.flatten(1).min(dim=1)
    return flat.values, a_grid.flatten()[flat.indices], c_grid.flatten()[flat.indices]


@dataclass(frozen=True, kw_only=True)
class DescentConfig:
    """Plain gradient descent from many random starts at once (our choice; the seed gives none)."""

    n_starts: int = 48
    steps: int = 300
    lr: float = 0.05
    init_scale: float = 1.5
    """Starts are uniform in [-init_scale, init_scale] for every weight; biases start at 0."""


def uniform_value_losses(p: Scalar) -> Float[Tensor, "*grid 2"]:
    """Expected squared error per input (summed over both features) when an active feature is Uniform[0, 1].

    [..., 0]: the antipodal pair f = (1, -1), b = 0, exact unless both are on (probability p^2), when each
    readout errs by min(x1, x2), E[min^2] = 1/6: 2 p^2 / 6. [..., 1]: one dedicated feature, the dropped one
    read as its mean p/2, which costs its variance E[x^2] - E[x]^2 = p/3 - p^2/4.
    """
    p = torch.as_tensor(p, dtype=torch.float32)
    return torch.stack([p**2 / 3, p / 3 - p**2 / 4], dim=-1)


def random_starts(
    n_starts: int, *, n_biases: int = 0, scale: float = 1.5, generator: torch.Generator
) -> Float[Tensor, "inst params"]:
    """Rows (f1, f2, b...) with f uniform in [-scale, scale] and the `n_biases` biases at 0."""
    if n_starts < 1 or scale <= 0:
        raise ValueError(f"need n_starts >= 1 and scale > 0, got n_starts={n_starts}, scale={scale}")
    weights = (torch.rand(n_starts, 2, generator=generator) * 2 - 1) * scale
    return torch.cat([weights, torch.zeros(n_starts, n_biases)], dim=1)


def descent_step(loss_fn: LossFn, params: Float[Tensor, "inst params"], lr: float) -> Float[Tensor, "inst params"]:
    """One step of plain gradient descent on every row at once (each row follows its own gradient)."""
    params = params.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(params).sum(), params)
    return (params - lr * grad).detach()


def descend(
    loss_fn: LossFn,
    init: Float[Tensor, "inst params"],
    cfg: DescentConfig,
    *,
    step: Callable[[LossFn, Tensor, float], Tensor] = descent_step,
) -> Float[Tensor, "step inst params"]:
    """Run `cfg.steps` steps of `step` from every start; return the whole trajectory (init included)."""
    if init.dim() != 2:
        raise ValueError(f"init must have shape (inst, params), got shape {tuple(init.shape)}")
    path = [init.detach()]
    for _ in range(cfg.steps):
        path.append(step(loss_fn, path[-1], cfg.lr))
    return torch.stack(path)


def as_row_loss(loss: Callable[..., Tensor], *, n_biases: int) -> LossFn:
    """Wrap a loss of scalars (f1, f2[, b1, b2]) into a loss of rows (f1, f2[, b1, b2]).

    With n_biases=0 and a 4-argument loss, the biases are held at 0.
    """
    if n_biases == 2:
        return lambda rows: loss(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3])
    if n_biases == 0:
        return lambda rows: loss(rows[:, 0], rows[:, 1])
    raise ValueError(f"n_biases must be 0 or 2, got {n_biases}")


def classify(
    f: Float[Tensor, "inst feats"], *, tol: float = 0.1
) -> list[str]:
    """Name each learned solution: 'antipodal pair' (opposite signs), 'same side', 'one feature', 'none'."""
    big = f.abs() > tol
    names = []
    for (f1, f2), (big1, big2) in zip(f.tolist(), big.tolist(), strict=True):
        if big1 and big2:
            names.append("antipodal pair" if f1 * f2 < 0 else "same side")
        elif big1 or big2:
            names.append("one feature")
        else:
            names.append("none")
    return names


@dataclass(frozen=True, kw_only=True)
class DensitySweep:
    """Expected losses per density: fixed and best-bias pair and dedicated feature, and what training finds."""

    densities: Float[Tensor, " batch"]
    pair_fixed: Float[Tensor, " batch"]
    dedicated_fixed: Float[Tensor, " batch"]
    pair_best: Float[Tensor, " batch"]
    dedicated_best: Float[Tensor, " batch"]
    trained: Float[Tensor, " batch"]
    trained_params: Float[Tensor, "batch params"]
    """The best of the trained starts at each density: (f1, f2, b1, b2)."""


def density_sweep(
    densities: Float[Tensor, " batch"],
    *,
    n_starts: int = 24,
    steps: int = 600,
    lr: float = 0.03,
    generator: torch.Generator,
) -> DensitySweep:
    """Compare the pair with one dedicated feature at each density, and train (f, b) freely (Adam) from many starts."""
    densities = torch.as_tensor(densities, dtype=torch.get_default_dtype()).reshape(-1)
    state_probabilities(densities)  # validates the densities
    n = len(densities)
    p = densities.repeat_interleave(n_starts)
    rows = random_starts(n * n_starts, n_biases=2, scale=1.5, generator=generator)
    rows[:, 2:] = 0.01  # off the ReLU kink at 0, where the bias gradient vanishes
    rows.requires_grad_(True)
    # torch.optim.Adam's own arithmetic (its functional form): the optimiser class's first use imports
    # torch._dynamo, about 2 s of notebook 02's run.
    exp_avg, exp_avg_sq, step = torch.zeros_like(rows), torch.zeros_like(rows), torch.tensor(0.0)
    for _ in range(steps):
        loss = expected_loss(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3], p).sum()
        (grad,) = torch.autograd.grad(loss, [rows])
        with torch.no_grad():
            adam([rows], [grad], [exp_avg], [exp_avg_sq], [], [step], foreach=False, fused=False, capturable=False,
                 differentiable=False, has_complex=False, amsgrad=False, beta1=0.9, beta2=0.999, lr=lr,
                 weight_decay=0.0, eps=1e-8, maximize=False)
    with torch.no_grad():
        final = expected_loss(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3], p).view(n, n_starts)
        best = final.argmin(dim=1)
        trained_params = rows.detach().view(n, n_starts, 4)[torch.arange(n), best]
    return DensitySweep(
        densities=densities,
        pair_fixed=pair_loss_fixed_bias(densities),
        dedicated_fixed=dedicated_loss_fixed_bias(densities),
        pair_best=pair_loss_best_bias(densities)[0],
        dedicated_best=dedicated_loss_best_bias(densities),
        trained=final.min(dim=1).values,
        trained_params=trained_params,
    )


def crossover(
    densities: Float[Tensor, " batch"], first: Float[Tensor, " batch"], second: Float[Tensor, " batch"]
) -> float | None:
    """The first density where `first` stops being below `second` (linear interpolation), or None."""
    gap = (second - first).tolist()
    xs = densities.tolist()
    for i in range(1, len(xs)):
        if gap[i - 1] > 0 >= gap[i]:
            return xs[i - 1] + (xs[i] - xs[i - 1]) * gap[i - 1] / (gap[i - 1] - gap[i])
    return None


def loss_grid(
    lim: float = 2.0, n: int = 121
) -> tuple[Float[Tensor, " batch"], Float[Tensor, "batch batch"], Float[Tensor, "batch batch"]]:
    """The axis and the (f1, f2) grid over [-lim, lim]^2: f1[i, j] = axis[j], f2[i, j] = axis[i]."""
    if lim <= 0 or n < 2:
        raise ValueError(f"need lim > 0 and n >= 2, got lim={lim}, n={n}")
    axis = torch.linspace(-lim, lim, n)
    f1, f2 = torch.meshgrid(axis, axis, indexing="xy")
    return axis, f1, f2
