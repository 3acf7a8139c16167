"""One training epoch of `poppyscan train` as filed against today's, same data and settings.

Each run is its own process (`train` with ``epochs=1``, no export, a fresh run
folder), alternating the two revisions so that load on a shared machine falls
on both alike. The epoch's time is the ``time`` column Ultralytics writes to
``results.csv`` (training plus the epoch's validation, from the first batch),
so process start, dataset checks and bundling are left out. Also printed:
the torch threads each run computed with (read at the end of its epoch).

    python3 scripts/bench_train_threads.py --data /tmp/ds --filed-rev 84e330e --repeat 2

``--set KEY=VALUE`` adds training settings (YAML values) to both runs, e.g.
``--set architecture=yolo11n.yaml`` so that both start from the same network.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.bench_detect import build_revision  # noqa: E402

CHILD = """
import json, sys
import poppyscan.api as ps
cfg = json.loads(sys.argv[1])
threads = []
import ultralytics.engine.trainer as tr
real = tr.BaseTrainer.save_metrics
def save_metrics(self, metrics):
    import torch
    threads.append(torch.get_num_threads())
    return real(self, metrics)
tr.BaseTrainer.save_metrics = save_metrics
ps.train(sys.argv[2], sys.argv[3], **cfg)
print("THREADS", threads[-1])
"""


def run_once(data: Path, out: Path, settings: dict, site: Path | None) -> dict:
    """Train one epoch in a child process; its epoch seconds and torch threads."""
    env = dict(os.environ, YOLO_OFFLINE="1")
    env.pop("OMP_WAIT_POLICY", None)  # each revision's poppyscan sets its own (or none)
    if site is not None:  # that revision's poppyscan ahead of the installed one
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    cfg = {"epochs": 1, "export": [], "resume": False, **settings}
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(cfg), str(data), str(out)],
                          env=env, capture_output=True, text=True, cwd=out.parent)
    if proc.returncode:
        raise SystemExit(f"training failed ({'filed' if site else 'today'}): "
                         f"{(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    with open(out / "run" / "results.csv") as fh:
        row = next(csv.DictReader(fh))
    threads = int(proc.stdout.split("THREADS")[-1].split()[0])
    return {"epoch_s": float(row["time"]), "threads": threads}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="dataset from `dataset build`")
    parser.add_argument("--filed-rev", required=True, help="git revision of `train` as filed")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    settings = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    times: dict[str, list[float]] = {"filed": [], "today": []}
    with tempfile.TemporaryDirectory() as tmp:
        site = build_revision(args.filed_rev, Path(tmp))
        for i in range(args.repeat):
            for label, rev_site in (("filed", site), ("today", None)):
                res = run_once(args.data.resolve(), Path(tmp) / f"{label}{i}", settings, rev_site)
                times[label].append(res["epoch_s"])
                print(f"{label:6s} run {i + 1}: epoch {res['epoch_s']:.1f} s, "
                      f"torch threads {res['threads']}", flush=True)
    filed, today = statistics.median(times["filed"]), statistics.median(times["today"])
    print(f"median epoch: filed ({args.filed_rev}) {filed:.1f} s, today {today:.1f} s, "
          f"ratio {today / filed:.2f} (cores: {os.cpu_count()})")


if __name__ == "__main__":
    main()
