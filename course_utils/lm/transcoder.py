"""A transcoder (Dunefsky et al. 2024): a wide, sparse MLP trained to map the MLP's input to the MLP's output.

An SAE reconstructs an activation from itself; a transcoder predicts the MLP's output
`blocks.0.hook_mlp_out` from its input, the normalised residual stream `LN2(resid_mid)`, so it can
stand in for the whole MLP (the splice) and its latents read the residual stream linearly:

    pre = W_enc x + b_enc,   f = TopK_k(ReLU(pre)),   y_hat = W_dec^T f + b_dec,   loss = ||y - y_hat||^2

TopK (Gao et al. 2024) fixes the L0 instead of an L1 penalty (Dunefsky et al. sec. 3.1 train with L1).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn
from tqdm.auto import tqdm

from course_utils.lm.evaluate import windows_batches

HOOK_LN2 = "blocks.0.ln2.hook_normalized"
"""LN2's output before its weight and bias: (resid_mid - mean) / scale. The MLP reads it times w plus b."""
HOOK_MLP_OUT = "blocks.0.hook_mlp_out"
"""The MLP's output, written into the residual stream: what the transcoder predicts and replaces."""
TRANSCODER_WEIGHTS = "lm_transcoder.safetensors"
TRANSCODER_RECORD = "lm_transcoder.json"


@dataclass(frozen=True, kw_only=True)
class TranscoderConfig:
    """The transcoder's shape: d_in -> d_tc latents (k active) -> d_out."""

    d_in: int = 128
    d_out: int = 128
    d_tc: int = 1024  # 2x the MLP's 512 neurons, as the SAE of notebook 09 (Dunefsky et al. use 24,576 on GPT-2's 3,072)
    k: int = 16  # active latents per token, the L0 (the same k as notebook 09's SAE)

    def __post_init__(self) -> None:
        if min(self.d_in, self.d_out, self.d_tc) < 1:
            raise ValueError(f"d_in, d_out and d_tc must be positive, got {self.d_in}, {self.d_out}, {self.d_tc}")
        if not 1 <= self.k <= self.d_tc:
            raise ValueError(f"k must lie in 1..d_tc={self.d_tc}, got {self.k}")


class Transcoder(nn.Module):
    """W_enc[j] reads latent j from the MLP input; W_dec[j] is what it writes into the residual stream."""

    def __init__(self, cfg: TranscoderConfig, *, generator: torch.Generator | None = None):
        super().__init__()
        self.cfg = cfg
        W_dec = torch.randn(cfg.d_tc, cfg.d_out, generator=generator)
        W_dec /= W_dec.norm(dim=-1, keepdim=True)
        W_enc = torch.randn(cfg.d_tc, cfg.d_in, generator=generator) / cfg.d_in**0.5
        self.W_enc = nn.Parameter(W_enc)
        self.b_enc = nn.Parameter(torch.zeros(cfg.d_tc))
        self.W_dec = nn.Parameter(W_dec)
        self.b_dec = nn.Parameter(torch.zeros(cfg.d_out))

    def pre_acts(self, x: Float[Tensor, "batch d_in"]) -> Float[Tensor, "batch d_tc"]:
        """W_enc x + b_enc: linear in the MLP input, hence (with LN2's scale frozen) in the residual stream."""
        if x.shape[-1] != self.cfg.d_in:
            raise ValueError(f"transcoder input has {x.shape[-1]} features; expected d_in={self.cfg.d_in}")
        return x @ self.W_enc.T + self.b_enc

    def activation(self, pre: Float[Tensor, "batch d_tc"]) -> Float[Tensor, "batch d_tc"]:
        """ReLU of the k largest pre-activations, zero elsewhere: an active latent's value is its pre-activation."""
        values, index = pre.topk(self.cfg.k, dim=-1)
        return torch.zeros_like(pre).scatter(-1, index, F.relu(values))

    def encode(self, x: Float[Tensor, "batch d_in"]) -> Float[Tensor, "batch d_tc"]:
        return self.activation(self.pre_acts(x))

    def decode(self, acts: Float[Tensor, "batch d_tc"]) -> Float[Tensor, "batch d_out"]:
        return acts @ self.W_dec + self.b_dec

    def forward(self, x: Float[Tensor, "batch d_in"]) -> Float[Tensor, "batch d_out"]:
        return self.decode(self.encode(x))


