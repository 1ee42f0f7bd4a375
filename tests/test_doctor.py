"""`course doctor`: one line per item, a fix on every problem, non-zero exit when something is missing."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel

from course_utils import syllabus
from course_utils.course import doctor
from course_utils.course.cli import main

STATUS_LINE = r"^(OK|WARN|FAIL)\s+\S"


def test_doctor_passes_in_the_course_environment(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    items = [line for line in out.splitlines() if line[:4] in {"OK  ", "WARN", "FAIL"}]
    _, dependencies, _ = doctor.declared_requirements()
    assert len(items) >= 1 + len(dependencies) + 4
    for needed in ["Python:", "torch:", "plotly:", "ipywidgets:", "torch device:", "Jupyter kernel:",
                   "JupyterLab extension jupyterlab-plotly:", "JupyterLab extension @jupyter-widgets/jupyterlab-manager:",
                   "shipped model weights:"]:
        assert any(needed in line for line in items), f"no line for {needed}\n{out}"
    assert not any(line.startswith("FAIL") for line in items), out
    assert "Everything the course needs is here" in out


def test_declared_requirements_match_pyproject():
    requires_python, dependencies, dev = doctor.declared_requirements()
    assert requires_python.startswith(">=3.")
    assert any(text.startswith("torch") for text in dependencies)
    assert any(text.startswith("playwright") for text in dev)


def test_a_missing_package_fails_the_doctor_with_a_fix(monkeypatch, capsys):
    real = doctor.declared_requirements()
    monkeypatch.setattr(doctor, "declared_requirements",
                        lambda: (real[0], [*real[1], "no-such-course-package>=1.0"], real[2]))
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "no-such-course-package" in line)
    assert line.startswith("FAIL") and "not installed" in line and "Fix: " in line and "pip install" in line
    assert "1 problem(s) to fix" in out


def test_a_package_at_the_wrong_version_fails_and_an_optional_one_warns():
    wrong = doctor.check_requirement("torch<1.0", needed=True)
    assert wrong.status == "fail" and torch.__version__.split("+")[0] in wrong.detail and wrong.fix
    optional = doctor.check_requirement("no-such-course-package>=1", needed=False)
    assert optional.status == "warn" and "only for running the tests" in optional.detail
    assert doctor.check_requirement("torch>=1.0", needed=True).status == "ok"


def test_python_outside_requires_python_fails():
    assert doctor.check_python(">=3.10").status == "ok"
    finding = doctor.check_python("<3.0")
    assert finding.status == "fail" and "needs <3.0" in finding.detail and "venv" in finding.fix


def test_an_unavailable_requested_device_fails(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    finding = doctor.check_device()
    assert finding.status == "fail" and "unset COURSE_DEVICE" in finding.fix
    monkeypatch.delenv("COURSE_DEVICE")
    assert doctor.check_device().detail.startswith("cpu")


def test_a_kernel_of_another_python_fails(monkeypatch):
    other = KernelSpec(argv=["/opt/other/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                       display_name="Python 3", language="python")
    monkeypatch.setattr(KernelSpecManager, "get_kernel_spec", lambda self, name: other)
    finding = doctor.check_kernel()
    assert finding.status == "fail" and "/opt/other/bin/python" in finding.detail and "ipykernel install" in finding.fix


def test_no_kernel_at_all_fails(monkeypatch):
    def no_kernel(self, name):
        raise NoSuchKernel(name)

    monkeypatch.setattr(KernelSpecManager, "get_kernel_spec", no_kernel)
    monkeypatch.setattr(KernelSpecManager, "find_kernel_specs", lambda self: {})
    finding = doctor.check_kernel()
    assert finding.status == "fail" and "ipykernel install" in finding.fix


def test_the_python3_kernel_of_this_environment_passes():
    assert doctor._runs_here(["python", "-m", "ipykernel_launcher"])
    assert doctor._runs_here([sys.executable, "-m", "ipykernel_launcher"])
    assert not doctor._runs_here(["/opt/other/bin/python", "-m", "ipykernel_launcher"])


def test_a_disabled_lab_extension_fails(tmp_path, monkeypatch):
    (tmp_path / "labconfig").mkdir()
    (tmp_path / "labconfig" / "page_config.json").write_text(json.dumps({"disabledExtensions": {"jupyterlab-plotly": True}}))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    findings = {f.item: f for f in doctor.check_lab_extensions()}
    plotly = findings["JupyterLab extension jupyterlab-plotly"]
    assert plotly.status == "fail" and "disabled" in plotly.detail and "labextension enable jupyterlab-plotly" in plotly.fix
    assert findings["JupyterLab extension @jupyter-widgets/jupyterlab-manager"].status == "ok"


def test_a_missing_lab_extension_fails(monkeypatch):
    import jupyterlab_server.config

    monkeypatch.setattr(jupyterlab_server.config, "get_federated_extensions", lambda paths: {})
    findings = doctor.check_lab_extensions()
    assert [f.status for f in findings] == ["fail", "fail"]
    assert all("not installed" in f.detail and f.fix for f in findings)


def test_model_weights_that_do_not_load_fail(tmp_path):
    (tmp_path / "lm_stdlib.safetensors").write_bytes(b"not a safetensors file")
    (tmp_path / "lm_stdlib.json").write_text("{}")
    finding = syllabus.check_lm_weights(tmp_path)
    assert finding.status == "fail" and "does not load offline" in finding.detail and finding.fix


def test_no_model_weights_is_a_warning(tmp_path):
    finding = syllabus.check_lm_weights(tmp_path)
    assert finding.status == "warn" and "course train-lm" in finding.fix


def test_the_shipped_model_weights_load_offline():
    assets = syllabus.ASSETS
    if not list(assets.glob("*.safetensors")):
        pytest.fail(f"no shipped weights in {assets}; the course ships them (course train-lm --out {assets})")
    finding = syllabus.check_lm_weights()
    assert finding.status == "ok", finding.line()
    assert "parameters" in finding.detail
