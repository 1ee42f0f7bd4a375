"""Comparing a candidate's outputs with the reference's, with messages a learner can act on."""

from __future__ import annotations

import builtins
import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from course_utils.course.checks import CheckFailure, failure_of, learner_code_frames
from course_utils.course.records import Raised, from_plain, raised, to_plain


@dataclass(frozen=True)
class Case:
    """One input to try: the arguments, and how to describe them in a failure message."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    description: str | None = None

    def describe(self) -> str:
        if self.description:
            return self.description
        parts = [short_repr(arg) for arg in self.args]
        parts += [f"{key}={short_repr(value)}" for key, value in self.kwargs.items()]
        return ", ".join(parts)


def short_repr(value: Any, max_len: int = 120) -> str:
    """A one-line description of a value: small tensors in full, big ones by shape and dtype."""
    if isinstance(value, torch.Tensor):
        if value.numel() <= 8:
            text = f"tensor({value.tolist()})"
        else:
            text = f"tensor of shape {tuple(value.shape)}, dtype {value.dtype}"
    elif isinstance(value, np.ndarray):
        text = f"array of shape {value.shape}" if value.size > 8 else f"array({value.tolist()})"
    elif isinstance(value, float):
        text = f"{value:.4g}"
    else:
        text = repr(value)
    return text if len(text) <= max_len else text[: max_len - 3] + "..."


def compare_values(got: Any, expected: Any, *, atol: float, rtol: float, where: str = "output") -> None:
    """Raise CheckFailure (without inputs) if `got` differs from `expected`."""
    if isinstance(expected, torch.Tensor):
        _compare_tensors(got, expected, atol=atol, rtol=rtol, where=where)
    elif isinstance(expected, np.ndarray):
        if not isinstance(got, np.ndarray | torch.Tensor):
            raise CheckFailure(f"{where}: expected an array, got {type(got).__name__}")
        _compare_tensors(torch.as_tensor(np.asarray(got)), torch.as_tensor(expected), atol=atol, rtol=rtol, where=where)
    elif isinstance(expected, tuple | list):
        if not isinstance(got, tuple | list) or len(got) != len(expected):
            raise CheckFailure(
                f"{where}: expected a {type(expected).__name__} of {len(expected)} items, got {short_repr(got)}"
            )
        for index, (got_item, expected_item) in enumerate(zip(got, expected, strict=True)):
            compare_values(got_item, expected_item, atol=atol, rtol=rtol, where=f"{where}[{index}]")
    elif isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            raise CheckFailure(f"{where}: expected a dict with keys {sorted(expected)}, got {short_repr(got)}")
        for key in expected:
            compare_values(got[key], expected[key], atol=atol, rtol=rtol, where=f"{where}[{key!r}]")
    elif isinstance(expected, bool | str) or expected is None:
        if got != expected:
            raise CheckFailure(f"{where}: expected {expected!r}, got {short_repr(got)}")
    elif isinstance(expected, int | float):
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, int | float | np.floating | np.integer):
            raise CheckFailure(f"{where}: expected a number, got {short_repr(got)}")
        if not np.isclose(float(got), float(expected), atol=atol, rtol=rtol):
            raise CheckFailure(f"{where}: expected {expected:.6g}, got {float(got):.6g}")
    else:
        raise TypeError(f"cannot compare values of type {type(expected).__name__}")


def _compare_tensors(got: Any, expected: torch.Tensor, *, atol: float, rtol: float, where: str) -> None:
    if not isinstance(got, torch.Tensor):
        raise CheckFailure(f"{where}: expected a torch.Tensor, got {type(got).__name__}")
    if got.shape != expected.shape:
        raise CheckFailure(f"{where}: expected shape {tuple(expected.shape)}, got shape {tuple(got.shape)}")
    if got.dtype != expected.dtype:
        raise CheckFailure(f"{where}: expected dtype {expected.dtype}, got dtype {got.dtype}")
    if expected.dtype == torch.bool or not expected.is_floating_point():
        mismatch = got != expected
    else:
        got_f, expected_f = got.detach().double(), expected.detach().double()
        mismatch = ~torch.isclose(got_f, expected_f, atol=atol, rtol=rtol, equal_nan=True)
    if mismatch.any():
        index = tuple(int(i) for i in mismatch.nonzero()[0])
        at = f" at index {index}" if index else ""
        count = int(mismatch.sum())
        raise CheckFailure(
            f"{where}: {count} of {expected.numel()} values differ; first{at}: "
            f"expected {expected[index].item():.6g}, got {got[index].item():.6g}"
        )


def compare_calls(
    candidate: Callable[..., Any],
    reference: Callable[..., Any],
    cases: Sequence[Case],
    *,
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> int:
    """Call candidate and reference on each case (on copies of the inputs) and compare outputs."""
    for case in cases:
        expected = reference(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
        try:
            got = candidate(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
        except (NotImplementedError, CheckFailure):
            raise
        except Exception as error:
            failure = CheckFailure(f"raised {type(error).__name__}: {error}", inputs=case.describe())
            raise failure from error
        try:
            compare_values(got, expected, atol=atol, rtol=rtol)
        except CheckFailure as failure:
            failure.inputs = case.describe()
            raise
    return len(cases)


@dataclass(frozen=True)
class Verifier:
    """A verify function in two halves, so that `course grade` can judge outside the learner's kernel.

    `probe(fn)` calls fn on the exercise's inputs and returns its outputs (tensors, numbers, lists...);
    `judge(got, expected)` compares a candidate's probe outputs with the reference's, raising CheckFailure,
    and returns the number of cases. Called like a verify function, it does both in this process.
    """

    reference: Callable[..., Any]
    probe: Callable[[Callable[..., Any]], Any]
    judge: Callable[[Any, Any], int]
    inputs: str | None = None
    """How to describe the inputs when the candidate raises outside any single case."""
    judges_with_reference_record: bool = True
    """False when `judge` ignores `expected` (it computes the reference's side itself, as `replayed` does)."""

    def __call__(self, candidate: Callable[..., Any]) -> int:
        expected = from_plain(to_plain(self.probe(self.reference))) if self.judges_with_reference_record else None
        got = from_plain(to_plain(self.probe(candidate)))
        if isinstance(got, Raised):
            raise failure_of(got, self.inputs)
        return self.judge(got, expected)


def call_each(candidate: Callable[..., Any], cases: Sequence[Case]) -> list[Any]:
    """The candidate's output on each case (on copies of the inputs); a raise ends the list with its record."""
    outputs: list[Any] = []
    for case in cases:
        try:
            outputs.append(candidate(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs)))
        except Exception as error:
            outputs.append(raised(error, learner_code_frames(error)))
            break
    return outputs