def mlp_input(model: Any, normalized: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_model"]:
    """The MLP's input from LN2's normalised residual: normalized * w + b."""
    return normalized * model.blocks[0].ln2.w + model.blocks[0].ln2.b


@dataclass(frozen=True, kw_only=True)
class MLPPairs:
    """MLP inputs and outputs, one row per token."""

    x: Float[Tensor, "batch d_model"]
    y: Float[Tensor, "batch d_model"]


@torch.no_grad()
def mlp_pairs(model: Any, windows: Int[Tensor, "batch pos"], *, batch_size: int = 64) -> MLPPairs:
    """Run the model over windows and keep (MLP input, MLP output) at every position: a transcoder's data."""
    xs, ys = [], []
    for batch in windows_batches(windows, batch_size):
        _, cache = model.run_with_cache(batch, names_filter=[HOOK_LN2, HOOK_MLP_OUT], return_type=None)
        xs.append(mlp_input(model, cache[HOOK_LN2]).flatten(0, 1))
        ys.append(cache[HOOK_MLP_OUT].flatten(0, 1))
    return MLPPairs(x=torch.cat(xs), y=torch.cat(ys))


@dataclass(frozen=True, kw_only=True)
class TranscoderTrainConfig:
    """Adam on the MSE of the MLP's output, lr decayed linearly over the last 20% (Conerly et al. 2024)."""

    steps: int = 3000
    batch_size: int = 1024
    lr: float = 2e-3
    decay_start: float = 0.8
    seed: int = 0


@dataclass(kw_only=True)
class TranscoderLog:
    """Per-step MSE and the seconds it took (detached CPU tensors)."""

    mse: Float[Tensor, " steps"] = field(default_factory=lambda: torch.zeros(0))
    seconds: float = 0.0


def _batches(pairs: MLPPairs, size: int, generator: torch.Generator) -> Iterator[tuple[Tensor, Tensor]]:
    while True:
        rows = torch.randint(0, len(pairs.x), (size,), generator=generator)
        yield pairs.x[rows], pairs.y[rows]


def train_transcoder(
    transcoder: Transcoder, cfg: TranscoderTrainConfig, pairs: MLPPairs, *, progress: bool = True
) -> TranscoderLog:
    """Train in place to predict pairs.y from pairs.x (b_dec starts at the mean output); return the MSE per step."""
    if len(pairs.x) != len(pairs.y):
        raise ValueError(f"{len(pairs.x)} inputs but {len(pairs.y)} outputs; pass both from mlp_pairs")
    generator = torch.Generator().manual_seed(cfg.seed)
    with torch.no_grad():
        transcoder.b_dec.copy_(pairs.y.mean(0))
    optimizer = torch.optim.Adam(transcoder.parameters(), lr=cfg.lr)
    decay_from = int(cfg.decay_start * cfg.steps)
    mse = torch.zeros(cfg.steps)
    start = time.perf_counter()
    batches = _batches(pairs, cfg.batch_size, generator)
    for step in tqdm(range(cfg.steps), desc="transcoder", disable=not progress):
        if step >= decay_from:
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * (cfg.steps - step) / max(1, cfg.steps - decay_from)
        x, y = next(batches)
        loss = (transcoder(x) - y).pow(2).sum(-1).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        mse[step] = loss.detach()
    return TranscoderLog(mse=mse, seconds=time.perf_counter() - start)


def transcoder_hooks(model: Any, transcoder: Transcoder | Callable[[Tensor], Tensor]) -> list[tuple[str, Callable]]:
    """Forward hooks that replace the MLP's output by transcoder(MLP input): the splice."""
    stored: dict[str, Tensor] = {}

    def keep_input(normalized: Tensor, hook: Any) -> None:
        stored["x"] = mlp_input(model, normalized)

    def replace_output(mlp_out: Tensor, hook: Any) -> Tensor:
        x = stored.pop("x")
        return transcoder(x.reshape(-1, x.shape[-1])).reshape(mlp_out.shape).to(mlp_out.dtype)

    return [(HOOK_LN2, keep_input), (HOOK_MLP_OUT, replace_output)]


def save_transcoder(transcoder: Transcoder, folder: Path | str, record: dict[str, Any]) -> Path:
    """Write the parameters (float16 safetensors, half the size) and the record of how they were made (JSON)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({name: p.detach().half().contiguous() for name, p in transcoder.named_parameters()},
              str(folder / TRANSCODER_WEIGHTS))
    (folder / TRANSCODER_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return folder / TRANSCODER_WEIGHTS


def load_transcoder_record(folder: Path | str | None = None) -> dict[str, Any]:
    """The JSON record of the shipped transcoder (or of one in folder)."""
    from course_utils.lm.model import assets_dir

    path = (assets_dir() if folder is None else Path(folder)) / TRANSCODER_RECORD
    if not path.is_file():
        raise FileNotFoundError(f"no {TRANSCODER_RECORD} in {path.parent}; "
                                f"train one with `course train-transcoder --out {path.parent}`")
    return json.loads(path.read_text(encoding="utf-8"))


def load_transcoder(folder: Path | str | None = None) -> Transcoder:
    """The trained transcoder (shipped in course_utils/assets by default), offline."""
    from safetensors.torch import load_file

    from course_utils.lm.model import assets_dir

    folder = assets_dir() if folder is None else Path(folder)
    record = load_transcoder_record(folder)
    transcoder = Transcoder(TranscoderConfig(**record["transcoder"]))
    transcoder.load_state_dict({name: t.float() for name, t in load_file(str(folder / TRANSCODER_WEIGHTS)).items()})
    return transcoder.eval()


def scored_windows(windows: Int[Tensor, "batch pos"], n: int = 128) -> Int[Tensor, "n pos"]:
    """n evenly spaced held-out windows: the ones notebooks 09 and 10 score the loss on."""
    return windows[torch.linspace(0, len(windows) - 1, n).round().long()]


def train_windows(model: Any, n_windows: int, *, seed: int = 0) -> Int[Tensor, "batch pos"]:
    """n_windows random windows of the train split (the transcoder never sees held-out text)."""
    from course_utils.data.text import concatenated, load_documents
    from course_utils.lm.train import random_windows

    stream = concatenated(load_documents("train"))
    return random_windows(stream, n_windows, model.cfg.n_ctx, torch.Generator().manual_seed(seed))


def train_and_save_transcoder(
    out: Path | str,
    cfg: TranscoderConfig | None = None,
    train_cfg: TranscoderTrainConfig | None = None,
    *,
    n_windows: int = 1024,
    command: str = "",
    progress: bool = True,
) -> dict[str, Any]:
    """What `course train-transcoder` does: harvest train text, train, score on held-out text, save; return the record."""
    from course_utils.lm.evaluate import bits_per_byte, held_out_windows, loss_recovered, zero_hook
    from course_utils.lm.model import load_lm

    cfg = TranscoderConfig() if cfg is None else cfg
    train_cfg = TranscoderTrainConfig() if train_cfg is None else train_cfg
    model = load_lm()
    pairs = mlp_pairs(model, train_windows(model, n_windows, seed=train_cfg.seed))
    transcoder = Transcoder(cfg, generator=torch.Generator().manual_seed(train_cfg.seed))
    log = train_transcoder(transcoder, train_cfg, pairs, progress=progress)
    save_transcoder(transcoder, out, {"transcoder": asdict(cfg)})
    transcoder = load_transcoder(out)  # score what ships: the float16 weights
    _, windows, _ = held_out_windows(model.cfg.n_ctx)
    scored = scored_windows(windows)
    with torch.no_grad():
        acts = transcoder.encode(mlp_pairs(model, scored).x)
        clean = bits_per_byte(model, scored)
        spliced = bits_per_byte(model, scored, fwd_hooks=transcoder_hooks(model, transcoder))
        ablated = bits_per_byte(model, scored, fwd_hooks=[(HOOK_MLP_OUT, zero_hook)])
    record = {
        "command": command,
        "transcoder": asdict(cfg),
        "train": asdict(train_cfg),
        "train_windows": n_windows,
        "train_rows": len(pairs.x),
        "torch": torch.__version__,
        "train_seconds": round(log.seconds, 1),
        "final_train_mse": round(log.mse[-100:].mean().item(), 5),
        "eval_windows": "128 evenly spaced held-out windows (scored_windows)",
        "eval_clean_bits_per_byte": round(clean, 4),
        "eval_spliced_bits_per_byte": round(spliced, 4),
        "eval_ablated_bits_per_byte": round(ablated, 4),
        "eval_loss_recovered": round(loss_recovered(clean, spliced, ablated), 4),
        "eval_l0": round((acts > 0).sum(-1).float().mean().item(), 3),
        "eval_dead_fraction": round(((acts > 0).sum(0) == 0).float().mean().item(), 4),
    }
    save_transcoder(transcoder, out, record)
    return record
