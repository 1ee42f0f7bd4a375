"""The SAEs of several widths that `course train-saes` trains once and the course ships for notebook 09."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest
import torch

from course_utils.lm import (
    ShippedSAEConfig,
    assets_dir,
    evaluate_sae,
    held_out_eval_data,
    load_lm,
    load_shipped_record,
    load_shipped_sae,
    train_shipped_saes,
)
from course_utils.sae import TopKSAE


@pytest.mark.slow
def test_shipped_saes_load_offline_and_match_their_record(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    record = load_shipped_record()
    widths = record["config"]["widths"]
    assert widths == [256, 1024, 2048] and record["config"]["k"] == 16
    files = [assets_dir() / f"sae_stdlib_{width}.safetensors" for width in widths]
    assert sum(path.stat().st_size for path in files) < 4_000_000  # int8: a quarter of float32
    model = load_lm()
    rows, windows = held_out_eval_data(model, record["config"]["eval_windows"])
    assert len(rows) == record["held_out_rows"]
    # Another Python version has a slightly different stdlib, so slightly different held-out rows.
    same = platform.python_version() == record["python"]
    for width in widths:
        sae = load_shipped_sae(width)
        assert isinstance(sae, TopKSAE) and sae.cfg.d_sae == width and sae.cfg.d_in == 512
        assert torch.allclose(sae.W_dec.norm(dim=-1), torch.ones(1, width), atol=1e-2)
        measured, expected = evaluate_sae(model, sae, rows, windows), record["widths"][str(width)]["held_out"]
        assert measured["l0"] == pytest.approx(expected["l0"], abs=1e-2) and measured["l0"] <= 16
        assert measured["fvu"] == pytest.approx(expected["fvu"], abs=2e-3 if same else 0.03)
        assert measured["dead_fraction"] == pytest.approx(expected["dead_fraction"], abs=2e-3 if same else 0.05)
        assert measured["loss_recovered"] == pytest.approx(expected["loss_recovered"], abs=5e-3 if same else 0.05)
    fvus = [record["widths"][str(width)]["held_out"]["fvu"] for width in widths]
    assert fvus == sorted(fvus, reverse=True)  # wider dictionaries reconstruct better at the same L0
    with pytest.raises(ValueError, match="shipped widths"):
        load_shipped_sae(512)


@pytest.mark.slow
def test_train_shipped_saes_writes_int8_weights_and_a_record_that_they_reach(tmp_path: Path, monkeypatch):
    corpus = tmp_path / "stdlib"
    corpus.mkdir()
    source = Path(torch.__file__).parent / "nn" / "modules"
    for index, path in enumerate(sorted(source.glob("*.py"))[:30]):  # real Python source, 4 kB of each file
        (corpus / f"m{index}.py").write_bytes(path.read_bytes()[:4096])
    monkeypatch.setattr("course_utils.data.text.stdlib_root", lambda: corpus)
    cfg = ShippedSAEConfig(widths=(32, 64), k=4, train_windows=48, steps=30, batch_size=256, eval_windows=8)
    record = train_shipped_saes(tmp_path / "out", cfg, command="test", progress=False)
    assert record["config"]["widths"] == [32, 64] and record["train_rows"] == 48 * 128
    assert load_shipped_record(tmp_path / "out") == record
    model = load_lm()
    rows, windows = held_out_eval_data(model, 8)
    for width in (32, 64):
        sae = load_shipped_sae(width, tmp_path / "out")
        assert sae.W_enc.shape == (1, width, 512)
        assert evaluate_sae(model, sae, rows, windows)["fvu"] == pytest.approx(
            record["widths"][str(width)]["held_out"]["fvu"], abs=1e-4)
    with pytest.raises(FileNotFoundError, match="course train-saes"):
        load_shipped_record(tmp_path / "nowhere")
