"""Which kernels a test left running: child processes of this process that run ipykernel (Linux /proc)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def kernels_left_running() -> list[int]:
    """The pids of this process's live (not zombie) children that run an IPython kernel."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs Linux's /proc to list child processes")
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid = stat.read_text().rsplit(")", 1)[1].split()[:2]
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:  # the process ended meanwhile
            continue
        if int(ppid) == os.getpid() and state != "Z" and b"ipykernel_launcher" in command:
            pids.append(int(stat.parent.name))
    return pids
