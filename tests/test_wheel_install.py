"""The wheel, installed without ``-e`` into a folder of its own, works from outside the checkout.

Builds the wheel offline from a copy of the sources, installs it with ``pip --target``,
and runs the installed ``poppyscan`` command (``tile``, ``synth``, ``detect``) in a
temporary folder with only that install on ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Not part of the wheel: left out of the copy it is built from (with caches and old builds).
NOT_PACKAGED = {"tests", "scripts", "docs", "build", "dist", "runs", "out", "demo-out"}

pytestmark = pytest.mark.slow


def _wheel_builder_missing() -> str | None:
    """Why this Python cannot build a wheel offline (``--no-build-isolation``), or None."""
    try:
        import setuptools
    except ImportError:
        return "setuptools is not installed"
    major, minor = (int(part) for part in setuptools.__version__.split(".")[:2])
    if (major, minor) >= (70, 1):  # bdist_wheel is part of setuptools from 70.1 on
        return None
    try:
        import wheel  # noqa: F401
    except ImportError:
        return f"setuptools {setuptools.__version__} needs the 'wheel' package to build wheels"
    return None


def _ignore(folder: str, names: list[str]) -> set[str]:
    ignored = {n for n in names if n.startswith(".") or n == "__pycache__" or n.endswith(".egg-info")}
    if Path(folder) == ROOT:
        ignored |= NOT_PACKAGED & set(names)
    if Path(folder).parent.name == "models":
        ignored |= {"run"} & set(names)  # training runs beside a bundle (gitignored)
    return ignored


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The wheel built from a copy of the sources and installed into a folder of its own."""
    missing = _wheel_builder_missing()
    if missing:
        pytest.skip(f"cannot build the wheel offline: {missing}")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=_ignore)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index", str(src),
          "-w", str(tmp / "dist")])
    (wheel,) = (tmp / "dist").glob("poppyscan-*.whl")
    _run([*pip, "install", "-q", "--no-deps", "--no-index", "--target", str(tmp / "site"),
          str(wheel)])
    return tmp / "site"


def _installed(site: Path, cwd: Path, *args: str) -> str:
    """Run Python with only the installed copy added to the path, in ``cwd``; its stdout."""
    env = {**os.environ, "PYTHONPATH": str(site), "YOLO_OFFLINE": "1"}
    return _run([sys.executable, *args], cwd=cwd, env=env).stdout


def test_only_poppyscan_is_installed_with_its_configs_and_model(site):
    top = {p.name for p in site.iterdir() if not p.name.endswith(".dist-info")} - {"bin"}
    assert top == {"poppyscan"}  # no tiles/, detect/, train/, synth/ beside it
    package = site / "poppyscan"
    configs = {p.relative_to(ROOT / "configs") for p in (ROOT / "configs").rglob("*.yaml")}
    assert configs and {p.relative_to(package / "configs")
                        for p in (package / "configs").rglob("*.yaml")} == configs
    model = package / "detect" / "models" / "poppy-demo"
    assert (model / "card.yaml").is_file() and (model / "weights.pt").stat().st_size > 1e6


def test_installed_command_tiles_and_detects_from_any_folder(site, real_dir, tmp_path):
    def poppyscan(*args: str) -> str:  # the wheel's console-script entry point
        return _installed(site, tmp_path, str(site / "bin" / "poppyscan"), *args)

    where = _installed(site, tmp_path, "-c", "import poppyscan.tiles as t; print(t.__file__)")
    assert Path(where.strip()).is_relative_to(site)  # the installed copy, not the checkout

    out = poppyscan("tile", str(real_dir / "OSBS_029.tif"), "--out", "tiles")
    assert "4 chips written" in out  # the installed configs/tiling.yaml: 640 px at 5 cm
    assert len(list((tmp_path / "tiles" / "chips").glob("*.tif"))) == 4
    assert (tmp_path / "tiles" / "chips.gpkg").is_file()

    poppyscan("synth", "--seed", "1", "--size-px", "512", "512", "--plot-density", "100",
              "--out", "survey")
    poppyscan("detect", "survey/ortho.tif", "--out", "found", "--device", "cpu")
    run = json.loads((tmp_path / "found" / "run.json").read_text())
    assert Path(run["model"]["bundle"]).is_relative_to(site)  # the bundled model, installed
    targets = json.loads((tmp_path / "found" / "targets.geojson").read_text())
    assert len(targets["features"]) >= 1  # the survey's one plot: the model ran for real
    assert (tmp_path / "found" / "report.html").is_file()
