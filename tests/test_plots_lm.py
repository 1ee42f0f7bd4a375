"""Notebook 09's figures, context HTML and latent browser."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest
import torch

from course_utils.plots.lm import (
    byte_label,
    byte_labels,
    contexts_html,
    plot_latent_dashboard,
    plot_loss_comparison,
    plot_purity,
)
from course_utils.widgets.latent_browser import latent_browser


def test_byte_labels_are_readable():
    assert byte_labels([97, 32, 10, 9, 0, 255]) == ["a", "␣", "⏎", "⇥", "\\x00", "\\xff"]
    assert byte_label(ord("<")) == "<"


def test_contexts_html_escapes_highlights_and_underlines_the_focus():
    tokens = torch.tensor([[-1, ord("<"), ord("a"), ord("\n")], [ord("d"), ord("e"), ord("f"), ord(" ")]])
    values = torch.tensor([[0.0, 0.0, 2.0, 1.0], [0.5, 0.0, 4.0, 0.0]])
    text = contexts_html(tokens, values, focus=2, title="neuron <7>")
    assert "&lt;" in text and "<b>neuron &lt;7&gt;</b>" in text and "⏎" in text and "&nbsp;" in text
    assert text.count("border-bottom") == 2
    assert "rgba(255,127,14,1.00)" in text and "rgba(255,127,14,0.50)" in text  # 4.0 and 2.0 of max 4.0
    assert text.count("<span style=\"background") == 7  # the -1 slot is left out
    with pytest.raises(ValueError, match="same"):
        contexts_html(tokens, values[:, :3], focus=0)
    with pytest.raises(ValueError, match="focus"):
        contexts_html(tokens, values, focus=4)


def test_loss_comparison_has_one_bar_per_model():
    fig = plot_loss_comparison({"uniform": 8.0, "bigram": 3.5, "model": 2.0})
    assert isinstance(fig, go.Figure)
    assert list(fig.data[0].y) == ["uniform", "bigram", "model"]
    assert list(fig.data[0].x) == [8.0, 3.5, 2.0]


def test_dashboard_shows_histogram_and_top_and_bottom_bytes():
    logits = torch.zeros(256)
    logits[ord("(")], logits[ord(":")], logits[ord("x")] = 3.0, 2.0, -5.0
    fig = plot_latent_dashboard(torch.rand(100), logits, title="latent 3", density=0.01, k=2)
    hist, bars = fig.data
    assert isinstance(hist, go.Histogram) and len(hist.x) == 100
    assert list(bars.y)[-2:] == [": ", "( "]  # the most promoted byte on top
    assert list(bars.y)[0] == "x " and bars.x[0] == -5.0
    assert "1.00%" in fig.layout.annotations[0].text


def test_purity_histograms_report_each_group_and_chance():
    fig = plot_purity({"neurons": torch.tensor([0.1, 0.2]), "latents": torch.tensor([0.9, 1.0, 0.8])}, chance=0.15, k=20)
    assert [trace.name for trace in fig.data] == ["neurons (n=2, mean 0.15)", "latents (n=3, mean 0.90)"]
    assert fig.layout.shapes[0].x0 == 0.15
    assert "top-20" in fig.layout.xaxis.title.text


def test_latent_browser_redraws_on_each_choice():
    calls = []

    def dashboard(unit):
        calls.append(unit)
        return go.Figure(go.Bar(x=[unit])), f"<p>contexts of {unit}</p>"

    browser = latent_browser(dashboard, [5, 9, 11], labels={9: "latent 9 (dense)"})
    assert calls == [5]
    assert browser.output.outputs[1]["data"]["text/html"] == "<p>contexts of 5</p>"
    browser.dropdown.value = 2
    assert calls[-1] == 11 and browser.state.unit == 11
    assert browser.dropdown.options[1][0] == "latent 9 (dense)"
    next_button = browser.view.children[0].children[2]
    next_button.click()
    assert browser.state.unit == 5  # wraps around
    with pytest.raises(ValueError, match="no units"):
        latent_browser(dashboard, [])
