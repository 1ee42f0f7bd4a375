"""A training step by autograd through `SAE.losses`, for the architectures without a hand-written step
(Gated, JumpReLU, BatchTopK, Matryoshka): the same StepResult as `course_utils.sae.step`."""

from __future__ import annotations

from jaxtyping import Bool
from torch import Tensor

from course_utils.sae.base import SAE
from course_utils.sae.step import StepResult


def autograd_step_grads_(
    sae: SAE, x: Tensor, *, dead: Bool[Tensor, "inst d_sae"] | None = None, l1_scale: float = 1.0
) -> StepResult:
    """Set every parameter's .grad to the gradient of `sae.losses(x, sae.training_forward(x))["loss"].sum()`."""
    for param in sae.parameters():
        param.grad = None
    out = sae.training_forward(x)
    losses = sae.losses(x, out, dead=dead, l1_scale=l1_scale)
    losses["loss"].sum().backward()
    return StepResult(
        losses={key: value.detach() for key, value in losses.items()},
        x_hat=out.x_hat.detach(),
        fires=(out.acts.detach() > 0).sum(0).to(out.x_hat.dtype),
    )
