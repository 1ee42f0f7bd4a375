"""Every SAE architecture by the name `SAEConfig.kind` gives it."""

from __future__ import annotations

import torch

from course_utils.sae.base import SAE, SAEConfig
from course_utils.sae.relu import L1SAE
from course_utils.sae.topk import TopKSAE

SAE_CLASSES: dict[str, type[SAE]] = {"l1": L1SAE, "topk": TopKSAE}
"""The class of each kind."""


def make_sae(cfg: SAEConfig, *, generator: torch.Generator | None = None) -> SAE:
    """An L1SAE or a TopKSAE, as cfg.kind says."""
    return SAE_CLASSES[cfg.kind](cfg, generator=generator)
