"""Adam for the SAE trainer: torch.optim.Adam(fused=True)'s arithmetic, without the optimiser class's first-use cost.

The first call of a torch.optim optimiser's methods imports torch._dynamo (about 2 s of a notebook kernel's time on
a laptop CPU), because each is wrapped to keep torch.compile out. torch's functional `torch.optim.adam.adam` is not,
and it is what `torch.optim.Adam(fused=True).step()` runs, so the numbers are the same bit for bit (tests/test_sae.py).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn
from torch.optim.adam import adam


class FusedAdam:
    """Adam over `params` (no weight decay) with a settable `lr`; `state[param]` holds exp_avg and exp_avg_sq,
    which resampling resets for revived latents, as torch.optim.Adam's state does."""

    def __init__(self, params: Iterable[nn.Parameter], *, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.betas, self.eps = lr, betas, eps
        self.state: dict[Tensor, dict[str, Tensor]] = {}

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step of every parameter that has a .grad."""
        params = [p for p in self.params if p.grad is not None]
        for p in params:
            if p not in self.state:  # as torch.optim.Adam sets it up at a parameter's first step
                self.state[p] = {"step": torch.tensor(0.0, dtype=torch.float32),
                                 "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                                 "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format)}
        if not params:
            return
        states = [self.state[p] for p in params]
        adam(params, [p.grad for p in params], [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
             [], [s["step"] for s in states], fused=True, foreach=False, capturable=False, differentiable=False,
             has_complex=False, amsgrad=False, beta1=self.betas[0], beta2=self.betas[1], lr=self.lr,
             weight_decay=0.0, eps=self.eps, maximize=False)
