"""Candidate records: what a check hands the grader, in plain data the grader can load without running code.

In the kernel, a check calls the exercise's probe on the learner's answer and turns what came back into
plain data (tensors, numbers, strings, None, lists, tuples, dicts); anything else, and any exception,
becomes a marker. The grader loads the file with `torch.load(weights_only=True)`, which unpickles no code.
"""

from __future__ import annotations

import os
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

RECORD_DIR_ENV = "COURSE_RECORD_DIR"
"""A folder: each check saves its candidate's record there as `<exercise>.pt` (set by `course grade`)."""
MARKER = "__course_record__"
MAX_RECORD_BYTES = 64 * 2**20
"""A record larger than this is not read (no exercise's outputs come near it)."""


class _NotSaved:
    def __repr__(self) -> str:
        return "NOT_SAVED"


NOT_SAVED = _NotSaved()
"""What load_record returns when the check saved nothing (it never ran)."""


@dataclass(frozen=True)
class Raised:
    """The candidate raised instead of returning: its exception's type name, message and own frames."""

    type_name: str
    message: str
    not_implemented: bool = False
    frames: list[str] = field(default_factory=list)


class Opaque:
    """A value that is not plain data (an array, a module, a custom object): only its type name and repr."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def opaque(type_name: str, text: str) -> Opaque:
    """An Opaque whose type is named like the original value's, so messages read 'got ndarray'."""
    name = type_name if type_name.isidentifier() else "object"
    return type(name, (Opaque,), {})(text)


def raised(error: BaseException, frames: list[str] | None = None) -> Raised:
    """The record of an exception raised by a learner's code."""
    return Raised(type(error).__name__, str(error), isinstance(error, NotImplementedError), list(frames or []))


def to_plain(value: Any, depth: int = 0) -> Any:
    """`value` as plain data (what torch.load(weights_only=True) reads back); other things become markers."""
    if depth > 20:
        return {MARKER: "opaque", "type": type(value).__name__, "repr": "a value nested too deeply"}
    if isinstance(value, Raised):
        return {MARKER: "raised", "type": value.type_name, "message": value.message[:2000],
                "not_implemented": value.not_implemented, "frames": [str(f)[:300] for f in value.frames[:5]]}
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().as_subclass(torch.Tensor).clone()
    if value is None:
        return None
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if _is_numpy_scalar(value):
        return to_plain(value.item(), depth + 1)
    if isinstance(value, tuple):
        return tuple(to_plain(item, depth + 1) for item in value)
    if isinstance(value, list):
        return [to_plain(item, depth + 1) for item in value]
    if isinstance(value, dict) and all(type(key) in (str, int) for key in value):
        return {key: to_plain(item, depth + 1) for key, item in value.items()}
    try:
        text = repr(value)
    except Exception:  # a learner's object whose repr fails
        text = f"a {type(value).__name__}"
    text = " ".join(text.split())
    text = text if len(text) <= 120 else text[:117] + "..."
    return {MARKER: "opaque", "type": type(value).__name__, "repr": text}


def from_plain(value: Any, depth: int = 0) -> Any:
    """Plain data back into what judges compare: markers become Raised and Opaque objects."""
    if depth > 25:
        return opaque("object", "a value nested too deeply")
    if isinstance(value, dict):
        if value.get(MARKER) == "raised":
            frames = value.get("frames")
            return Raised(str(value.get("type", "Exception")), str(value.get("message", "")),
                          bool(value.get("not_implemented", False)),
                          [str(f) for f in frames] if isinstance(frames, list) else [])
        if value.get(MARKER) == "opaque":
            return opaque(str(value.get("type", "object")), str(value.get("repr", "")))
        return {key: from_plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(from_plain(item, depth + 1) for item in value)
    if isinstance(value, list):
        return [from_plain(item, depth + 1) for item in value]
    return value


def _is_numpy_scalar(value: Any) -> bool:
    numpy = __import__("sys").modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.generic)


def save_record(folder: Path, name: str, plain: Any) -> None:
    """Write one exercise's record (plain data) as `<folder>/<name>.pt`, atomically."""
    folder = Path(folder)
    target = folder / f"{name}.pt"
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    torch.save(plain, tmp)
    os.replace(tmp, target)


def load_record(folder: Path, name: str) -> Any:
    """Read `<folder>/<name>.pt` as plain data (no code is unpickled); NOT_SAVED when there is none.

    Raises ValueError when the file is there but is not a record this grader accepts.
    """
    path = Path(folder) / f"{name}.pt"
    if path.is_symlink():
        raise ValueError("its record is a symbolic link, not a file the check wrote")
    if not path.exists():
        return NOT_SAVED
    if not path.is_file():
        raise ValueError("its record is not a file")
    if path.stat().st_size > MAX_RECORD_BYTES:
        raise ValueError(f"its record is larger than {MAX_RECORD_BYTES // 2**20} MB")
    try:
        with warnings.catch_warnings():  # a forged file may carry any pickle protocol; torch warns about some
            warnings.simplefilter("ignore")
            plain = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as error:  # pickled code, a truncated file, anything torch refuses
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"its record could not be read safely ({first[:200]})") from error
    _check_tensors(plain)
    return from_plain(plain)


MAX_ELEMENTS = 2**26
"""A tensor with more elements than this is refused (the largest exercise output has 240,000)."""


def _check_tensors(value: Any, depth: int = 0) -> None:
    """Refuse tensors that would be costly to compare: huge, or views larger than their storage."""
    if depth > 30:
        raise ValueError("its record is nested too deeply")
    if isinstance(value, torch.Tensor):
        if value.numel() > MAX_ELEMENTS:
            raise ValueError(f"its record holds a tensor of {value.numel():,} elements")
        if value.numel() and value.numel() * value.element_size() > value.untyped_storage().nbytes():
            raise ValueError("its record holds a tensor larger than its storage (an expanded view)")
    elif isinstance(value, list | tuple):
        for item in value:
            _check_tensors(item, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            _check_tensors(item, depth + 1)


def learner_frames(error: BaseException, package_root: Path) -> list[str]:
    """The traceback lines that point into the learner's own code (not into course_utils or libraries)."""
    here = str(package_root)
    lines = []
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename.startswith(here) or "site-packages" in frame.filename:
            continue
        lines.append(f"line {frame.lineno}, in {frame.name}: {frame.line or ''}".rstrip())
    return lines[-3:]