def judge_each(
    got: Any, expected: Sequence[Any], descriptions: Sequence[str], *, atol: float, rtol: float, where: str = "output"
) -> int:
    """Compare a candidate's outputs case by case with the reference's; CheckFailure names the input."""
    if not isinstance(got, list):
        raise CheckFailure("its check recorded no outputs")
    for index, description in enumerate(descriptions):
        if index >= len(got):
            raise CheckFailure("no output was recorded for this input", inputs=description)
        if isinstance(got[index], Raised):
            raise failure_of(got[index], description)
        try:
            compare_values(got[index], expected[index], atol=atol, rtol=rtol, where=where)
        except CheckFailure as failure:
            failure.inputs = description
            raise
    return len(descriptions)


def verifier(
    reference: Callable[..., Any],
    cases: Callable[[], Sequence[Case]],
    *,
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> Verifier:
    """A verifier that calls the candidate on each case and compares its outputs with the reference's."""

    def probe(fn: Callable[..., Any]) -> list[Any]:
        return call_each(fn, cases())

    def judge(got: Any, expected: Any) -> int:
        return judge_each(got, expected, [case.describe() for case in cases()], atol=atol, rtol=rtol)

    return Verifier(reference, probe, judge)


class _ReplayedRaise(Exception):
    """Mixed into the exception a replayed call raises, so the judge can tell it from the course's own errors."""

    record: Raised


def _raise_recorded(record: Raised) -> None:
    """Raise what the candidate raised: an exception of the same built-in type (ValueError...) and message."""
    base = getattr(builtins, record.type_name, None)
    if not (isinstance(base, type) and issubclass(base, Exception)) or record.not_implemented:
        base = NotImplementedError if record.not_implemented else Exception
    try:
        error_type = type(record.type_name, (base, _ReplayedRaise), {})
    except TypeError:  # a built-in type whose layout cannot be mixed
        error_type = type(record.type_name, (Exception, _ReplayedRaise), {})
    error = error_type(record.message)
    error.record = record
    raise error


def replayed(reference: Callable[..., Any], verify: Callable[[Callable[..., Any]], int], inputs: str | None = None) -> Verifier:
    """A custom `verify(candidate) -> int` in the two halves `course grade` needs.

    The probe runs `verify` with a stand-in that calls the candidate and records what each call returned
    (or raised; a returned function is recorded call by call in turn); the judge runs `verify` again, where
    the grader runs it, with a stand-in that hands back the recorded outputs in order. A seeded verify that
    calls the candidate and checks what comes back (not side effects on its arguments) reaches the same
    verdict both ways, and the candidate's code never runs in the judge.
    """

    def probe(candidate: Callable[..., Any]) -> list[Any]:
        calls: list[Any] = []
        try:
            verify(_recording(candidate, calls))
        except Exception:  # a wrong answer or a raise: the judge meets it again in the records
            pass
        return calls

    def judge(got: Any, expected: Any) -> int:
        if not isinstance(got, list):
            raise CheckFailure("its check recorded no outputs")
        try:
            return verify(_replaying(iter(got), inputs))
        except _ReplayedRaise as error:  # the candidate raised and the verify let it through
            if error.record.not_implemented:
                raise NotImplementedError() from None
            raise CheckFailure(f"raised {error.record.type_name}: {error.record.message}",
                               inputs=inputs, details=error.record.frames) from None

    return Verifier(reference, probe, judge, inputs, judges_with_reference_record=False)


_RETURNED_FUNCTION = "__course_returned_function__"
_NO_REPLY = object()


def _is_function(value: Any) -> bool:
    return callable(value) and not isinstance(value, (torch.Tensor, torch.nn.Module, type))


def _recording(fn: Callable[..., Any], calls: list[Any]) -> Callable[..., Any]:
    """fn, recording each call's output (plain data) or raise into `calls`."""

    def recording(*args: Any, **kwargs: Any) -> Any:
        try:
            out = fn(*args, **kwargs)
        except Exception as error:
            calls.append(raised(error, learner_code_frames(error)))
            raise
        if _is_function(out):  # e.g. a batch function or a hook: record its calls too
            nested: list[Any] = []
            calls.append({_RETURNED_FUNCTION: nested})
            return _recording(out, nested)
        calls.append(to_plain(out))
        return out

    return recording


def _replaying(replies: Any, inputs: str | None) -> Callable[..., Any]:
    """A stand-in that returns (or raises) the recorded outputs in turn."""

    def replaying(*args: Any, **kwargs: Any) -> Any:
        reply = next(replies, _NO_REPLY)
        if reply is _NO_REPLY:
            raise CheckFailure("no output was recorded for this call", inputs=inputs)
        if isinstance(reply, Raised):
            _raise_recorded(reply)
        if isinstance(reply, dict) and set(reply) == {_RETURNED_FUNCTION} and isinstance(reply[_RETURNED_FUNCTION], list):
            return _replaying(iter(reply[_RETURNED_FUNCTION]), inputs)
        return copy.deepcopy(reply)

    return replaying
