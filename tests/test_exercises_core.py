"""The check mechanism: verdicts, fallback to the reference, strict mode, recorded results."""

from __future__ import annotations

import json

import pytest
import torch

from course_utils.course.checks import RESULTS_ENV, STRICT_DIR_ENV, STRICT_ENV, format_result
from course_utils.exercises import (
    REGISTRY,
    Case,
    CheckFailure,
    ExerciseError,
    check,
    compare_values,
    make_exercise,
    run_check,
    verifier,
)


def _double(x: torch.Tensor) -> torch.Tensor:
    return 2 * x


def _cases() -> list[Case]:
    return [Case((torch.tensor([1.0, -2.0, 3.0]),)), Case((torch.ones(2, 3),), description="a 2x3 block of ones")]


@pytest.fixture
def exercise():
    ex = make_exercise(name="_test_double", notebook="_tests", reference=_double, verify=verifier(_double, _cases))
    yield ex
    REGISTRY.pop("_test_double", None)


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    monkeypatch.delenv(STRICT_DIR_ENV, raising=False)
    monkeypatch.delenv(RESULTS_ENV, raising=False)


def test_reference_passes_and_is_returned(exercise, capsys):
    def mine(x):
        return x + x

    assert check("_test_double", mine) is mine
    assert "passed (2 cases)" in capsys.readouterr().out


def test_not_attempted_falls_back_to_reference(exercise, capsys):
    def mine(x):
        raise NotImplementedError()

    assert check("_test_double", mine) is _double
    out = capsys.readouterr().out
    assert "not attempted" in out and "reference" in out


def test_wrong_value_reports_expected_got_and_input(exercise, capsys):
    result = run_check("_test_double", lambda x: 3 * x)
    assert result.status == "failed"
    assert "expected 2" in result.message and "got 3" in result.message
    assert result.inputs == "tensor([1.0, -2.0, 3.0])"
    assert check("_test_double", lambda x: 3 * x) is _double
    assert "on input: tensor([1.0, -2.0, 3.0])" in capsys.readouterr().out


def test_wrong_shape_and_dtype_are_named():
    assert "expected shape (3,), got shape (1, 3)" in run_check_msg(lambda x: (2 * x)[None])
    assert "expected dtype torch.float32, got dtype torch.float64" in run_check_msg(lambda x: (2 * x).double())
    assert "expected a torch.Tensor, got list" in run_check_msg(lambda x: (2 * x).tolist())


def run_check_msg(candidate) -> str:
    ex = make_exercise(name="_test_msg", notebook="_tests", reference=_double, verify=verifier(_double, _cases))
    try:
        return run_check(ex.name, candidate).message
    finally:
        REGISTRY.pop("_test_msg", None)


def test_learner_exception_is_a_verdict_not_a_traceback(exercise, capsys):
    def mine(x):
        return x @ torch.ones(5)

    result = run_check("_test_double", mine)
    assert result.status == "failed"
    assert result.message.startswith("raised RuntimeError")
    check("_test_double", mine)
    assert "Traceback" not in capsys.readouterr().out


def test_inputs_are_copied_so_in_place_answers_do_not_corrupt_reference(exercise):
    def in_place(x):
        return x.mul_(2)

    assert run_check("_test_double", in_place).status == "passed"


def test_strict_mode_raises(exercise, monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(ExerciseError, match="not attempted"):
        check("_test_double", lambda x: (_ for _ in ()).throw(NotImplementedError()))
    with pytest.raises(ExerciseError, match="failed"):
        check("_test_double", lambda x: x)


def test_strict_dir_applies_inside_it_only(exercise, monkeypatch, tmp_path):
    strict = tmp_path / "solutions"
    (strict / "sub").mkdir(parents=True)
    monkeypatch.setenv(STRICT_DIR_ENV, str(strict))
    monkeypatch.chdir(strict / "sub")
    with pytest.raises(ExerciseError):
        check("_test_double", lambda x: x)
    monkeypatch.chdir(tmp_path)
    assert check("_test_double", lambda x: x) is _double


def test_results_are_recorded_as_json_lines(exercise, monkeypatch, tmp_path):
    results = tmp_path / "results.jsonl"
    monkeypatch.setenv(RESULTS_ENV, str(results))
    check("_test_double", _double)
    check("_test_double", lambda x: x)
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert [row["status"] for row in rows] == ["passed", "failed"]
    assert rows[0]["notebook"] == "_tests"


def test_unknown_exercise_names_the_known_ones():
    with pytest.raises(KeyError, match="known exercises"):
        run_check("no_such_exercise", _double)


def test_duplicate_registration_is_refused(exercise):
    with pytest.raises(ValueError, match="registered twice"):
        make_exercise(name="_test_double", notebook="_tests", reference=_double, verify=verifier(_double, _cases))


def test_format_result_fallback_sentence(exercise):
    text = format_result(run_check("_test_double", lambda x: x))
    assert text.startswith("❌ _test_double: failed")
    assert text.endswith("Using the reference solution meanwhile, so the cells below still run.")


@pytest.mark.parametrize(
    ("got", "expected", "fragment"),
    [
        ((1.0, 2.0), (1.0, 2.5), "output[1]: expected 2.5, got 2"),
        ([1.0], (1.0, 2.0), "expected a tuple of 2 items"),
        ({"a": 1.0}, {"a": 1.0, "b": 2.0}, "expected a dict with keys"),
        (torch.tensor([1, 2]), torch.tensor([1, 3]), "1 of 2 values differ; first at index (1,)"),
        ("x", 1.0, "expected a number"),
        (True, False, "expected False"),
    ],
)
def test_compare_values_messages(got, expected, fragment):
    with pytest.raises(CheckFailure, match=fragment.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        compare_values(got, expected, atol=1e-6, rtol=1e-6)


def test_compare_values_accepts_close_floats():
    compare_values(torch.tensor([1.0, 2.0]) + 1e-7, torch.tensor([1.0, 2.0]), atol=1e-6, rtol=1e-6)
    compare_values(0.1 + 0.2, 0.3, atol=1e-9, rtol=1e-9)
