"""What the first cell of every notebook calls: the plotly renderer for this front end, the device."""

from __future__ import annotations

import os
import sys

import plotly.io as pio
import torch


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


def choose_renderer() -> str:
    """The plotly renderer that shows figures here without embedding plotly.js in the notebook."""
    if in_colab():
        return "colab"
    return "plotly_mimetype"  # JupyterLab (jupyterlab-plotly), VS Code and nteract render this MIME type


def choose_device() -> torch.device:
    """The course runs on the CPU (seeded, deterministic); COURSE_DEVICE=cuda or mps opts in to a GPU."""
    wanted = os.environ.get("COURSE_DEVICE", "cpu")
    if wanted == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("COURSE_DEVICE=cuda, but torch sees no CUDA device; unset COURSE_DEVICE to use the CPU")
    if wanted == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("COURSE_DEVICE=mps, but torch sees no MPS device; unset COURSE_DEVICE to use the CPU")
    return torch.device(wanted)


def setup_notebook() -> torch.device:
    """Set the plotly renderer once and print the device the notebook will use; return that device."""
    pio.renderers.default = choose_renderer()
    device = choose_device()
    print(f"Using device: {device} (torch {torch.__version__.split('+')[0]})")
    return device
