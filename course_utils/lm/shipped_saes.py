"""TopK SAEs of several widths on the model's MLP activations, trained once by `course train-saes` and shipped.

They are trained on activations of the train split (never the held-out files), with one recipe and
seed for every width, so that notebook 09 can compare widths (feature splitting) without training them.
The weights are stored as int8 with one float scale per latent (see `quantize_rows`), a quarter of
float32's size; the record holds what they score on held-out rows after that rounding.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float, Int8
from torch import Tensor

from course_utils.data.text import document_windows, load_documents
from course_utils.lm.evaluate import (
    bits_per_byte,
    held_out_windows,
    loss_recovered,
    replace_hook,
    zero_hook,
)
from course_utils.lm.harvest import harvest
from course_utils.lm.model import HOOK_POST, assets_dir, load_lm

SAES_RECORD = "sae_stdlib.json"


def sae_weights_name(width: int) -> str:
    """The file name of one width's weights."""
    return f"sae_stdlib_{width}.safetensors"


@dataclass(frozen=True, kw_only=True)
class ShippedSAEConfig:
    """The recipe of the shipped SAEs: the TopK SAE of Gao et al. (2024) with AuxK, one recipe for all widths."""

    widths: tuple[int, ...] = (256, 1024, 2048)  # x4 and x2: Bricken et al. (2023) compare 512 .. 131,072 latents
    k: int = 16  # active latents per byte (L0), the same for every width
    train_windows: int = 2048  # evenly spaced windows of 128 bytes of the train split: 262,144 rows
    steps: int = 2000
    batch_size: int = 1024
    lr: float = 2e-3
    dead_after: int = 100_000  # rows without firing before AuxK treats a latent as dead
    eval_windows: int = 128  # evenly spaced held-out windows for the record's numbers
    seed: int = 0


def quantize_rows(weight: Float[Tensor, "rows cols"]) -> tuple[Int8[Tensor, "rows cols"], Float[Tensor, " rows"]]:
    """Symmetric int8 per row: weight ~ q * scale[:, None], q in -127..127 (relative error under 1/254 of a row's max)."""
    scale = weight.abs().amax(dim=1).clamp_min(1e-12) / 127.0
    return torch.round(weight / scale[:, None]).to(torch.int8), scale.float()


def dequantize_rows(q: Int8[Tensor, "rows cols"], scale: Float[Tensor, " rows"]) -> Float[Tensor, "rows cols"]:
    """The float32 weight of `quantize_rows`."""
    return q.float() * scale[:, None]


def _state_for_disk(sae: Any) -> dict[str, Tensor]:
    state = {}
    for name in ("W_enc", "W_dec"):
        q, scale = quantize_rows(getattr(sae, name).detach()[0])
        state[f"{name}.q"], state[f"{name}.scale"] = q.contiguous(), scale.contiguous()
    state["b_enc"] = sae.b_enc.detach()[0].float().contiguous()
    state["b_dec"] = sae.b_dec.detach()[0].float().contiguous()
    return state


def _sae_from_state(state: dict[str, Tensor], k: int) -> Any:
    from course_utils.sae import SAEConfig, make_sae

    d_sae, d_in = state["W_dec.q"].shape
    sae = make_sae(SAEConfig(d_in=d_in, d_sae=d_sae, kind="topk", k=k))
    with torch.no_grad():
        sae.W_enc.copy_(dequantize_rows(state["W_enc.q"], state["W_enc.scale"])[None])
        sae.W_dec.copy_(dequantize_rows(state["W_dec.q"], state["W_dec.scale"])[None])
        sae.b_enc.copy_(state["b_enc"][None])
        sae.b_dec.copy_(state["b_dec"][None])
    return sae.eval()


def load_shipped_record(folder: Path | str | None = None) -> dict[str, Any]:
    """The JSON record of how the shipped SAEs were made and what they score on held-out rows."""
    path = (assets_dir() if folder is None else Path(folder)) / SAES_RECORD
    if not path.is_file():
        raise FileNotFoundError(f"no {SAES_RECORD} in {path.parent}; make them with `course train-saes --out {path.parent}`")
    return json.loads(path.read_text(encoding="utf-8"))


