"""The README's first command in a fresh virtual environment: the base install detects without
PyTorch.

Creates a venv (not ``--system-site-packages``: the system has torch), runs ``pip install -e``
on the checkout (base dependencies only, from the package index or pip's cache), then
``poppyscan demo`` and ``poppyscan detect`` there, and checks that torch, torchvision,
ultralytics and the GUI build of OpenCV are absent and that training names its extra.
It needs the package index, so it runs where ``POPPYSCAN_TEST_BASE_INSTALL=1`` asks for it
(``.ci/run`` sets it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("POPPYSCAN_TEST_BASE_INSTALL") != "1",
                       reason="installs from the package index: POPPYSCAN_TEST_BASE_INSTALL=1 "
                              "(.ci/run sets it)"),
]
LEFT_OUT = ("torch", "torchvision", "ultralytics", "scipy")  # the train extra brings them


def _run(args: list, cwd: Path, env: dict, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)
    assert (done.returncode == 0) == ok, f"{args}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> tuple[Path, dict]:
    """A venv holding ``pip install -e ROOT`` and nothing else; (its bin folder, environment)."""
    tmp = tmp_path_factory.mktemp("base")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(YOLO_OFFLINE="1", POPPYSCAN_CACHE=str(tmp / "cache"))
    _run([sys.executable, "-m", "venv", tmp / "venv"], tmp, env)
    bin_dir = tmp / "venv" / "bin"
    _run([bin_dir / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check",
          "-e", ROOT], tmp, env)
    return bin_dir, env


def test_base_install_leaves_out_torch_and_the_gui_opencv(venv, tmp_path):
    bin_dir, env = venv
    for module in LEFT_OUT:
        done = _run([bin_dir / "python", "-c", f"import {module}"], tmp_path, env, ok=False)
        assert f"No module named '{module}'" in done.stderr
    listed = _run([bin_dir / "python", "-m", "pip", "list", "--format", "json"], tmp_path, env)
    names = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "opencv-python-headless" in names and "opencv-python" not in names
    assert "openvino" in names or "onnxruntime" in names


@pytest.fixture(scope="module")
def demo(venv, tmp_path_factory) -> tuple[Path, str]:
    """``poppyscan demo`` as the README runs it: (its folder, what it printed)."""
    bin_dir, env = venv
    folder = tmp_path_factory.mktemp("demo")
    done = _run([bin_dir / "poppyscan", "demo", "--out", folder / "demo"], folder, env)
    return folder / "demo", done.stdout


def test_demo_and_detect_run_on_openvino_without_torch(venv, demo, tmp_path):
    bin_dir, env = venv
    demo_dir, printed = demo
    assert "ran on openvino" in printed, printed
    demo_targets = json.loads((demo_dir / "targets" / "targets.geojson").read_text())
    assert demo_targets["features"]  # the bundled model found the survey's plots
    found = _run([bin_dir / "poppyscan", "detect", demo_dir / "survey" / "ortho.tif",
                  "--out", "found"], tmp_path, env)
    settings = json.loads((tmp_path / "found" / "run.json").read_text())["settings"]
    assert settings["backend"] == "openvino"
    assert f"ran on openvino {settings['precision']} (cpu)" in found.stdout
    targets = json.loads((tmp_path / "found" / "targets.geojson").read_text())["features"]
    assert len(targets) == len(demo_targets["features"])  # same survey, model and backend
    check = "import sys, poppyscan.api; sys.exit('torch' in sys.modules)"
    _run([bin_dir / "python", "-c", check], tmp_path, env)


def test_training_names_the_extra_in_one_line(venv, demo, tmp_path):
    bin_dir, env = venv
    survey = demo[0] / "survey"
    _run([bin_dir / "poppyscan", "dataset", "build", "--ortho", survey / "ortho.tif",
          "--labels", survey / "plots.geojson", "--out", "ds"], tmp_path, env)
    done = _run([bin_dir / "poppyscan", "train", "--data", "ds", "--out", "model"], tmp_path, env,
                ok=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == ("Error: training needs torch and ultralytics, which the base "
                                   "install leaves out: pip install 'poppyscan[train]'")
