"""Notebook 09's causal figures: steering with a slider, ablation effects, attribution scatter, matching."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest
import torch

from course_utils.plots.lm_causal import (
    plot_ablation_effects,
    plot_attribution_vs_ablation,
    plot_match_cosines,
    plot_steering,
    side_by_side_html,
    top_bytes_text,
)


def test_steering_figure_has_one_trace_per_multiple_and_a_slider_that_shows_one():
    probs = torch.zeros(3, 256)
    probs[0, ord("a")], probs[1, ord("(")], probs[2, ord("(")] = 0.9, 0.5, 0.99
    fig = plot_steering([0, 1, 4], probs, samples=["def a", "def (", "def (((("], highlight=[ord("(")], n_bytes=2)
    assert isinstance(fig, go.Figure) and len(fig.data) == 3
    assert [trace.visible for trace in fig.data] == [True, False, False]
    assert list(fig.data[0].x) == ["(", "a"] and list(fig.data[2].y) == [0.99, 0.0]
    assert fig.data[0].marker.color[0] != fig.data[0].marker.color[1]  # the highlighted byte stands out
    steps = fig.layout.sliders[0].steps
    assert [step.label for step in steps] == ["0", "1", "4"]
    assert steps[2].args[0]["visible"] == [False, False, True]
    assert "def ((((" in steps[2].args[1]["annotations"][0]["text"]
    with pytest.raises(ValueError, match="one sample per multiple"):
        plot_steering([0, 1], probs[:2], samples=["x"])
    with pytest.raises(ValueError, match="multiples"):
        plot_steering([0, 1], probs)


def test_ablation_histograms_and_attribution_scatter():
    fig = plot_ablation_effects(torch.tensor([0.1, -0.2, 0.3]), torch.tensor([-1.0, -0.5, 0.1]))
    assert len(fig.data) == 2 and list(fig.data[0].x) == pytest.approx([0.1, -0.2, 0.3])
    assert "3 latents" in fig.layout.title.text
    predicted = torch.linspace(-1, 1, 50)
    fig = plot_attribution_vs_ablation(predicted, 2 * predicted, max_points=20)
    assert len(fig.data[0].x) == 20 and "correlation 1.000" in fig.layout.title.text
    assert list(fig.data[1].x) == list(fig.data[1].y)  # the y = x line
    with pytest.raises(ValueError, match="same 1-D shape"):
        plot_attribution_vs_ablation(predicted, predicted[:3])


def test_matching_histogram_and_side_by_side_contexts():
    fig = plot_match_cosines({"256 -> 1024": torch.tensor([0.2, 0.5, 0.9]), "256 -> 2048": torch.tensor([0.4])})
    assert [trace.name for trace in fig.data] == ["256 -> 1024 (median 0.50)", "256 -> 2048 (median 0.40)"]
    text = side_by_side_html([("a <1>", "<p>x</p>"), ("b", "<p>y</p>")])
    assert text.count("flex:1") == 2 and "a &lt;1&gt;" in text and "<p>y</p>" in text
    logits = torch.zeros(256)
    logits[ord("(")], logits[ord(":")], logits[0] = 3.0, 2.0, 9.0
    assert top_bytes_text(logits, 2) == "\\x00 ("
    assert top_bytes_text(logits, 2, shown=torch.arange(256) > 0) == "( :"
