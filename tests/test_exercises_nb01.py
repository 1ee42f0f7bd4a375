"""The checks of notebook 01 accept the reference and reject plausible wrong answers."""

import pytest
import torch

from course_utils.exercises import exercises_for, get_exercise, run_check

NOTEBOOK = "01_polysemanticity"
EXERCISES = ["activation_vector", "neuron_reading", "interference", "exact_probes", "max_abs_cosine"]


def test_notebook_has_its_five_exercises():
    assert sorted(ex.name for ex in exercises_for(NOTEBOOK)) == sorted(EXERCISES)


@pytest.mark.parametrize("name", EXERCISES)
def test_reference_passes(name):
    result = run_check(name, get_exercise(name).reference)
    assert result.status == "passed", result.message
    assert result.cases >= 4


@pytest.mark.parametrize("name", EXERCISES)
def test_unfinished_answer_is_not_attempted(name):
    def unfinished(*args):
        raise NotImplementedError()

    assert run_check(name, unfinished).status == "not attempted"


def _unit(directions):
    return directions / directions.norm(dim=-1, keepdim=True)


WRONG = {
    "activation_vector": {
        "presence instead of intensity": lambda c, f: (c != 0).float() @ f,
        "transposed result": lambda c, f: f.T @ c.T,
        "assumes unit directions (normalises them)": lambda c, f: c @ _unit(f),
        "mean instead of sum": lambda c, f: c @ f / c.shape[-1],
    },
    "neuron_reading": {
        "neuron k = feature k": lambda c, f, k: c[:, k],
        "row of F instead of column": lambda c, f, k: c @ f[k],
        "off-by-one neuron": lambda c, f, k: (c @ f)[:, k - 1],
        "summed over all neurons": lambda c, f, k: (c @ f).sum(-1),
    },
    "interference": {
        "keeps the diagonal (the whole read-back)": lambda c, f: c @ (f @ f.T),
        "read-back minus c (assumes unit length)": lambda c, f: c @ (f @ f.T) - c,
        "cosines instead of dot products": lambda c, f: c @ (_unit(f) @ _unit(f).T - torch.eye(f.shape[0])),
    },
    "exact_probes": {
        "the directions themselves (exact only when orthonormal)": lambda f: f if f.shape[0] <= f.shape[1] else 1 / 0,
        "unit directions": lambda f: _unit(f) if f.shape[0] <= f.shape[1] else 1 / 0,
        "pinv without the transpose": lambda f: torch.linalg.pinv(f) if f.shape[0] <= f.shape[1] else 1 / 0,
        "right answer, but no error for N > d": lambda f: torch.linalg.pinv(f).T,
        "inverse Gram without F": lambda f: torch.linalg.inv(f @ f.T) if f.shape[0] <= f.shape[1] else 1 / 0,
    },
    "max_abs_cosine": {
        "diagonal included": lambda f: (_unit(f) @ _unit(f).T).abs().max(),
        "no absolute value": lambda f: (_unit(f) @ _unit(f).T - 2 * torch.eye(f.shape[0])).max(),
        "dot products, not cosines": lambda f: (f @ f.T).abs().masked_fill(torch.eye(f.shape[0], dtype=torch.bool), 0).max(),
        "cosines between neurons (columns)": lambda f: (
            (_unit(f.T) @ _unit(f.T).T).abs().masked_fill(torch.eye(f.shape[1], dtype=torch.bool), 0).max()
        ),
        "returns a float": lambda f: float(
            (_unit(f) @ _unit(f).T).abs().masked_fill(torch.eye(f.shape[0], dtype=torch.bool), 0).max()
        ),
    },
}


@pytest.mark.parametrize(
    ("name", "bug"), [(name, bug) for name, bugs in WRONG.items() for bug in bugs], ids=lambda x: str(x)
)
def test_wrong_answer_fails(name, bug):
    result = run_check(name, WRONG[name][bug])
    assert result.status == "failed", f"{name}: the bug '{bug}' was not caught"
    assert result.message
    assert result.inputs  # the verdict says which input exposed the bug


def test_failure_message_names_expected_and_got():
    result = run_check("neuron_reading", WRONG["neuron_reading"]["neuron k = feature k"])
    assert "expected" in result.message and "got" in result.message
    assert "feature 2 alone, neuron 0" in result.inputs


def test_exact_probes_reads_back_without_superposition():
    from course_utils.metrics.interference import exact_probes

    f = torch.randn(3, 5, generator=torch.Generator().manual_seed(0))
    c = torch.rand(7, 3, generator=torch.Generator().manual_seed(1))
    assert torch.allclose((c @ f) @ exact_probes(f).T, c, atol=1e-5)
    with pytest.raises(ValueError, match="N > d"):
        exact_probes(torch.randn(6, 3))
