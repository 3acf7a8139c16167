"""Benchmark the synthetic survey generator: Mpx/s and peak RSS against raster size.

Each size runs in its own process, so its peak RSS is its own. Times are end
to end (scene layout, rendering, JPEG GeoTIFF, ground truth).

    python scripts/bench_synth.py --sizes 2048 8192 20000 --gsd 0.05
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def child(size_px: int, gsd_m: float, seed: int, block_px: int) -> None:
    from poppyscan.synth import generate_survey

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = generate_survey(tmp, seed=seed, size_px=(size_px, size_px), gsd_m=gsd_m,
                              block_px=block_px)
        elapsed = time.perf_counter() - t0
        size_mib = res.ortho_path.stat().st_size / 2**20
    print(json.dumps(dict(
        size_px=size_px, gsd_m=gsd_m, mpx=round(size_px**2 / 1e6, 1), seconds=round(elapsed, 2),
        mpx_per_s=round(size_px**2 / 1e6 / elapsed, 2), plots=len(res.plots),
        peak_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        ortho_mib=round(size_mib, 1),
    )))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2048, 8192, 20000],
                    help="square raster sides in pixels [2048 8192 20000]")
    ap.add_argument("--gsd", type=float, default=0.05, help="metres per pixel [0.05]")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--block-px", type=int, default=512)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.gsd, args.seed, args.block_px)
        return
    print(f"{'size px':>9} {'Mpx':>7} {'s':>8} {'Mpx/s':>6} {'peak RSS MiB':>13} {'plots':>6} "
          f"{'ortho MiB':>9}")
    for size in args.sizes:
        cmd = [sys.executable, __file__, "--child", str(size), "--gsd", str(args.gsd),
               "--seed", str(args.seed), "--block-px", str(args.block_px)]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=os.environ)
        if out.returncode:
            sys.exit(out.stderr)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{size:>9} {r['mpx']:>7} {r['seconds']:>8} {r['mpx_per_s']:>6} "
              f"{r['peak_rss_mib']:>13} {r['plots']:>6} {r['ortho_mib']:>9}", flush=True)


if __name__ == "__main__":
    main()
