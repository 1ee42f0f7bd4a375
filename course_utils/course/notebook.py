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


def choose_threads() -> int:
    """One torch thread unless COURSE_THREADS says otherwise: the course's models are tiny, and on a busy
    2-core machine torch's default (one thread per core) made their small steps 10x slower."""
    wanted = os.environ.get("COURSE_THREADS", "1")
    if not wanted.isdigit() or int(wanted) < 1:
        raise RuntimeError(f"COURSE_THREADS={wanted!r}: give a positive number of threads, or unset it")
    return int(wanted)


def setup_notebook() -> torch.device:
    """Set the plotly renderer and torch's thread count once, print the device the notebook will use; return it."""
    pio.renderers.default = choose_renderer()
    torch.set_num_threads(choose_threads())
    device = choose_device()
    print(f"Using device: {device} (torch {torch.__version__.split('+')[0]})")
    return device
