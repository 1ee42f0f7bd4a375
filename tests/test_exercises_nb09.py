"""Notebook 09's checks accept the reference and reject plausible wrong answers."""

from __future__ import annotations

import pytest
import torch

from course_utils.exercises import exercises_for, run_check
from course_utils.exercises.nb09_saes_on_a_transformer import (
    direct_logits,
    mlp_activations,
    splice_hook,
    token_purity,
    top_k_rows,
)

REFERENCES = {"mlp_activations": mlp_activations, "top_k_rows": top_k_rows, "splice_hook": splice_hook,
              "direct_logits": direct_logits, "token_purity": token_purity}


def test_notebook_06_has_its_five_exercises():
    assert [ex.name for ex in exercises_for("09_saes_on_a_transformer")] == list(REFERENCES)


@pytest.mark.parametrize("name", list(REFERENCES))
def test_reference_passes(name):
    result = run_check(name, REFERENCES[name])
    assert result.status == "passed", result.message
    assert result.cases >= 2


def test_unfinished_answer_is_not_attempted():
    def unfinished(*args):
        raise NotImplementedError()

    assert run_check("token_purity", unfinished).status == "not attempted"


# --- mlp_activations: the wrong hook ----------------------------------------------------------------------------

def _pre_activation(model, tokens):  # before the GELU
    _, cache = model.run_with_cache(tokens)
    return cache["blocks.0.mlp.hook_pre"]


def _mlp_output(model, tokens):  # the MLP's output in the residual stream (d_model, not d_mlp)
    _, cache = model.run_with_cache(tokens)
    return cache["blocks.0.hook_mlp_out"]


def _last_position_only(model, tokens):
    _, cache = model.run_with_cache(tokens)
    return cache["blocks.0.mlp.hook_post"][:, -1]


@pytest.mark.parametrize("wrong", [_pre_activation, _mlp_output, _last_position_only])
def test_mlp_activations_rejects(wrong):
    assert run_check("mlp_activations", wrong).status == "failed"


# --- top_k_rows ------------------------------------------------------------------------------------------------

def _smallest(acts, unit, k):  # bottom-k
    return acts[:, unit].topk(k, largest=False).indices


def _transposed(acts, unit, k):  # reads row `unit` instead of column `unit`
    return acts[unit].topk(k).indices


def _values_not_rows(acts, unit, k):
    return acts[:, unit].topk(k).values


def _ascending(acts, unit, k):
    return acts[:, unit].topk(k).indices.flip(0)


@pytest.mark.parametrize("wrong", [_smallest, _transposed, _values_not_rows, _ascending])
def test_top_k_rows_rejects(wrong):
    assert run_check("top_k_rows", wrong).status == "failed"


# --- splice_hook -----------------------------------------------------------------------------------------------

def _ignores_reconstruction(reconstruct):
    return lambda activation, hook: activation


def _adds_reconstruction(reconstruct):  # patches in activation + x_hat
    def hook(activation, hook):
        return activation + reconstruct(activation.reshape(-1, activation.shape[-1])).reshape(activation.shape)
    return hook


def _no_flattening(reconstruct):  # hands [batch pos hidden] to a function of rows [n hidden]
    return lambda activation, hook: reconstruct(activation)


def _returns_nothing(reconstruct):  # computes the reconstruction but returns None: the model keeps its activation
    def hook(activation, hook):
        reconstruct(activation.reshape(-1, activation.shape[-1]))
    return hook


@pytest.mark.parametrize("wrong", [_ignores_reconstruction, _adds_reconstruction, _no_flattening, _returns_nothing])
def test_splice_hook_rejects(wrong):
    assert run_check("splice_hook", wrong).status == "failed"


# --- direct_logits ---------------------------------------------------------------------------------------------

def _softmaxed(direction, W_out, W_U):  # probabilities instead of logit changes
    return (direction @ W_out @ W_U).softmax(-1)


def _skips_w_out(direction, W_out, W_U):  # reads the direction as if it lived in d_model
    return direction[: W_U.shape[0]] @ W_U


def _normalised(direction, W_out, W_U):  # a unit vector of logits: loses the scale
    logits = direction @ W_out @ W_U
    return logits / logits.norm()


@pytest.mark.parametrize("wrong", [_softmaxed, _skips_w_out, _normalised])
def test_direct_logits_rejects(wrong):
    assert run_check("direct_logits", wrong).status == "failed"


# --- token_purity ----------------------------------------------------------------------------------------------

def _distinct_share(top_tokens):  # number of distinct tokens / k
    return torch.tensor([len(set(row.tolist())) / len(row) for row in top_tokens])


def _first_token_share(top_tokens):  # share of the first (top-1) token, not the most common
    return (top_tokens == top_tokens[:, :1]).float().mean(1)


def _mode_value(top_tokens):  # the most common token itself
    return top_tokens.mode(1).values.float()


@pytest.mark.parametrize("wrong", [_distinct_share, _first_token_share, _mode_value])
def test_token_purity_rejects(wrong):
    assert run_check("token_purity", wrong).status == "failed"
