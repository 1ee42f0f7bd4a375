"""Transcoder vs SAE on the shipped one-layer model, at the same training budget (notebook 10's comparison).

Both are TopK dictionaries with 1024 latents and k = 16. The SAE follows notebook 09 (it reconstructs the 512 MLP
neurons, `hook_post`); the transcoder predicts the MLP's output (`hook_mlp_out`) from its input (LN2's output).
"a short budget": 200 Adam steps of 512 rows, lr 3e-3, on 32,768 harvested held-out rows (the recipe notebook 09 used before it shipped its SAEs).
The shipped transcoder (3000 steps of 1024 rows from 131,072 train rows) is scored alongside, and one SAE (seed 0)
trained with that budget on the same train windows. Loss recovered on the
128 held-out windows notebooks 09 and 10 score, against the MLP's output removed. Prints a markdown table.

    OMP_NUM_THREADS=1 python benchmarks/bench_transcoder.py            # 3 seeds
"""

from __future__ import annotations

import argparse
import os
import statistics

import torch

from course_utils.lm import (
    HOOK_POST,
    bits_per_byte,
    harvest,
    held_out_windows,
    load_lm,
    loss_recovered,
    replace_hook,
    zero_hook,
)
from course_utils.lm.transcoder import (
    HOOK_MLP_OUT,
    Transcoder,
    TranscoderConfig,
    TranscoderTrainConfig,
    load_transcoder,
    mlp_pairs,
    scored_windows,
    train_transcoder,
    train_windows,
    transcoder_hooks,
)
from course_utils.sae import SAEConfig, TrainConfig, init_b_dec_, make_sae, train


def sae_splice(sae: torch.nn.Module) -> list:
    """Hooks that replace the MLP neurons by the SAE's reconstruction."""
    return [(HOOK_POST, replace_hook(lambda x: sae(x).x_hat[:, 0]))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    model = load_lm()
    _, windows, origins = held_out_windows(model.cfg.n_ctx)
    scored = scored_windows(windows)
    rest = torch.ones(len(windows), dtype=torch.bool)
    rest[torch.linspace(0, len(windows) - 1, 128).round().long()] = False
    rest_index = rest.nonzero().squeeze(1)
    rows = rest_index[torch.linspace(0, len(rest_index) - 1, 256).round().long()]
    neurons = harvest(model, windows[rows], origins[rows]).acts
    pairs = mlp_pairs(model, windows[rows])
    with torch.no_grad():
        clean = bits_per_byte(model, scored)
        removed = bits_per_byte(model, scored, fwd_hooks=[(HOOK_MLP_OUT, zero_hook)])
    results: dict[str, list[float]] = {"SAE on the neurons, a short budget": [],
                                       "transcoder, a short budget": []}
    for seed in range(args.seeds):
        sae = make_sae(SAEConfig(d_in=model.cfg.d_mlp, d_sae=1024, kind="topk", k=16),
                       generator=torch.Generator().manual_seed(seed))
        init_b_dec_(sae, neurons[:4096])
        g = torch.Generator().manual_seed(seed + 1)
        train(sae, TrainConfig(steps=200, lr=3e-3, log_every=50, dead_after=20_000),
              (neurons[torch.randint(0, len(neurons), (512,), generator=g)] for _ in iter(int, 1)), progress=False)
        tc = Transcoder(TranscoderConfig(), generator=torch.Generator().manual_seed(seed))
        train_transcoder(tc, TranscoderTrainConfig(steps=200, batch_size=512, lr=3e-3, seed=seed), pairs, progress=False)
        with torch.no_grad():
            for name, hooks in (("SAE on the neurons, a short budget", sae_splice(sae)),
                                ("transcoder, a short budget", transcoder_hooks(model, tc))):
                results[name].append(loss_recovered(clean, bits_per_byte(model, scored, fwd_hooks=hooks), removed))
    with torch.no_grad():
        shipped = bits_per_byte(model, scored, fwd_hooks=transcoder_hooks(model, load_transcoder()))
    results["shipped transcoder (3000 steps of 1024 train rows)"] = [loss_recovered(clean, shipped, removed)]
    # the SAE with the shipped transcoder's budget: the same 1024 train windows, 3000 steps of 1024 rows, lr 2e-3
    train_neurons = harvest(model, train_windows(model, 1024), torch.zeros(1024, 2, dtype=torch.long)).acts
    sae = make_sae(SAEConfig(d_in=model.cfg.d_mlp, d_sae=1024, kind="topk", k=16), generator=torch.Generator().manual_seed(0))
    init_b_dec_(sae, train_neurons[:4096])
    g = torch.Generator().manual_seed(1)
    train(sae, TrainConfig(steps=3000, lr=2e-3, log_every=500, dead_after=200_000),
          (train_neurons[torch.randint(0, len(train_neurons), (1024,), generator=g)] for _ in iter(int, 1)), progress=False)
    with torch.no_grad():
        results["SAE on the neurons, the shipped transcoder's budget"] = [
            loss_recovered(clean, bits_per_byte(model, scored, fwd_hooks=sae_splice(sae)), removed)]
    print(f"load average {os.getloadavg()[0]:.1f}; clean {clean:.3f}, MLP output removed {removed:.3f} bits/byte\n")
    print("| dictionary | seeds | loss recovered per seed | mean |\n| --- | ---: | --- | ---: |")
    for name, values in results.items():
        print(f"| {name} | {len(values)} | {', '.join(f'{v:.1%}' for v in values)} | {statistics.mean(values):.1%} |")


if __name__ == "__main__":
    main()
