"""The model: config, construction with an explicit generator, the shipped checkpoint, sampling."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from course_utils.data.text import VOCAB_SIZE, decode, encode

HOOK_POST = "blocks.0.mlp.hook_post"
"""The MLP neurons' activations (after GELU): what the SAE of this chapter reads and rewrites."""
HOOK_RESID_MID = "blocks.0.hook_resid_mid"
"""The residual stream after attention, before the MLP: with hook_post, all that the logits depend on."""
WEIGHTS_NAME = "lm_stdlib.safetensors"
RECORD_NAME = "lm_stdlib.json"


@dataclass(frozen=True, kw_only=True)
class LMConfig:
    """The model: one layer, attention + MLP, in the spirit of Bricken et al. (2023)'s one-layer model, shrunk for a CPU."""

    d_model: int = 128
    n_heads: int = 4
    d_mlp: int = 512  # Bricken et al. (2023) use d_mlp = 4 * d_model too (512 neurons)
    n_ctx: int = 128
    act_fn: str = "gelu"  # Bricken et al. (2023): GELU MLP
    normalization_type: str = "LN"
    d_vocab: int = VOCAB_SIZE


def hooked_config(cfg: LMConfig) -> Any:
    """The TransformerLens `HookedTransformerConfig` of an `LMConfig`."""
    from transformer_lens import HookedTransformerConfig

    return HookedTransformerConfig(
        n_layers=1,
        d_model=cfg.d_model,
        n_heads=cfg.n_heads,
        d_head=cfg.d_model // cfg.n_heads,
        d_mlp=cfg.d_mlp,
        n_ctx=cfg.n_ctx,
        d_vocab=cfg.d_vocab,
        act_fn=cfg.act_fn,
        normalization_type=cfg.normalization_type,
        init_weights=False,  # initialised below with an explicit generator, not the global RNG
        device="cpu",
    )


def make_model(cfg: LMConfig | None = None, *, seed: int = 0, init_std: float = 0.02) -> Any:
    """A freshly initialised `HookedTransformer` (weights N(0, init_std), biases 0, LayerNorm 1/0)."""
    cfg = LMConfig() if cfg is None else cfg
    if cfg.d_model % cfg.n_heads:
        raise ValueError(f"d_model ({cfg.d_model}) must be a multiple of n_heads ({cfg.n_heads})")
    with warnings.catch_warnings():
        # transformer-lens 3.x announces HookedTransformer's removal in 4.0; we pin <4 (see pyproject.toml).
        warnings.filterwarnings("ignore", message="HookedTransformer is deprecated", category=DeprecationWarning)
        from transformer_lens import HookedTransformer

        model = HookedTransformer(hooked_config(cfg))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if leaf.startswith("W_"):
                param.copy_(torch.randn(param.shape, generator=generator) * init_std)
            elif leaf == "w":  # LayerNorm scale
                param.fill_(1.0)
            else:
                param.zero_()
    return model.eval()


def output_logits(model: Any, direction: Float[Tensor, " hidden"]) -> Float[Tensor, " vocab"]:
    """The direct effect on the logits of one unit of MLP direction: direction @ W_out @ W_U (final LayerNorm ignored)."""
    if direction.shape != (model.cfg.d_mlp,):
        raise ValueError(f"direction has shape {tuple(direction.shape)}; expected ({model.cfg.d_mlp},), one MLP direction")
    with torch.no_grad():
        return direction.float() @ model.W_out[0] @ model.W_U


def assets_dir() -> Path:
    """The folder of the shipped checkpoint inside the installed package."""
    return Path(str(resources.files("course_utils") / "assets"))


def save_lm(model: Any, folder: Path | str, record: dict[str, Any]) -> Path:
    """Write the parameters as safetensors and the record (config, training, losses) as JSON."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    params = {name: p.detach().contiguous() for name, p in model.named_parameters()}
    save_file(params, str(folder / WEIGHTS_NAME))
    (folder / RECORD_NAME).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return folder / WEIGHTS_NAME


def load_record(folder: Path | str | None = None) -> dict[str, Any]:
    """The JSON record of how a checkpoint was made (the shipped one by default)."""
    path = (assets_dir() if folder is None else Path(folder)) / RECORD_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no {RECORD_NAME} in {path.parent}; train one with `course train-lm --out {path.parent}`")
    return json.loads(path.read_text(encoding="utf-8"))


def load_lm(folder: Path | str | None = None) -> Any:
    """The trained model (the checkpoint shipped in course_utils/assets by default), in eval mode, offline."""
    from safetensors.torch import load_file

    folder = assets_dir() if folder is None else Path(folder)
    record = load_record(folder)
    model = make_model(LMConfig(**record["model"]))
    missing, unexpected = model.load_state_dict(load_file(str(folder / WEIGHTS_NAME)), strict=False)
    buffers = {name for name, _ in model.named_buffers()}
    if unexpected or set(missing) - buffers:
        raise ValueError(f"{folder / WEIGHTS_NAME} does not match the config: missing {missing}, unexpected {unexpected}")
    return model.eval()


@torch.no_grad()
def sample(
    model: Any,
    prompt: str,
    n_bytes: int,
    *,
    generator: torch.Generator,
    temperature: float = 1.0,
    fwd_hooks: list[tuple[str, Any]] | None = None,
) -> str:
    """Continue a prompt byte by byte, sampling from the model (temperature 0: greedy), with hooks if given."""
    tokens = encode(prompt)
    if len(tokens) == 0:
        raise ValueError("the prompt is empty; give at least one character, e.g. 'def '")
    for _ in range(n_bytes):
        logits = model.run_with_hooks(tokens[None, -model.cfg.n_ctx :], return_type="logits",
                                      fwd_hooks=fwd_hooks or [])[0, -1]
        if temperature == 0:
            nxt = logits.argmax()
        else:
            nxt = torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=generator)[0]
        tokens = torch.cat([tokens, nxt.reshape(1)])
    return decode(tokens)
