"""What this course holds: its notebooks in order, the names they had before, and its own commands.

The machinery (`course_utils.course`) reads this module by name (`course_utils.course.contents`), so it
never depends on the science; the science never imports this module.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path

from course_utils.course.doctor import Finding

NOTEBOOKS: dict[str, str] = {
    "01_polysemanticity": "course_utils.exercises.nb01_polysemanticity",
    "02_antipodal_pair": "course_utils.exercises.nb02_antipodal_pair",
    "03_toy_models": "course_utils.exercises.nb03_toy_models",
    "04_feature_geometry": "course_utils.exercises.nb04_feature_geometry",
    "05_computation_in_superposition": "course_utils.exercises.nb05_computation_in_superposition",
    "06_memorization_and_double_descent": "course_utils.exercises.nb06_memorization_and_double_descent",
    "07_sparse_autoencoders": "course_utils.exercises.nb07_sparse_autoencoders",
    "08_sae_variants": "course_utils.exercises.nb08_sae_variants",
    "09_saes_on_a_transformer": "course_utils.exercises.nb09_saes_on_a_transformer",
    "10_transcoders_and_attribution": "course_utils.exercises.nb10_transcoders_and_attribution",
}
"""Each course notebook's id and the module holding its exercises' references and verifiers."""

FORMER_NAMES: dict[str, str] = {
    "05_sparse_autoencoders": "07_sparse_autoencoders",
    "06_saes_on_a_transformer": "09_saes_on_a_transformer",
}
"""Ids of the six-notebook course (before the renumbering to ten) and what each notebook is called now."""

ASSETS = Path(__file__).resolve().parent / "assets"


def add_commands(commands: argparse._SubParsersAction) -> None:
    """The course's own `course` subcommands: `course train-lm`, `course train-saes`, `course train-transcoder`."""
    train_lm = commands.add_parser(
        "train-lm",
        help="train the small transformer of notebook 09 on the stdlib's source",
        description="Train the one-layer byte-level transformer on the train split of Python's standard "
        "library, deterministically on the CPU; write OUT/lm_stdlib.safetensors and OUT/lm_stdlib.json.",
    )
    train_lm.add_argument("--steps", type=int, default=2000, help="optimiser steps (default 2000)")
    train_lm.add_argument("--batch-size", type=int, default=32, help="windows of 128 bytes per step (default 32)")
    train_lm.add_argument("--seed", type=int, default=0, help="seed of the initialisation and the batches (default 0)")
    train_lm.add_argument("--out", default="lm_stdlib", help="output folder (default ./lm_stdlib)")
    train_lm.set_defaults(func=_cmd_train_lm)
    train_saes = commands.add_parser(
        "train-saes",
        help="train the TopK SAEs of several widths that notebook 09 compares (feature splitting)",
        description="Train one TopK SAE per width on the shipped transformer's MLP activations over the train "
        "split, deterministically on the CPU; write OUT/sae_stdlib_WIDTH.safetensors (int8) and OUT/sae_stdlib.json.",
    )
    train_saes.add_argument("--widths", type=int, nargs="+", default=[256, 1024, 2048], help="latents (default 256 1024 2048)")
    train_saes.add_argument("--steps", type=int, default=2000, help="optimiser steps per SAE (default 2000)")
    train_saes.add_argument("--seed", type=int, default=0, help="seed of the initialisation and the batches (default 0)")
    train_saes.add_argument("--out", default="sae_stdlib", help="output folder (default ./sae_stdlib)")
    train_saes.set_defaults(func=_cmd_train_saes)
    train_tc = commands.add_parser(
        "train-transcoder",
        help="train the transcoder of notebook 10 on the shipped model's MLP",
        description="Train a TopK transcoder from the shipped model's MLP input to its output on train-split text, "
        "score it on held-out text; write OUT/lm_transcoder.safetensors and OUT/lm_transcoder.json.",
    )
    train_tc.add_argument("--steps", type=int, default=3000, help="optimiser steps of 1024 rows (default 3000)")
    train_tc.add_argument("--windows", type=int, default=1024, help="train windows of 128 bytes harvested (default 1024)")
    train_tc.add_argument("--seed", type=int, default=0, help="seed of the initialisation, windows and batches (default 0)")
    train_tc.add_argument("--out", default="lm_transcoder", help="output folder (default ./lm_transcoder)")
    train_tc.set_defaults(func=_cmd_train_transcoder)


def _cmd_train_lm(args: argparse.Namespace) -> int:
    from course_utils.lm import LMTrainConfig, train_and_save

    cfg = LMTrainConfig(steps=args.steps, batch_size=args.batch_size, seed=args.seed)
    command = f"course train-lm --steps {args.steps} --batch-size {args.batch_size} --seed {args.seed} --out {args.out}"
    print(json.dumps(train_and_save(args.out, cfg, command=command), indent=2))
    return 0


def _cmd_train_saes(args: argparse.Namespace) -> int:
    from course_utils.lm import ShippedSAEConfig, train_shipped_saes

    cfg = ShippedSAEConfig(widths=tuple(args.widths), steps=args.steps, seed=args.seed)
    command = (f"course train-saes --widths {' '.join(map(str, args.widths))} --steps {args.steps} "
               f"--seed {args.seed} --out {args.out}")
    print(json.dumps(train_shipped_saes(args.out, cfg, command=command), indent=2))
    return 0


def _cmd_train_transcoder(args: argparse.Namespace) -> int:
    from course_utils.lm.transcoder import TranscoderTrainConfig, train_and_save_transcoder

    command = f"course train-transcoder --steps {args.steps} --windows {args.windows} --seed {args.seed} --out {args.out}"
    record = train_and_save_transcoder(args.out, train_cfg=TranscoderTrainConfig(steps=args.steps, seed=args.seed),
                                       n_windows=args.windows, command=command)
    print(json.dumps(record, indent=2))
    return 0


def doctor_checks() -> list[Callable[[], Finding]]:
    """The course's own items of `course doctor`, after the environment's."""
    return [check_lm_weights]


def check_lm_weights(assets: Path | None = None) -> Finding:
    """The shipped transformer checkpoint of notebook 09: present, and it loads with the network off."""
    assets = ASSETS if assets is None else Path(assets)
    weights = sorted(assets.glob("lm_stdlib*.safetensors"))  # the transformer, not the transcoder beside it
    item = "shipped model weights"
    if not weights:
        return Finding(item=item, status="warn", detail=f"none in {assets} (notebook 09 loads them from there)",
                       fix="install from a full clone of the repository, or run `course train-lm --out course_utils/assets`")
    saved = {key: os.environ.get(key) for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ.update(dict.fromkeys(saved, "1"))
    try:
        try:
            from course_utils.lm import load_lm
        except ImportError:
            load_lm = None
        if load_lm is not None:
            model = load_lm(assets)
            n = sum(p.numel() for p in model.parameters())
        else:
            from safetensors.torch import load_file

            n = sum(t.numel() for path in weights for t in load_file(str(path)).values())
    except Exception as error:  # any failure to load is what the learner would hit in notebook 09
        return Finding(item=item, status="fail", detail=f"{weights[0].name} does not load offline ({type(error).__name__}: "
                       f"{str(error).splitlines()[0] if str(error) else ''})",
                       fix="restore course_utils/assets from the repository (git checkout course_utils/assets)")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return Finding(item=item, status="ok", detail=f"{', '.join(p.name for p in weights)} load offline ({n:,} parameters)")
