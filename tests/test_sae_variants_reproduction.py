"""The reproduction claims of notebook 08, on three data sets (seeds 0, 1, 2) with notebook 08's recipe:
absorption happens for the L1 and TopK SAEs and is lower for the Matryoshka SAE; the Gated and JumpReLU SAEs
shrink less than the L1 SAE; features split with width.

Tolerances come from the runs (notebook 08's recipe, 400 steps, two restarts per knob; absorption is the
mean over the two restarts at the knob whose L0 is closest to the true 1.54), measured on the three seeds:
    absorption L1 0.815 / 0.835 / 0.84, TopK 0.59 / 0.435 / 0.485, Matryoshka 0.185 / 0.29 / 0.095
    gamma at that knob: L1 0.85, Gated and JumpReLU 0.999-1.002 on every seed
    splitting: every width-8 latent has 3 or 4 alive width-32 latents nearest to it (24 of 24)
so each bound below sits 0.05-0.1 inside the worst seed.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_utils.data.hierarchical import (
    cluster_directions,
    clustered_batches,
    hierarchical_batch,
    hierarchical_batches,
    hierarchy_directions,
)
from course_utils.exercises.nb08_sae_variants import CLUSTERS, HIERARCHY, variant_recipe
from course_utils.metrics.dictionary import l0
from course_utils.metrics.ground_truth import (
    absorption_rates,
    hungarian_match,
    reconstruction_bias,
    split_counts,
)
from course_utils.sae import SAEConfig, TrainConfig, make_sae, train

pytestmark = pytest.mark.slow
SEEDS = (0, 1, 2)


def _seed(s: int) -> torch.Generator:
    return torch.Generator().manual_seed(s)


def _matched(kind: str, data_seed: int) -> dict[str, float]:
    """Train notebook 08's sweep of one kind; absorption and gamma at the knob closest to the true L0."""
    directions = hierarchy_directions(HIERARCHY, generator=_seed(data_seed))
    x, coeffs = hierarchical_batch(HIERARCHY, directions, 8192, generator=_seed(99))
    sae_cfg, train_cfg = variant_recipe(kind)
    sae = make_sae(sae_cfg, generator=_seed(1 + data_seed))
    train(sae, train_cfg, hierarchical_batches(HIERARCHY, directions, 256, generator=_seed(2 + data_seed)), progress=False)
    with torch.no_grad():
        out = sae(x)
    latent, _ = hungarian_match(sae.W_dec, directions)
    absorb = absorption_rates(out.acts, coeffs, latent[:, : HIERARCHY.n_parents], HIERARCHY.children()).mean(-1)
    gamma = reconstruction_bias(x, out.x_hat)
    j = int((l0(out.acts).reshape(2, 3).mean(0) - HIERARCHY.true_l0()).abs().argmin())
    ids = [j, j + 3]
    return {"absorption": float(absorb[ids].mean()), "gamma": float(gamma[ids].mean()),
            "l0": float(l0(out.acts)[ids].mean())}


@pytest.fixture(scope="module")
def runs() -> dict[tuple[str, int], dict[str, float]]:
    kinds = ("l1", "topk", "matryoshka", "gated", "jumprelu")
    return {(kind, s): _matched(kind, s) for kind in kinds for s in SEEDS}


@pytest.mark.parametrize("data_seed", SEEDS)
def test_absorption_happens_for_l1_and_topk_and_is_lower_for_matryoshka(runs, data_seed):
    l1, topk, matryoshka = (runs[(k, data_seed)]["absorption"] for k in ("l1", "topk", "matryoshka"))
    assert l1 >= 0.75, f"L1 absorption {l1:.3f}"
    assert topk >= 0.35, f"TopK absorption {topk:.3f}"
    assert matryoshka <= 0.35, f"Matryoshka absorption {matryoshka:.3f}"
    assert matryoshka <= topk - 0.1 and matryoshka <= l1 - 0.4, (l1, topk, matryoshka)
    assert abs(runs[("matryoshka", data_seed)]["l0"] - runs[("l1", data_seed)]["l0"]) < 0.2  # matched L0


@pytest.mark.parametrize("data_seed", SEEDS)
def test_gated_and_jumprelu_shrink_less_than_l1(runs, data_seed):
    l1 = runs[("l1", data_seed)]["gamma"]
    assert l1 <= 0.9, f"L1 gamma {l1:.3f}"
    for kind in ("gated", "jumprelu"):
        gamma = runs[(kind, data_seed)]["gamma"]
        assert 0.99 <= gamma <= 1.01, f"{kind} gamma {gamma:.3f}"
        assert gamma - l1 >= 0.08


@pytest.mark.parametrize("data_seed", (0, 1))
def test_features_split_with_width(data_seed):
    centres, fine = cluster_directions(CLUSTERS, generator=_seed(5 + data_seed))
    x = next(clustered_batches(CLUSTERS, fine, 4096, generator=_seed(8 + data_seed)))
    decoders, alive = {}, {}
    for width in (8, 32):
        sae = make_sae(SAEConfig(d_in=CLUSTERS.d_hidden, d_sae=width, kind="topk", k=2), generator=_seed(6 + data_seed))
        train(sae, TrainConfig(steps=400, lr=1e-2, log_every=400, dead_after=2560, resample_every=50,
                               resample_source="residual"),
              clustered_batches(CLUSTERS, fine, 256, generator=_seed(7 + data_seed)), progress=False)
        with torch.no_grad():
            alive[width] = (sae(x).acts[:, 0] > 0).any(0)
        decoders[width] = F.normalize(sae.W_dec[0].detach(), dim=-1)
    # width 8: one latent per cluster centre; width 32: one per fine feature
    assert float((decoders[8] @ centres.T).max(0).values.mean()) >= 0.85
    assert float((decoders[32] @ fine.T).max(0).values.mean()) >= 0.97
    counts, _ = split_counts(decoders[8], decoders[32], alive=alive[32])
    assert int((counts >= 3).sum()) >= 7 and int(counts.max()) <= 5, counts.tolist()
