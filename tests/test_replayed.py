"""`replayed`: a custom verify function split into a probe (in the learner's kernel) and a judge (in the
grader), which replays the recorded outputs and never calls the candidate."""

from __future__ import annotations

import pytest
import torch

from course_utils.course.checks import CheckFailure
from course_utils.course.records import from_plain, load_record, save_record, to_plain
from course_utils.exercises import replayed


def square(x: torch.Tensor) -> torch.Tensor:
    if x.ndim != 1:
        raise ValueError("x must be a vector")
    return x**2


def _verify_square(candidate) -> int:
    x = torch.arange(4.0)
    if not torch.allclose(candidate(x), square(x)):
        raise CheckFailure("wrong squares", inputs="arange(4)")
    try:
        candidate(torch.zeros(2, 2))
    except ValueError:
        return 2
    raise CheckFailure("a matrix must raise ValueError", inputs="zeros(2, 2)")


def squarer_factory(power: int):
    return lambda x: x**power


def _verify_factory(candidate) -> int:
    fn = candidate(2)
    if fn(3.0) != 9.0 or fn(-1.0) != 1.0:
        raise CheckFailure("the returned function does not square", inputs="power 2")
    return 2


VERIFY_SQUARE = replayed(square, _verify_square)


def judged(verify, candidate, tmp_path=None):
    """The verdict as the grader reaches it: the probe's record saved, loaded back and judged."""
    record = to_plain(verify.probe(candidate))
    if tmp_path is not None:
        save_record(tmp_path, "ex", record)
        record = load_record(tmp_path, "ex")
    return verify.judge(from_plain(record), None)


def test_a_right_answer_passes_from_its_record_alone(tmp_path):
    assert judged(VERIFY_SQUARE, square, tmp_path) == 2
    assert VERIFY_SQUARE(square) == 2


def test_the_judge_never_calls_the_candidate():
    calls = []

    def counting(x):
        calls.append(x)
        return square(x)

    record = from_plain(to_plain(VERIFY_SQUARE.probe(counting)))
    made = len(calls)
    assert VERIFY_SQUARE.judge(record, None) == 2 and len(calls) == made == 2


@pytest.mark.parametrize(("wrong", "message"), [
    (lambda x: x * 2, "wrong squares"),                      # a wrong formula
    (lambda x: x.reshape(-1) ** 2, "must raise ValueError"),  # no error for bad input
])
def test_a_wrong_answer_fails_with_the_verifys_own_message(wrong, message):
    with pytest.raises(CheckFailure, match=message):
        judged(VERIFY_SQUARE, wrong)


def test_a_raise_is_replayed_as_the_same_type_and_an_unexpected_one_fails():
    def raises_type_error(x):
        raise TypeError("not today")

    with pytest.raises(CheckFailure, match="raised TypeError: not today"):
        judged(VERIFY_SQUARE, raises_type_error)


def test_an_unwritten_answer_is_not_attempted():
    def unwritten(x):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        judged(VERIFY_SQUARE, unwritten)


def test_a_returned_function_is_recorded_call_by_call():
    verify = replayed(squarer_factory, _verify_factory)
    assert judged(verify, squarer_factory) == 2
    with pytest.raises(CheckFailure, match="does not square"):
        judged(verify, lambda power: (lambda x: x * power))


def test_a_forged_short_record_fails():
    with pytest.raises(CheckFailure, match="no output was recorded"):
        VERIFY_SQUARE.judge([], None)
    with pytest.raises(CheckFailure, match="recorded no outputs"):
        VERIFY_SQUARE.judge("passed", None)
