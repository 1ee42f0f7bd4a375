"""Export a trained SAE in SAELens's on-disk format (SAELens 6): a folder with `cfg.json` and
`sae_weights.safetensors`, which `sae_lens.SAE.load_from_disk(folder)` reads.

    course kind   SAELens architecture   weights (SAELens's layout: W_enc [d_in, d_sae], W_dec [d_sae, d_in])
    l1            standard               W_enc b_enc W_dec b_dec
    topk          topk (cfg k)           W_enc b_enc W_dec b_dec
    jumprelu      jumprelu               W_enc b_enc W_dec b_dec threshold
    batchtopk     jumprelu               ... threshold = the global threshold for every latent (as SAELens saves it)
    matryoshka    jumprelu               the same (its activations are BatchTopK's)
    gated         gated                  W_enc b_gate r_mag b_mag W_dec b_dec

SAELens encodes (x - b_dec) @ W_enc + b_enc (apply_b_dec_to_input), as the course does. Writing needs only
safetensors; SAELens itself is the optional extra `pip install -e ".[saelens]"`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import Tensor

from course_utils.sae.base import SAE

SAELENS_VERSION = "6.54.12"
"""The SAELens release the format follows (tests/test_sae_export.py loads the files with it)."""

ARCHITECTURES = {"l1": "standard", "topk": "topk", "jumprelu": "jumprelu", "batchtopk": "jumprelu",
                 "matryoshka": "jumprelu", "gated": "gated"}
"""The SAELens architecture each course kind is saved as."""


def saelens_state(sae: SAE, *, instance: int = 0, model_name: str = "", hook_name: str = "") -> tuple[dict[str, Any], dict[str, Tensor]]:
    """The cfg.json contents and the named weights of one instance, in SAELens's layout."""
    kind = sae.cfg.kind
    if not 0 <= instance < sae.cfg.n_inst:
        raise ValueError(f"instance must lie in 0..{sae.cfg.n_inst - 1}, got {instance}")
    architecture = ARCHITECTURES[kind]
    i = instance
    with torch.no_grad():
        weights = {
            "W_enc": sae.W_enc[i].T,
            "b_enc": sae.b_enc[i],
            "W_dec": sae.W_dec[i],
            "b_dec": sae.b_dec[i],
        }
        if kind == "jumprelu":
            weights["threshold"] = sae.threshold[i]
        elif kind in ("batchtopk", "matryoshka"):
            weights["threshold"] = sae.threshold[i].expand(sae.cfg.d_sae)
        elif kind == "gated":
            weights["b_gate"] = weights.pop("b_enc")
            weights["r_mag"], weights["b_mag"] = sae.r_mag[i], sae.b_mag[i]
        weights = {name: value.detach().float().cpu().contiguous().clone() for name, value in weights.items()}
    cfg: dict[str, Any] = {
        "architecture": architecture,
        "d_in": sae.cfg.d_in,
        "d_sae": sae.cfg.d_sae,
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": True,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "metadata": {
            "sae_lens_version": SAELENS_VERSION,
            "sae_lens_training_version": SAELENS_VERSION,
            "model_name": model_name,
            "hook_name": hook_name,
            "trained_with": f"course_utils.sae ({kind})",
        },
    }
    if kind == "topk":
        cfg["k"] = int(sae.k[i])
        cfg["rescale_acts_by_decoder_norm"] = False
    return cfg, weights


def export_saelens(sae: SAE, folder: str | Path, *, instance: int = 0, model_name: str = "", hook_name: str = "") -> Path:
    """Write one instance of `sae` to `folder` (cfg.json, sae_weights.safetensors); returns the folder."""
    cfg, weights = saelens_state(sae, instance=instance, model_name=model_name, hook_name=hook_name)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(folder / "sae_weights.safetensors"))
    (folder / "cfg.json").write_text(json.dumps(cfg, indent=2))
    return folder
