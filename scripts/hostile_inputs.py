"""Issue 29's hostile inputs, measured: what each costs now (wall time, CPU, peak memory).

Each attack runs in its own child process, so its peak RSS is its own. Prints one
line per attack; the issue's "before" figures are in its text. Offline, 127.0.0.1
only, everything under a temporary folder::

    python3 scripts/hostile_inputs.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(code: str, *args: str) -> tuple[dict, float, float]:
    """Run ``code`` (prints one JSON line) in a child: (answer, wall s, CPU s)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=900)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    lines = done.stdout.strip().splitlines()
    answer = json.loads(lines[-1]) if lines else {"exit": done.returncode,
                                                  "stderr": done.stderr[-300:]}
    return answer, wall, cpu


READ = """
import json, resource, sys
from poppyscan.errors import PoppyscanError
from poppyscan.field.registry.readers import read_verdict_files
try:
    answer = {"rows": sum(len(f.rows) for f in read_verdict_files(sys.argv[1]))}
except PoppyscanError as err:
    answer = {"refused": str(err)[-110:]}
answer["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps(answer))
"""


def make_inputs(tmp: Path) -> dict[str, Path]:
    from tests.field.test_hostile_verdicts import hostile_gpkg

    for old in ("a.gpkg", "b.gpkg"):
        (tmp / old).unlink(missing_ok=True)
    paths = {"gpkg, gpkg_contents a recursive view": hostile_gpkg(tmp / "a.gpkg", "contents view"),
             "gpkg, its table a doubling recursive view": hostile_gpkg(tmp / "b.gpkg", "table view")}
    csv = tmp / "wide.csv"  # about the 43 MB: 100,000 rows (the cap) of 60 columns
    with open(csv, "w") as out:
        out.write("target_id,status," + ",".join(f"c{i}" for i in range(58)) + "\n")
        filler = ",".join("y" * 6 for _ in range(58))
        for i in range(100_000):
            out.write(f"M-{i},confirmed,{filler}\n")
    paths[f"csv of {csv.stat().st_size / 1e6:.0f} MB"] = csv
    bomb = tmp / "bomb.zip"  # the issue's: about 1 MB holding 1 GiB
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("crew.csv", "w", force_zip64=True) as member:
            for _ in range(1024):
                member.write(b"\0" * (1 << 20))
    paths[f"zip of {bomb.stat().st_size / 1e6:.1f} MB holding 1 GiB"] = bomb
    return paths


OLD_CSV = """
import csv, json, resource, sys
with open(sys.argv[1], newline="", encoding="utf-8-sig") as f:  # the reading before issue 29
    rows = len(list(csv.DictReader(f)))
print(json.dumps({"rows": rows, "peak_rss_mib":
                  round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
"""


UPLOAD = """
import json, os, resource, sys, time
from pathlib import Path
import rasterio
from rasterio.transform import from_origin
from tests.service.conftest import Service
from poppyscan.detect.bundle import write_untrained_bundle
tmp = Path(sys.argv[1])
bundle = write_untrained_bundle(tmp / "bundle", tile_px=128, overlap_px=32, conf=0.01)
service = Service(tmp / "svc", bundle, max_upload_bytes=64 << 20)
path = tmp / "sparse.tif"
with rasterio.open(path, "w", driver="GTiff", width=100_000, height=100_000, count=3,
                   dtype="uint8", tiled=True, blockxsize=512, blockysize=512, sparse_ok=True,
                   crs="EPSG:32642", transform=from_origin(5e5, 3.8e6, 0.05, 0.05),
                   compress="deflate"):
    pass
body = path.read_bytes() + os.urandom(10_000_000)
mission = service.mission("ann")
rss0, cpu0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.process_time()
started = time.perf_counter()
row = service.upload("ann", mission, body, name="bomb.tif")
print(json.dumps({"bytes": len(body), "state": row["state"], "error": row["error"][:110],
                  "s": round(time.perf_counter() - started, 2),
                  "web_cpu_s": round(time.process_time() - cpu0, 2),
                  "web_rss_growth_mib": round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                               - rss0) / 1024, 1)}))
"""


TOKENS = """
import json, tempfile, time
from poppyscan.service.auth import add_user, hash_secret, user_from_token, verify_secret
from poppyscan.service.store import DataDir, connect
data = DataDir(tempfile.mkdtemp()).create()
_, _, token = add_user(data, "ann", "north")
con, wrong = connect(data), "pst_" + token.split("_")[1] + "_" + "A" * 43
started = time.perf_counter()
for _ in range(1000):
    assert user_from_token(con, data, wrong) is None
wrong_ms = (time.perf_counter() - started) / 1000 * 1e3
stored = hash_secret("x")
started = time.perf_counter()
for _ in range(20):
    verify_secret("y", stored)
print(json.dumps({"wrong_secret_ms_now": round(wrong_ms, 4),
                  "scrypt_ms_before": round((time.perf_counter() - started) / 20 * 1e3, 1)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="keep the inputs in this folder")
    args = parser.parse_args()
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="hostile-"))
    tmp.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    for name, path in make_inputs(tmp).items():
        answer, wall, cpu = child(READ, str(path))
        print(f"verdict file, {name}: {answer} in {wall:.2f} s wall, {cpu:.2f} CPU-s "
              "(with Python's start-up)")
        if path.suffix == ".csv":
            answer, wall, cpu = child(OLD_CSV, str(path))
            print(f"  the same CSV read as before issue 29 (a list of DictReader rows): {answer}")
    answer, wall, _ = child(UPLOAD, str(tmp / "upload"))
    print(f"padded sparse image bomb through the service: {answer} ({wall:.1f} s with start-up)")
    answer, *_ = child(TOKENS)
    print(f"API token with a real id and a wrong secret, ms per check: {answer}")


if __name__ == "__main__":
    main()
