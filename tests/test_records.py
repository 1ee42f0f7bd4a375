"""Records: a candidate's outputs as plain data, read back without unpickling code."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from course_utils.course.checks import REGISTRY, load_all
from course_utils.course.records import (
    NOT_SAVED,
    Opaque,
    Raised,
    from_plain,
    load_record,
    raised,
    save_record,
    to_plain,
)


def test_plain_data_round_trips_and_other_values_become_named_markers(tmp_path):
    value = (torch.arange(3.0), [1, 2.5, True, None, "s"], {"k": np.float64(0.5)}, np.zeros(2), raised(ValueError("bad")))
    save_record(tmp_path, "x", to_plain(value))
    got = load_record(tmp_path, "x")
    assert torch.equal(got[0], value[0]) and got[1] == [1, 2.5, True, None, "s"] and got[2] == {"k": 0.5}
    assert isinstance(got[3], Opaque) and type(got[3]).__name__ == "ndarray"
    assert got[4] == Raised("ValueError", "bad", False, [])
    assert load_record(tmp_path, "missing") is NOT_SAVED


def test_a_view_is_saved_compactly():
    big = torch.zeros(1000, 1000)
    assert to_plain(big[:1, :2]).untyped_storage().nbytes() == 8


class _Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def test_pickled_code_links_and_huge_files_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "code.pt").write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(ValueError, match="could not be read safely"):
        load_record(tmp_path, "code")
    assert not (tmp_path / "pwned.txt").exists()
    os.symlink(tmp_path / "code.pt", tmp_path / "link.pt")
    with pytest.raises(ValueError, match="symbolic link"):
        load_record(tmp_path, "link")


def test_expanded_and_huge_tensors_are_refused(tmp_path):
    torch.save([torch.zeros(1).expand(10**7)], tmp_path / "wide.pt")  # a few bytes on disk, 80 MB to compare
    with pytest.raises(ValueError, match="larger than its storage"):
        load_record(tmp_path, "wide")
    torch.save({"x": torch.zeros(1).expand(10**9)}, tmp_path / "huge.pt")
    with pytest.raises(ValueError, match="1,000,000,000 elements"):
        load_record(tmp_path, "huge")


def test_markers_from_a_forged_record_only_ever_fail():
    assert isinstance(from_plain({"__course_record__": "opaque", "type": "os.system"}), Opaque)
    assert from_plain({"__course_record__": "raised"}) == Raised("Exception", "", False, [])


def test_every_course_exercise_can_be_judged_outside_the_kernel():
    load_all()
    assert REGISTRY and all(exercise.gradable for exercise in REGISTRY.values())
