"""SAELens export: the files' layout, and (with the optional extra [saelens]) SAELens loads each exported
kind with SAE.load_from_disk and encodes and decodes as the course does."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from course_utils.sae import SAEConfig, export_saelens, make_sae, saelens_state, train
from course_utils.sae.training import TrainConfig

KINDS = ["l1", "topk", "jumprelu", "batchtopk", "matryoshka", "gated"]


def _trained(kind: str):
    cfg = SAEConfig(d_in=8, d_sae=24, n_inst=2, kind=kind, k=3 if kind == "topk" else 3.0, l1_coeff=0.05,
                    l0_coeff=0.05, matryoshka_widths=(6,), jumprelu_bandwidth=0.05, jumprelu_init_threshold=0.05)
    sae = make_sae(cfg, generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    data = (torch.relu(torch.randn(64, 8, generator=gen)) for _ in range(1000))
    train(sae, TrainConfig(steps=40, lr=1e-2, log_every=40), data, progress=False)
    with torch.no_grad():  # non-trivial biases, so a wrong sign or a missing b_dec would show
        sae.b_dec.add_(0.1)
    return sae


@pytest.mark.parametrize("kind", KINDS)
def test_export_writes_saelens_layout(kind, tmp_path):
    sae = _trained(kind)
    folder = export_saelens(sae, tmp_path / kind, instance=1)
    cfg = json.loads((folder / "cfg.json").read_text())
    weights = load_file(str(folder / "sae_weights.safetensors"))
    expected = {"l1": "standard", "topk": "topk", "gated": "gated"}.get(kind, "jumprelu")
    assert cfg["architecture"] == expected and cfg["d_in"] == 8 and cfg["d_sae"] == 24
    assert cfg["metadata"]["sae_lens_version"].startswith("6.")
    assert weights["W_enc"].shape == (8, 24) and weights["W_dec"].shape == (24, 8)
    torch.testing.assert_close(weights["W_dec"], sae.W_dec[1].detach())
    if expected == "jumprelu":
        assert weights["threshold"].shape == (24,)
    if kind == "topk":
        assert cfg["k"] == 3
    with pytest.raises(ValueError, match="instance"):
        saelens_state(sae, instance=2)


@pytest.mark.parametrize("kind", KINDS)
def test_saelens_loads_each_kind_and_agrees(kind, tmp_path):
    sae_lens = pytest.importorskip("sae_lens", reason="SAELens is the optional extra: pip install -e '.[saelens]'")
    sae = _trained(kind)
    x = torch.relu(torch.randn(50, 8, generator=torch.Generator().manual_seed(5)))
    for instance in (0, 1):
        folder = export_saelens(sae, tmp_path / f"{kind}{instance}", instance=instance)
        loaded = sae_lens.SAE.load_from_disk(str(folder))
        with torch.no_grad():
            ours = sae(x)
            theirs = loaded.encode(x)
            torch.testing.assert_close(theirs, ours.acts[:, instance], atol=1e-5, rtol=1e-5)
            assert int((theirs > 0).sum()) > 0
            torch.testing.assert_close(loaded.decode(theirs), ours.x_hat[:, instance], atol=1e-5, rtol=1e-5)
