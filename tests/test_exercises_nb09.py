"""Notebook 09's checks accept the reference and reject plausible wrong answers."""

from __future__ import annotations

import pytest
import torch

from course_utils.exercises import exercises_for, run_check
from course_utils.exercises.nb09_saes_on_a_transformer import (
    ablated_reconstruction,
    direct_logits,
    latent_attribution,
    mlp_activations,
    splice_hook,
    steering_hook,
    token_purity,
    top_k_rows,
    train_sae,
)
from course_utils.sae import normalize_decoder_

REFERENCES = {"mlp_activations": mlp_activations, "top_k_rows": top_k_rows, "train_sae": train_sae,
              "splice_hook": splice_hook, "direct_logits": direct_logits, "token_purity": token_purity,
              "ablated_reconstruction": ablated_reconstruction, "steering_hook": steering_hook,
              "latent_attribution": latent_attribution}


def test_notebook_09_has_its_nine_exercises():
    assert [ex.name for ex in exercises_for("09_saes_on_a_transformer")] == list(REFERENCES)


@pytest.mark.parametrize("name", list(REFERENCES))
def test_reference_passes(name):
    result = run_check(name, REFERENCES[name])
    assert result.status == "passed", result.message
    assert result.cases >= (1 if name == "train_sae" else 2)


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


# --- train_sae: judged by the SAE it produces -----------------------------------------------------------------

def _no_zero_grad(sae, acts, *, steps, batch_size, lr, generator):  # gradients pile up from step to step
    optimizer = torch.optim.Adam(sae.parameters(), lr=lr)
    for _ in range(steps):
        x = acts[torch.randint(0, len(acts), (batch_size,), generator=generator)]
        sae.losses(x, sae(x))["loss"].sum().backward()
        optimizer.step()
        normalize_decoder_(sae)


def _no_renormalisation(sae, acts, *, steps, batch_size, lr, generator):  # decoder norms drift
    optimizer = torch.optim.Adam(sae.parameters(), lr=lr)
    for _ in range(steps):
        x = acts[torch.randint(0, len(acts), (batch_size,), generator=generator)]
        loss = sae.losses(x, sae(x))["loss"].sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def _one_fixed_batch(sae, acts, *, steps, batch_size, lr, generator):  # always the first batch_size rows
    optimizer = torch.optim.Adam(sae.parameters(), lr=lr)
    for _ in range(steps):
        x = acts[:batch_size]
        loss = sae.losses(x, sae(x))["loss"].sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        normalize_decoder_(sae)


def _too_few_steps(sae, acts, *, steps, batch_size, lr, generator):  # a tenth of the steps
    train_sae(sae, acts, steps=steps // 10, batch_size=batch_size, lr=lr, generator=generator)


def _untrained(sae, acts, *, steps, batch_size, lr, generator):
    return []


@pytest.mark.parametrize("wrong", [_no_zero_grad, _no_renormalisation, _one_fixed_batch, _too_few_steps, _untrained])
def test_train_sae_rejects(wrong):
    assert run_check("train_sae", wrong).status == "failed"


# --- ablated_reconstruction: the latent's output, not its pre-activation ----------------------------------------

def _ablates_pre_activation(sae, x, latent):  # TopK then picks another latent in its place
    pre = sae.pre_acts(x).clone()
    pre[:, 0, latent] = 0.0
    return sae.decode(sae.activation(pre))[:, 0]


def _removes_from_the_input(sae, x, latent):  # x - f_j d_j: keeps the SAE's error, not its reconstruction
    f = sae.encode(x)[:, 0]
    return x - f[:, latent, None] * sae.W_dec[0, latent]


def _subtracts_the_direction(sae, x, latent):  # forgets the activation f_j
    return sae(x).x_hat[:, 0] - sae.W_dec[0, latent]


def _keeps_only_the_latent(sae, x, latent):  # the latent's contribution instead of the rest
    f = sae.encode(x)[:, 0]
    return f[:, latent, None] * sae.W_dec[0, latent] + sae.b_dec[0]


@pytest.mark.parametrize("wrong", [_ablates_pre_activation, _removes_from_the_input, _subtracts_the_direction,
                                   _keeps_only_the_latent])
def test_ablated_reconstruction_rejects(wrong):
    assert run_check("ablated_reconstruction", wrong).status == "failed"


# --- steering_hook: the right hook, adding --------------------------------------------------------------------

def _wrong_hook(direction, multiple):  # before the GELU: the same size, another place
    return "blocks.0.mlp.hook_pre", lambda activation, hook: activation + multiple * direction


def _replaces(direction, multiple):  # sets the activation to the direction
    return "blocks.0.mlp.hook_post", lambda activation, hook: multiple * direction.expand_as(activation)


def _scales(direction, multiple):  # multiplies instead of adding
    return "blocks.0.mlp.hook_post", lambda activation, hook: activation * (1 + multiple * direction)


def _last_position_only(direction, multiple):
    def hook(activation, hook):
        activation = activation.clone()
        activation[:, -1] += multiple * direction
        return activation
    return "blocks.0.mlp.hook_post", hook


def _hook_only(direction, multiple):  # the hook without its name
    return lambda activation, hook: activation + multiple * direction


@pytest.mark.parametrize("wrong", [_wrong_hook, _replaces, _scales, _last_position_only, _hook_only])
def test_steering_hook_rejects(wrong):
    assert run_check("steering_hook", wrong).status == "failed"


# --- latent_attribution: activation x gradient, at the clean activations --------------------------------------

def _attribution_parts(model, sae, tokens, metric, *, keep_error=True):
    store = {}

    def hook(activation, hook):
        rows = activation.reshape(-1, activation.shape[-1])
        f = sae.encode(rows)[:, 0].detach().requires_grad_(True)
        x_hat = sae.decode(f[:, None])[:, 0]
        store["f"] = f
        out = x_hat + (rows - x_hat).detach() if keep_error else x_hat
        return out.reshape(activation.shape)

    logits = model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.mlp.hook_post", hook)])
    (grad,) = torch.autograd.grad(metric(logits), store["f"])
    return store, grad


def _gradient_only(model, sae, tokens, metric):  # no activation factor
    _, grad = _attribution_parts(model, sae, tokens, metric)
    return grad.reshape(*tokens.shape, -1)


def _without_error_term(model, sae, tokens, metric):  # the gradient of the spliced model, not the clean one
    store, grad = _attribution_parts(model, sae, tokens, metric, keep_error=False)
    return (store["f"] * grad).detach().reshape(*tokens.shape, -1)


def _sign_flipped(model, sae, tokens, metric):  # reports the ablation estimate -f dM/df instead
    return -latent_attribution(model, sae, tokens, metric)


@pytest.mark.parametrize("wrong", [_gradient_only, _without_error_term, _sign_flipped])
def test_latent_attribution_rejects(wrong):
    assert run_check("latent_attribution", wrong).status == "failed"
