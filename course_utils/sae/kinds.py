"""Every SAE architecture by the name `SAEConfig.kind` gives it."""

from __future__ import annotations

import torch

from course_utils.sae.base import SAE, SAEConfig
from course_utils.sae.batchtopk import BatchTopKSAE
from course_utils.sae.gated import GatedSAE
from course_utils.sae.jumprelu import JumpReLUSAE
from course_utils.sae.matryoshka import MatryoshkaSAE
from course_utils.sae.relu import L1SAE
from course_utils.sae.topk import TopKSAE

SAE_CLASSES: dict[str, type[SAE]] = {
    "l1": L1SAE,
    "topk": TopKSAE,
    "gated": GatedSAE,
    "jumprelu": JumpReLUSAE,
    "batchtopk": BatchTopKSAE,
    "matryoshka": MatryoshkaSAE,
}
"""The class of each kind."""


def make_sae(cfg: SAEConfig, *, generator: torch.Generator | None = None) -> SAE:
    """The SAE class that cfg.kind names (SAE_CLASSES)."""
    return SAE_CLASSES[cfg.kind](cfg, generator=generator)
