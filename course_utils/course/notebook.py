"""What the first cell of every notebook calls: the plotly renderer for this front end, the device."""

from __future__ import annotations

import ctypes
import ctypes.util
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


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse instead of handing it back to the OS after every free.

    The toy trainers allocate the same few-hundred-KiB temporaries every step; with glibc's defaults they
    are mapped and unmapped (or trimmed) each time, so every step page-faults its memory in afresh.
    Measured: notebook 06's sweep (2,500 full-batch steps, 28 instances) 13.6 s -> 2.7 s on 2 loaded cores.
    Returns False (and changes nothing) where the C library is not glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's mallopt parameters
        return bool(libc.mallopt(m_trim_threshold, 512 << 20) and libc.mallopt(m_mmap_threshold, 64 << 20))
    except (OSError, AttributeError):
        return False


def choose_threads() -> int:
    """One torch thread unless COURSE_THREADS says otherwise: the course's models are tiny, and on a busy
    2-core machine torch's default (one thread per core) made their small steps 10x slower."""
    wanted = os.environ.get("COURSE_THREADS", "1")
    if not wanted.isdigit() or int(wanted) < 1:
        raise RuntimeError(f"COURSE_THREADS={wanted!r}: give a positive number of threads, or unset it")
    return int(wanted)


def setup_notebook() -> torch.device:
    """Set the plotly renderer and torch's thread count once, keep freed memory for reuse, print the device
    the notebook will use; return it."""
    pio.renderers.default = choose_renderer()
    torch.set_num_threads(choose_threads())
    keep_freed_memory()
    device = choose_device()
    print(f"Using device: {device} (torch {torch.__version__.split('+')[0]})")
    return device
