"""Deterministic CPU training of the model on the train split (what `course train-lm` runs)."""

from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from course_utils.data.text import concatenated, document_windows, load_documents
from course_utils.lm.evaluate import (
    bigram_bits_per_byte,
    bigram_log_probs,
    bits_per_byte,
    eval_subset,
)
from course_utils.lm.model import LMConfig, make_model, save_lm


@dataclass(frozen=True, kw_only=True)
class LMTrainConfig:
    """Training: AdamW with linear warm-up and cosine decay, random windows of the train split."""

    steps: int = 2000  # sized to train in about 10 minutes on a busy 2-core CPU
    batch_size: int = 32
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100  # capped at steps // 10 for short runs
    weight_decay: float = 0.01
    init_std: float = 0.02  # GPT-2's initialisation (Radford et al. 2019)
    seed: int = 0


@dataclass(kw_only=True)
class LMTrainLog:
    """Per-step training loss (nats per predicted byte), as detached CPU tensors."""

    loss: Float[Tensor, " steps"] = field(default_factory=lambda: torch.zeros(0))
    seconds: float = 0.0


def random_windows(
    stream: Int[Tensor, " pos"], batch_size: int, n_ctx: int, generator: torch.Generator
) -> Int[Tensor, "batch pos"]:
    """A batch of random windows of n_ctx consecutive tokens of the stream (int64)."""
    if len(stream) <= n_ctx:
        raise ValueError(f"the stream has {len(stream)} tokens, fewer than n_ctx + 1 = {n_ctx + 1}")
    starts = torch.randint(0, len(stream) - n_ctx, (batch_size,), generator=generator)
    return stream[starts[:, None] + torch.arange(n_ctx)].long()


def lr_at(step: int, cfg: LMTrainConfig) -> float:
    """Linear warm-up (at most a tenth of the run) then cosine decay to min_lr_ratio * lr."""
    warmup = max(1, min(cfg.warmup_steps, cfg.steps // 10))
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, cfg.steps - warmup)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def train_lm(model: Any, cfg: LMTrainConfig, stream: Int[Tensor, " pos"], *, progress: bool = True) -> LMTrainLog:
    """Train in place on random windows of `stream` (seeded by cfg.seed); return the loss per step."""
    generator = torch.Generator().manual_seed(cfg.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99), weight_decay=cfg.weight_decay)
    losses = torch.zeros(cfg.steps)
    model.train()
    start = time.perf_counter()
    bar = tqdm(range(cfg.steps), desc="train-lm", disable=not progress)
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg)
        tokens = random_windows(stream, cfg.batch_size, model.cfg.n_ctx, generator)
        loss = model(tokens, return_type="loss")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses[step] = loss.detach()
        if step % 50 == 0:
            bar.set_postfix(bits_per_byte=f"{loss.item() / math.log(2):.3f}")
    model.eval()
    return LMTrainLog(loss=losses, seconds=time.perf_counter() - start)


def train_and_save(
    out: Path | str,
    train_cfg: LMTrainConfig | None = None,
    model_cfg: LMConfig | None = None,
    *,
    command: str = "",
    progress: bool = True,
    root: Path | None = None,
) -> dict[str, Any]:
    """What `course train-lm` does: train on the train split, evaluate on the held-out split, save; return the record.

    root: the corpus folder (the running interpreter's stdlib by default).
    """
    train_cfg = LMTrainConfig() if train_cfg is None else train_cfg
    model_cfg = LMConfig() if model_cfg is None else model_cfg
    train_docs = load_documents("train", root)
    held_out_docs = load_documents("held_out", root)
    stream = concatenated(train_docs)
    windows, _ = document_windows(held_out_docs, model_cfg.n_ctx)
    model = make_model(model_cfg, seed=train_cfg.seed, init_std=train_cfg.init_std)
    log = train_lm(model, train_cfg, stream, progress=progress)
    record = {
        "command": command,
        "model": asdict(model_cfg),
        "train": asdict(train_cfg),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "corpus": {
            "train_files": len(train_docs),
            "train_bytes": int(len(stream)),
            "held_out_files": len(held_out_docs),
            "held_out_windows": int(len(windows)),
        },
        "train_seconds": round(log.seconds, 1),
        "final_train_bits_per_byte": round(log.loss[-100:].mean().item() / math.log(2), 4),
        "held_out_bits_per_byte": round(bits_per_byte(model, windows), 4),
        "bigram_held_out_bits_per_byte": round(bigram_bits_per_byte(bigram_log_probs(stream), windows), 4),
        "eval_subset_bits_per_byte": round(bits_per_byte(model, eval_subset(windows)), 4),
        "eval_subset_bigram_bits_per_byte": round(bigram_bits_per_byte(bigram_log_probs(stream), eval_subset(windows)), 4),
    }
    save_lm(model, out, record)
    return record