def load_shipped_sae(width: int, folder: Path | str | None = None) -> Any:
    """One shipped TopK SAE (a `course_utils.sae.TopKSAE`, one instance), offline."""
    from safetensors.torch import load_file

    folder = assets_dir() if folder is None else Path(folder)
    record = load_shipped_record(folder)
    widths = record["config"]["widths"]
    if width not in widths:
        raise ValueError(f"no shipped SAE of width {width}; the shipped widths are {widths}")
    return _sae_from_state(load_file(str(folder / sae_weights_name(width))), record["config"]["k"])


def _rows(model: Any, windows: Tensor, origins: Tensor) -> Tensor:
    return harvest(model, windows, origins).acts


@torch.no_grad()
def evaluate_sae(model: Any, sae: Any, rows: Float[Tensor, "n hidden"], windows: Tensor) -> dict[str, float]:
    """Held-out numbers of one SAE: L0, FVU and dead fraction on rows, spliced loss and loss recovered on windows."""
    from course_utils.metrics.dictionary import fvu

    out = sae(rows)
    acts = out.acts[:, 0]
    clean = bits_per_byte(model, windows)
    ablated = bits_per_byte(model, windows, fwd_hooks=[(HOOK_POST, zero_hook)])
    spliced = bits_per_byte(model, windows, fwd_hooks=[(HOOK_POST, replace_hook(lambda x: sae(x).x_hat[:, 0]))])
    return {
        "l0": round(float((acts > 0).sum(-1).float().mean()), 3),
        "fvu": round(float(fvu(rows, out.x_hat)), 4),
        "dead_fraction": round(float(((acts > 0).sum(0) == 0).float().mean()), 4),
        "spliced_bits_per_byte": round(spliced, 4),
        "loss_recovered": round(loss_recovered(clean, spliced, ablated), 4),
    }


def held_out_eval_data(model: Any, n_windows: int) -> tuple[Tensor, Tensor]:
    """The record's held-out data: n evenly spaced held-out windows and their MLP activations."""
    _, windows, origins = held_out_windows(model.cfg.n_ctx)
    index = torch.linspace(0, len(windows) - 1, n_windows).round().long()
    return _rows(model, windows[index], origins[index]), windows[index]


def train_shipped_saes(
    out: Path | str, cfg: ShippedSAEConfig | None = None, *, command: str = "", progress: bool = True
) -> dict[str, Any]:
    """What `course train-saes` does: harvest the train split, train one TopK SAE per width, save int8; the record."""
    from safetensors.torch import save_file

    from course_utils.sae import SAEConfig, TrainConfig, init_b_dec_, make_sae, train

    cfg = ShippedSAEConfig() if cfg is None else cfg
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = load_lm()
    windows, origins = document_windows(load_documents("train"), model.cfg.n_ctx)
    pick = torch.linspace(0, len(windows) - 1, cfg.train_windows).round().long()
    acts = _rows(model, windows[pick], origins[pick])
    eval_rows, eval_windows = held_out_eval_data(model, cfg.eval_windows)
    record: dict[str, Any] = {"command": command, "config": asdict(cfg) | {"widths": list(cfg.widths)}, "python": platform.python_version(),
                              "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                              "train_rows": len(acts), "held_out_rows": len(eval_rows),
                              "held_out_clean_bits_per_byte": round(bits_per_byte(model, eval_windows), 4),
                              "held_out_zero_ablated_bits_per_byte": round(
                                  bits_per_byte(model, eval_windows, fwd_hooks=[(HOOK_POST, zero_hook)]), 4),
                              "widths": {}}
    for width in cfg.widths:
        sae = make_sae(SAEConfig(d_in=acts.shape[1], d_sae=width, kind="topk", k=cfg.k),
                       generator=torch.Generator().manual_seed(cfg.seed))
        init_b_dec_(sae, acts[:4096])
        generator = torch.Generator().manual_seed(cfg.seed + 1)

        def batches(generator: torch.Generator = generator):
            while True:
                yield acts[torch.randint(0, len(acts), (cfg.batch_size,), generator=generator)]

        start = time.perf_counter()
        train(sae, TrainConfig(steps=cfg.steps, lr=cfg.lr, dead_after=cfg.dead_after, log_every=cfg.steps),
              batches(), progress=progress)
        seconds = time.perf_counter() - start
        state = _state_for_disk(sae)
        save_file(state, str(out / sae_weights_name(width)))
        shipped = _sae_from_state(state, cfg.k)  # the record scores what ships, after int8 rounding
        record["widths"][str(width)] = {"train_seconds": round(seconds, 1),
                                        "held_out": evaluate_sae(model, shipped, eval_rows, eval_windows)}
    (out / SAES_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record
