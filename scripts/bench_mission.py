"""Mission scale: peak memory from a 10k to a 400k px mosaic, and the cost of resuming a killed run.

memory
    Each size is a VRT mosaic of one real drone tile (no disk), at 5 cm: 400k px
    is a 20 km x 20 km mission, about 600,000 chips. In a fresh process the whole
    mission is planned, then the first ``--blocks`` chip blocks run through the
    model (journal on disk, merge, as ``poppyscan detect`` does); peak RSS and
    chips/s are printed. Planning is what grows with the mission; the stream and
    the journal do not.
resume
    ``poppyscan detect`` on a synthetic survey, timed straight through; then the
    same command killed (SIGKILL) once ``--kill-at`` of its chips are journalled,
    and rerun: the rerun's time over the straight run's, and whether the targets
    are identical.

    python3 scripts/bench_mission.py memory --sizes 10000 100000 400000
    python3 scripts/bench_mission.py resume --size-px 12288 --kill-at 0.6
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.bench_tiles import make_mosaic_vrt, make_source_tile  # noqa: E402


def memory_child(vrt: str, n_blocks: int, out: str) -> dict:
    """Plan all of ``vrt``, run its first ``n_blocks`` blocks; called in a fresh process."""
    from poppyscan.detect.bundle import load_bundle
    from poppyscan.detect.journal import Journal
    from poppyscan.detect.pipeline import BLOCK_CHIPS, plan_detection, run_detection
    from poppyscan.tiles import inspect_raster
    from poppyscan.tiles.plan import RasterPlan

    bundle = load_bundle()
    info = inspect_raster(vrt)
    t0 = time.perf_counter()
    plan = plan_detection([info], bundle.grid)[0]
    plan_s = time.perf_counter() - t0
    keep = np.zeros_like(plan.keep)
    keep[:BLOCK_CHIPS, :BLOCK_CHIPS * n_blocks] = plan.keep[:BLOCK_CHIPS, :BLOCK_CHIPS * n_blocks]
    start = time.perf_counter()
    with Journal(Path(out) / f"{Path(vrt).stem}.sqlite", {"bench": vrt}, run_id="bench") as journal:
        result = run_detection([info], bundle.predictor("cpu"), bundle.grid, journal=journal,
                               plans=[RasterPlan(plan.info, plan.spec, keep)])
    seconds = time.perf_counter() - start
    return {"planned": plan.n_planned, "plan_s": round(plan_s, 2), "chips": result.stats.read,
            "chips_per_s": round(result.stats.read / seconds, 2),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def memory(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tile = make_source_tile(Path(tmp) / "tile.tif", 0.05)
        print(f"{'size_px':>9} {'km side':>8} {'chips planned':>14} {'plan s':>7} {'chips run':>10} "
              f"{'chips/s':>8} {'peak RSS MiB':>13}")
        for size in args.sizes:
            vrt = make_mosaic_vrt(tile, size, Path(tmp) / f"mosaic_{size}.vrt")
            out = subprocess.run([sys.executable, __file__, "_memory", str(vrt), str(args.blocks), tmp],
                                 capture_output=True, text=True, check=True, cwd=ROOT)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{size:>9} {size * 0.05 / 1000:>8.1f} {r['planned']:>14,} {r['plan_s']:>7} "
                  f"{r['chips']:>10} {r['chips_per_s']:>8} {r['peak_rss_mib']:>13}")


def _detect(ortho: Path, out: Path, model: str | None) -> list[str]:
    cmd = [sys.executable, "-m", "poppyscan", "detect", str(ortho), "--out", str(out),
           "--device", "cpu", "--mission", "BENCH"]
    return cmd + (["--model", model] if model else [])


def _journalled_chips(out: Path) -> int:
    path = out / ".poppyscan" / "journal.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT COALESCE(SUM(read), 0) FROM blocks").fetchone()[0])
    except sqlite3.Error:
        return 0


def _targets(out: Path) -> list:
    features = json.loads((out / "targets.geojson").read_text())["features"]
    return [(f["properties"]["target_id"], f["properties"]["conf"], f["geometry"]["coordinates"])
            for f in features]


def resume(args) -> None:
    from poppyscan.detect.export.manifest import read_run
    from poppyscan.synth import generate_survey

    env = {**os.environ, "YOLO_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        survey = generate_survey(tmp / "survey", seed=args.seed, size_px=(args.size_px, args.size_px),
                                 gsd_m=0.05)
        start = time.perf_counter()
        subprocess.run(_detect(survey.ortho_path, tmp / "straight", args.model), check=True,
                       env=env, capture_output=True)
        straight_s = time.perf_counter() - start
        total = read_run(tmp / "straight")["counts"]["chips_read"]

        killed = tmp / "killed"
        start = time.perf_counter()
        proc = subprocess.Popen(_detect(survey.ortho_path, killed, args.model), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None and _journalled_chips(killed) < args.kill_at * total:
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_s, done = time.perf_counter() - start, _journalled_chips(killed)
        start = time.perf_counter()
        rerun = subprocess.run(_detect(survey.ortho_path, killed, args.model), env=env,
                               capture_output=True, text=True)
        rerun_s = time.perf_counter() - start
        if rerun.returncode:
            sys.exit(f"the rerun failed: {rerun.stderr[-2000:]}")
        same = _targets(killed) == _targets(tmp / "straight")
        leftovers = sorted(p.name for p in (killed / ".poppyscan").iterdir())
    print(f"survey {args.size_px} px at 5 cm: {total} chips")
    print(f"straight run              {straight_s:7.1f} s")
    print(f"killed after {done}/{total} chips ({done / total:.0%} journalled) at {killed_s:.1f} s")
    print(f"rerun after the kill      {rerun_s:7.1f} s  = {rerun_s / straight_s:.2f} of the straight run")
    print(f"targets identical: {same}; state left in .poppyscan/: {leftovers}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_memory":
        print(json.dumps(memory_child(sys.argv[2], int(sys.argv[3]), sys.argv[4])))
        return
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    mem = sub.add_parser("memory", help="peak RSS and chips/s by mosaic size")
    mem.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 400_000])
    mem.add_argument("--blocks", type=int, default=1, help="chip blocks (8 x 8 chips) run [1]")
    res = sub.add_parser("resume", help="a rerun after a kill, against a straight run")
    res.add_argument("--size-px", type=int, default=12288, help="survey side in pixels [12288]")
    res.add_argument("--seed", type=int, default=5)
    res.add_argument("--kill-at", type=float, default=0.6, help="share of chips journalled [0.6]")
    res.add_argument("--model", default=None, help="model bundle [the bundled model]")
    args = parser.parse_args()
    memory(args) if args.command == "memory" else resume(args)


if __name__ == "__main__":
    main()
