"""The text corpus: the source of Python's own standard library, as bytes (vocabulary 256).

Every learner already has it: it is read from the running interpreter's installation
(`sysconfig.get_paths()["stdlib"]`). Which files, in which order, and in which split:

- every `*.py` file under the stdlib folder, walked in sorted order of relative POSIX path;
- skipping every folder named in `EXCLUDED_DIRS` (the test suites `test/`, `tests/`,
  `idlelib/idle_test/`, and the third-party `site-packages/`);
- a file is held out when the SHA-256 of its relative path, read as an integer, is divisible
  by `HELD_OUT_MODULUS` (about 1 file in 10); the split thus depends on the path only, so a
  file sits in the same split on every Python version that has it.
"""

from __future__ import annotations

import hashlib
import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from jaxtyping import Int
from torch import Tensor

Split = Literal["train", "held_out"]
SPLITS: tuple[Split, ...] = ("train", "held_out")

EXCLUDED_DIRS: frozenset[str] = frozenset(
    {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}
)
"""Folder names never entered: the stdlib's test suites and installed third-party packages."""
HELD_OUT_MODULUS = 10
"""A file is held out when sha256(relative path) % HELD_OUT_MODULUS == 0."""
VOCAB_SIZE = 256
"""Byte-level tokens: token i is the byte i."""


@dataclass(frozen=True, kw_only=True)
class TextDocument:
    """One source file: its path relative to the stdlib folder and its bytes as tokens."""

    name: str
    tokens: Int[Tensor, " pos"]


def stdlib_root() -> Path:
    """The folder of the running interpreter's standard library."""
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_files(root: Path | None = None) -> list[str]:
    """The corpus's files, as sorted relative POSIX paths (test folders and site-packages excluded)."""
    root = stdlib_root() if root is None else Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no standard-library folder at {root}; pass root= an existing folder")
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in EXCLUDED_DIRS)
        base = Path(folder).relative_to(root)
        found += [(base / name).as_posix() for name in files if name.endswith(".py")]
    return sorted(found)


def split_of(name: str) -> Split:
    """The split of one file, from its relative path alone."""
    digest = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest(), "big")
    return "held_out" if digest % HELD_OUT_MODULUS == 0 else "train"


def encode(text: str | bytes) -> Int[Tensor, " pos"]:
    """Text (UTF-8) or bytes to byte tokens (int64)."""
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).long() if data else torch.zeros(0, dtype=torch.long)


def decode(tokens: Int[Tensor, " pos"] | list[int]) -> str:
    """Byte tokens back to text; bytes that are not valid UTF-8 become U+FFFD."""
    values = tokens.tolist() if isinstance(tokens, Tensor) else list(tokens)
    return bytes(values).decode("utf-8", errors="replace")


def load_documents(split: Split, root: Path | None = None) -> list[TextDocument]:
    """Every file of one split, in the corpus order, as byte tokens (uint8, to keep memory small)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    root = stdlib_root() if root is None else Path(root)
    documents = []
    for name in stdlib_files(root):
        if split_of(name) != split:
            continue
        data = (root / name).read_bytes()
        if data:
            documents.append(TextDocument(name=name, tokens=torch.frombuffer(bytearray(data), dtype=torch.uint8)))
    if not documents:
        raise FileNotFoundError(f"no .py files of split {split!r} under {root}")
    return documents


def concatenated(documents: list[TextDocument]) -> Int[Tensor, " pos"]:
    """All documents' tokens end to end (uint8), the stream that training crops windows from."""
    return torch.cat([doc.tokens for doc in documents])


def document_windows(
    documents: list[TextDocument], n_ctx: int
) -> tuple[Int[Tensor, "batch pos"], Int[Tensor, "batch 2"]]:
    """Non-overlapping windows of n_ctx tokens inside each document (tails shorter than n_ctx dropped).

    Returns the windows (int64) and, for each, (document index, start position in that document).
    """
    if n_ctx < 2:
        raise ValueError(f"n_ctx must be at least 2 (one token and its successor), got {n_ctx}")
    windows, origins = [], []
    for index, doc in enumerate(documents):
        count = len(doc.tokens) // n_ctx
        if count == 0:
            continue
        windows.append(doc.tokens[: count * n_ctx].reshape(count, n_ctx))
        starts = torch.arange(count) * n_ctx
        origins.append(torch.stack([torch.full_like(starts, index), starts], dim=1))
    if not windows:
        raise ValueError(f"no document has {n_ctx} tokens; use a smaller n_ctx")
    return torch.cat(windows).long(), torch.cat(origins)
