"""The stdlib corpus: which files, in which order, which split; byte tokens; windows with their origins."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from course_utils.data import text
from course_utils.data.text import (
    EXCLUDED_DIRS,
    HELD_OUT_MODULUS,
    concatenated,
    decode,
    document_windows,
    encode,
    load_documents,
    split_of,
    stdlib_files,
    stdlib_root,
)


@pytest.fixture()
def fake_stdlib(tmp_path: Path) -> Path:
    files = {
        "os.py": "import sys\n",
        "json/__init__.py": "from json.decoder import *\n",
        "json/decoder.py": "def decode(s):\n    return s\n",
        "test/test_os.py": "EXCLUDED\n",
        "unittest/test/test_case.py": "EXCLUDED\n",
        "idlelib/idle_test/test_x.py": "EXCLUDED\n",
        "lib2to3/tests/data/bom.py": "EXCLUDED\n",
        "site-packages/numpy/core.py": "EXCLUDED\n",
        "json/tool.pyc": "not python source\n",
        "README.txt": "not python source\n",
        "empty.py": "",
    }
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return tmp_path


def test_files_are_sorted_and_skip_tests_and_site_packages(fake_stdlib: Path):
    assert stdlib_files(fake_stdlib) == ["empty.py", "json/__init__.py", "json/decoder.py", "os.py"]


def test_the_real_stdlib_listing_is_deterministic_and_excludes_what_it_says():
    first, second = stdlib_files(), stdlib_files()
    assert first == second == sorted(first)
    assert len(first) > 100
    assert all(name.endswith(".py") for name in first)
    assert not any(set(name.split("/")[:-1]) & EXCLUDED_DIRS for name in first)
    assert "os.py" in first and "json/decoder.py" in first
    assert not any(name.startswith(("test/", "site-packages/")) for name in first)
    if (stdlib_root() / "unittest" / "test").is_dir():  # absent from some distributions' builds
        assert not any(name.startswith("unittest/test/") for name in first)


def test_split_depends_on_the_path_only_and_holds_out_about_one_in_ten():
    names = [f"pkg{i}/module{i}.py" for i in range(2000)]
    splits = [split_of(name) for name in names]
    assert splits == [split_of(name) for name in names]
    share = splits.count("held_out") / len(splits)
    assert abs(share - 1 / HELD_OUT_MODULUS) < 0.03


def test_splits_partition_the_corpus(fake_stdlib: Path):
    names = stdlib_files(fake_stdlib)
    by_split = {}
    for split in ("train", "held_out"):
        try:
            by_split[split] = [doc.name for doc in load_documents(split, fake_stdlib)]
        except FileNotFoundError:  # a 3-file corpus may leave a split empty
            by_split[split] = []
    assert sorted(by_split["train"] + by_split["held_out"]) == [n for n in names if n != "empty.py"]
    assert all(split_of(n) == s for s, docs in by_split.items() for n in docs)


def test_documents_hold_the_files_bytes(fake_stdlib: Path):
    split = split_of("json/decoder.py")
    docs = {doc.name: doc for doc in load_documents(split, fake_stdlib)}
    decoder = docs["json/decoder.py"]
    assert decoder.tokens.dtype == torch.uint8
    assert bytes(decoder.tokens.tolist()) == (fake_stdlib / "json/decoder.py").read_bytes()


def test_the_real_held_out_split_is_deterministic():
    first = load_documents("held_out")
    second = load_documents("held_out")
    assert [d.name for d in first] == [d.name for d in second]
    assert torch.equal(concatenated(first), concatenated(second))
    assert all(split_of(d.name) == "held_out" for d in first)


def test_bad_split_and_missing_root_say_what_to_do(tmp_path: Path):
    with pytest.raises(ValueError, match="split must be one of"):
        load_documents("validation")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="no standard-library folder"):
        stdlib_files(tmp_path / "missing")


def test_encode_decode_round_trip():
    source = "def f(x):\n    return 'é'\n"
    tokens = encode(source)
    assert tokens.dtype == torch.long and len(tokens) == len(source.encode())
    assert decode(tokens) == source
    assert decode(encode(b"\xff")) == "\ufffd"
    assert len(encode("")) == 0


def test_windows_cut_each_document_and_remember_their_origin():
    docs = [text.TextDocument(name="a.py", tokens=torch.arange(10, dtype=torch.uint8)),
            text.TextDocument(name="b.py", tokens=torch.arange(3, dtype=torch.uint8)),
            text.TextDocument(name="c.py", tokens=torch.arange(100, 108, dtype=torch.uint8))]
    windows, origins = document_windows(docs, 4)
    assert windows.dtype == torch.long and windows.shape == (4, 4)
    assert origins.tolist() == [[0, 0], [0, 4], [2, 0], [2, 4]]
    for window, (doc, start) in zip(windows, origins.tolist(), strict=True):
        assert window.tolist() == docs[doc].tokens[start : start + 4].tolist()
    with pytest.raises(ValueError, match="no document has"):
        document_windows(docs[1:2], 4)
    with pytest.raises(ValueError, match="at least 2"):
        document_windows(docs, 1)
