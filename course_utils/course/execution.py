"""Executing a notebook in a kernel of this very Python environment (for build, grade and progress)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbformat import NotebookNode

CURRENT_ENV_KERNEL = "course-current-env"

REFERENCE_KERNEL_ENV = {
    "HF_HUB_OFFLINE": "1",
    # One thread per kernel: the stored outputs of solutions/ are reproducible whatever the core
    # count, and two kernels side by side (pytest -n 2) do not fight over the cores, which slows
    # small torch ops by 10x or more.
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
}
"""The environment in which build, grade and the tests run notebooks."""


class _CurrentEnvKernelSpecs(KernelSpecManager):
    """Serves one kernel spec: ipykernel on sys.executable, whatever kernels are installed."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name=f"Python {sys.version_info.major}.{sys.version_info.minor} (course)",
            language="python",
            resource_dir=str(Path(__file__).parent),
        )


@dataclass(kw_only=True)
class ExecutionReport:
    """How an execution ended: ok, or which cell failed and why, in one line."""

    ok: bool
    problem: str = ""
    failed_cell: int | None = None
    kind: str = ""  # "", "error", "timeout", "dead kernel"


def execute(
    notebook: NotebookNode,
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    deadline: float | None = None,
) -> ExecutionReport:
    """Run every cell of `notebook` in place (outputs filled in); stop at the first error.

    `timeout` bounds each cell; `deadline` (a time.monotonic() value) bounds the whole run.
    """
    current = {"index": None}
    budget = None if deadline is None else deadline - time.monotonic()

    def cell_timeout(cell: NotebookNode) -> int:
        left = timeout if deadline is None else min(timeout, deadline - time.monotonic())
        return max(1, int(left + 0.999))

    def on_cell_start(cell: NotebookNode, cell_index: int) -> None:
        current["index"] = cell_index

    kernel_env = {**os.environ, **REFERENCE_KERNEL_ENV, **(env or {})}
    manager = AsyncKernelManager(
        kernel_name=CURRENT_ENV_KERNEL,
        kernel_spec_manager=_CurrentEnvKernelSpecs(),
    )
    client = NotebookClient(
        notebook,
        km=manager,
        timeout=timeout,
        timeout_func=cell_timeout if deadline is not None else None,
        startup_timeout=60 if deadline is None else max(5, min(60, int(deadline - time.monotonic()))),
        allow_errors=False,
        shutdown_kernel="graceful" if deadline is None else "immediate",
        store_widget_state=False,
        record_timing=False,
        resources={"metadata": {"path": str(cwd)}},
        on_cell_start=on_cell_start,
    )
    try:
        # The kernel's own stderr (start-up warnings) would drown the report; its errors reach us anyway.
        client.execute(env=kernel_env, stderr=subprocess.DEVNULL)
    except CellTimeoutError:
        if deadline is not None and time.monotonic() >= deadline - 1.5:
            return ExecutionReport(
                ok=False,
                kind="timeout",
                failed_cell=current["index"],
                problem=f"the notebook did not finish within {budget:.0f} s (cell {_cell_label(current['index'])} "
                "was running; is there an endless loop?)",
            )
        return ExecutionReport(
            ok=False,
            kind="timeout",
            failed_cell=current["index"],
            problem=f"cell {_cell_label(current['index'])} did not finish within {timeout:g} s (is there an endless loop?)",
        )
    except DeadKernelError:
        return ExecutionReport(
            ok=False,
            kind="dead kernel",
            failed_cell=current["index"],
            problem=f"cell {_cell_label(current['index'])} crashed the Python kernel (it died: out of memory, or os._exit?)",
        )
    except CellExecutionError as error:
        return ExecutionReport(
            ok=False,
            kind="error",
            failed_cell=current["index"],
            problem=f"cell {_cell_label(current['index'])} raised {error.ename}: {_first_line(error.evalue)}",
        )
    except RuntimeError as error:  # e.g. "Kernel didn't respond in 60 seconds"
        return ExecutionReport(ok=False, kind="kernel", problem=f"the Python kernel could not run: {error}")
    finally:
        _stop_kernel(client, manager)
    return ExecutionReport(ok=True)


def _stop_kernel(client: NotebookClient, manager: AsyncKernelManager) -> None:
    """Stop the kernel: nbclient leaves running a kernel it was handed, and one stopped by a time-out
    would go on spinning, so a class's grading would pile up kernels (memory) and endless loops (CPU)."""

    async def stop() -> None:
        if client.kc is not None:
            client.kc.stop_channels()
        if manager.has_kernel:
            await manager.shutdown_kernel(now=True)

    run_sync(stop)()


def _cell_label(index: int | None) -> str:
    return "?" if index is None else str(index + 1)


def _first_line(text: str) -> str:
    lines = [line for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""
