"""The fixed cost of ``poppyscan detect``: wall time and peak RSS of one-chip runs, and where
the resident memory goes.

    python scripts/bench_fixed_cost.py --repeat 5 --rev 598340c~1
    python scripts/bench_fixed_cost.py --python /tmp/v-base/bin/python   # a base-install venv

``runs``: ``poppyscan detect`` on a 640 px orthomosaic at 5 cm (one chip), each run a
process of its own, interleaved: today's code with an empty model cache (``cold``: OpenVINO
compiles the network) and with a warm one (``warm``: the compiled network is read from
``$POPPYSCAN_CACHE``), and with ``--rev`` that git revision built into a scratch folder
(same Python, same packages); ``--python`` runs them all under another interpreter, such
as a venv holding the base install. Wall time and peak RSS are each run's own (``wait4``).

``memory``: the resident set of one process after each step of a detect run (imports,
model, first chip, the run) and each step's wall time, with a cold and a warm model cache,
so the big steps show.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STEPS = """
import json, sys, time
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
rows = [("python started", rss(), 0.0)]
def step(name, code):
    start = time.perf_counter()
    exec(code, globals())
    rows.append((name, rss(), time.perf_counter() - start))
step("numpy", "import numpy as np")
step("rasterio", "import rasterio")
step("pyogrio, shapely, pyproj", "import pyogrio, shapely, pyproj")
step("cv2", "import cv2")
step("openvino", "import openvino")
step("poppyscan.api", "import poppyscan.api as ps")
step("model bundle", "from poppyscan.detect.bundle import load_bundle; b = load_bundle()")
step("predictor (OpenVINO, compiled)", "p = b.predictor('cpu'); p(np.zeros((1, 640, 640, 3), 'uint8'))")
step("detect one chip", "ps.detect([sys.argv[1]], sys.argv[2], device='cpu', overwrite=True)")
rows.append(("torch imported", "torch" in sys.modules, 0.0))
print(json.dumps(rows))
"""


def one_chip_ortho(folder: Path) -> Path:
    from poppyscan.synth import generate_survey

    return Path(generate_survey(folder / "survey", seed=3, size_px=(640, 640), gsd_m=0.05,
                                overwrite=True).ortho_path)


def timed(args: list[str], env: dict) -> tuple[float, float]:
    """(wall s, peak RSS MiB) of one child process."""
    start = time.perf_counter()
    child = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(args)} failed: {child.stderr.read().decode()[-500:]}")
    return wall, usage.ru_maxrss / 1024


def runs(ortho: Path, tmp: Path, repeat: int, rev: str | None, python: str) -> dict[str, list]:
    """Interleaved one-chip detect runs per variant: {variant: [(wall, rss), ...]}."""
    base_env = {**os.environ, "YOLO_OFFLINE": "1"}
    variants = {"today, cold model cache": None, "today, warm model cache": tmp / "warm"}
    sites = {}
    if rev:
        from scripts.bench_peers import build_revision

        sites[f"{rev} (before)"] = build_revision(rev, tmp)
        variants[f"{rev} (before)"] = None
    command = [python, "-m", "poppyscan", "detect", str(ortho), "--device", "cpu",
               "--overwrite", "--out"]
    results: dict[str, list] = {name: [] for name in variants}
    for i in range(repeat + 1):  # the first round warms the warm cache and the disk
        for name, cache in variants.items():
            env = {**base_env, "POPPYSCAN_CACHE": str(cache or tmp / f"cold-{name[:5]}-{i}")}
            if name in sites:
                env["PYTHONPATH"] = str(sites[name])
            got = timed([*command, str(tmp / "out")], env)
            if i:
                results[name].append(got)
    return results


def memory(ortho: Path, tmp: Path, cache: Path, python: str) -> list:
    env = {**os.environ, "YOLO_OFFLINE": "1", "POPPYSCAN_CACHE": str(cache)}
    done = subprocess.run([python, "-c", STEPS, str(ortho), str(tmp / "mem-out")],
                          env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_memory(ortho: Path, tmp: Path, python: str) -> None:
    cold = memory(ortho, tmp, tmp / "cold-memory", python)
    warm = memory(ortho, tmp, tmp / "warm", python)
    print("\n| step | RSS MiB after | added | s, cold cache | s, warm cache |\n"
          "| --- | --- | --- | --- | --- |")
    previous = 0.0
    for (name, value, cold_s), (_, _, warm_s) in zip(cold, warm, strict=True):
        if isinstance(value, bool):
            print(f"| {name} | {value} | | | |")
            continue
        print(f"| {name} | {value:.0f} | {value - previous:+.0f} | {cold_s:.2f} | {warm_s:.2f} |")
        previous = value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs per variant [5]")
    parser.add_argument("--rev", default=None, help="also time this git revision (before)")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter to run poppyscan with [this one]")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fixed-cost-") as tmp:
        tmp = Path(tmp)
        ortho = one_chip_ortho(tmp)
        print(f"| run ({args.repeat} each, interleaved) | wall s, median (range) | "
              "peak RSS MiB, median |\n| --- | --- | --- |")
        for name, got in runs(ortho, tmp, args.repeat, args.rev, args.python).items():
            walls, rss = [w for w, _ in got], [r for _, r in got]
            print(f"| {name} | {statistics.median(walls):.2f} ({min(walls):.2f}-{max(walls):.2f})"
                  f" | {statistics.median(rss):.0f} |")
        print_memory(ortho, tmp, args.python)


if __name__ == "__main__":
    main()
