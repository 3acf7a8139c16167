"""A/B of training starts and recipes under one CPU-time budget, scored one to one at IoU 0.4.

Arms (``--arms``, default all): ``yolo11n-random`` (today's start),
``yolo11n-random-freeze``, ``yolov8n-start`` (the bundled pretrained start) and
``yolov8n-start-freeze`` (its first ``--freeze`` layers, the backbone, frozen).
Every arm trains with the tool's defaults (configs/train/default.yaml) except
its start and freeze, for the same ``--epochs`` (this shared 2-core machine's
load varies too much for a wall-time budget: each arm's CPU seconds, its own
and its data loaders', are reported; a frozen backbone costs less per epoch),
then runs the real detection on whole images:

- ``--tune IMAGE:LABELS``: the image the threshold is picked on (best F1 of the
  sweep), never scored for the table;
- ``--eval IMAGE:LABELS`` (repeatable): scored at the card's threshold and at the
  threshold picked on the tuning image.

Real tree crowns (``scripts/real_crowns.py`` writes the NEON images)::

    python3 scripts/ab_recipe.py --train /tmp/crowns/YELL_crop2.tif:/tmp/crowns/YELL_crop2.csv \\
        --tune /tmp/crowns/YELL_crop.tif:/tmp/crowns/YELL_crop.csv \\
        --eval /tmp/crowns/OSBS_029.tif:/tmp/crowns/OSBS_029.csv --epochs 40 --gsd native \
        --out /tmp/ab

Results go to ``OUT/results.json`` (one row per arm and image), printed as a
Markdown table. Arms already in results.json are skipped (rerun to finish);
``--rescore`` scores the trained arms again without training.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARMS = {
    "yolo11n-random": {"architecture": "yolo11n.yaml"},
    "yolo11n-random-freeze": {"architecture": "yolo11n.yaml", "freeze": True},
    "yolov8n-start": {"architecture": "start"},
    "yolov8n-start-freeze": {"architecture": "start", "freeze": True},
}


def pair(text: str) -> tuple[Path, Path]:
    image, _, labels = text.partition(":")
    if not labels:
        raise argparse.ArgumentTypeError(f"{text}: give IMAGE:LABELS")
    return Path(image), Path(labels)


def cpu_s() -> float:
    """CPU seconds of this process and its finished children (the data loaders)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def train_arm(name: str, ds: Path, out: Path, epochs: int, freeze: int) -> tuple[Path, float, float]:
    """Train one arm; (bundle folder, wall seconds, CPU seconds)."""
    import poppyscan.api as ps

    arm = ARMS[name]
    hyp = {"freeze": freeze} if arm.get("freeze") else {}
    wall, cpu = time.monotonic(), cpu_s()
    ps.train(ds, out / name, architecture=arm["architecture"], hyp=hyp, epochs=epochs,
             export=[], resume=False, overwrite=True, name=name)
    return out / name, time.monotonic() - wall, cpu_s() - cpu


def score(bundle: Path, image: Path, labels: Path, conf: float | None) -> dict:
    """One-to-one IoU 0.4 scores of ``bundle`` on ``image`` (at ``conf``, else the card's)."""
    import poppyscan.api as ps

    report = ps.evaluate([image], [labels], model=bundle, conf=conf, device="cpu").to_dict()
    best = max(report["sweep"], key=lambda row: (row["f1"] or 0)) if report["sweep"] else None
    return {"conf": report["settings"].get("conf"), "recall": report["recall"],
            "precision": report["precision"], "f1": report["f1"],
            "best_f1_conf": best and best["conf"], "best_f1": best and best["f1"]}


def run_arm(name: str, args, ds: Path) -> list[dict]:
    """Train, then score (see :func:`score_arm`)."""
    bundle, train_s, train_cpu_s = train_arm(name, ds, args.out, args.epochs, args.freeze)
    return score_arm(name, bundle, args, {"train_s": round(train_s),
                                          "train_cpu_s": round(train_cpu_s)})


def score_arm(name: str, bundle: Path, args, cost: dict) -> list[dict]:
    """Pick the threshold on the tuning image; score it (marked tuning) and every eval image."""
    import yaml

    card = yaml.safe_load((bundle / "card.yaml").read_text())
    tuned = score(bundle, *args.tune, None)
    picked = tuned["best_f1_conf"]
    rows = []
    for image, labels in [args.tune, *args.eval]:
        at_card = tuned if image == args.tune[0] else score(bundle, image, labels, None)
        at_pick = score(bundle, image, labels, picked)
        label = f"{image.name} (tuning)" if image == args.tune[0] else image.name
        rows.append({"arm": name, "image": label, **cost,
                     "epochs_run": card["training"]["epochs_run"], "card": at_card,
                     "picked_conf": picked, "picked_on": args.tune[0].name, "at_picked": at_pick})
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| arm | image | train wall s | train CPU s | epochs | P / R / F1 at card conf | "
             "conf picked on tuning image | P / R / F1 there |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c, p = r["card"], r["at_picked"]
        lines.append(f"| {r['arm']} | {r['image']} | {r['train_s']} | {r['train_cpu_s']} | "
                     f"{r['epochs_run']} | "
                     f"{c['precision']} / {c['recall']} / {c['f1']} ({c['conf']}) | "
                     f"{r['picked_conf']} | {p['precision']} / {p['recall']} / {p['f1']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=pair, required=True, metavar="IMAGE:LABELS")
    parser.add_argument("--tune", type=pair, required=True, metavar="IMAGE:LABELS")
    parser.add_argument("--eval", type=pair, action="append", required=True, metavar="IMAGE:LABELS")
    parser.add_argument("--epochs", type=int, default=40, help="training epochs per arm")
    parser.add_argument("--gsd", default=None, help="dataset GSD in m or 'native' [tiling default]")
    parser.add_argument("--freeze", type=int, default=10, help="layers frozen in the freeze arms")
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rescore", action="store_true", help="score the trained arms again")
    args = parser.parse_args(argv)
    import poppyscan.api as ps

    args.out.mkdir(parents=True, exist_ok=True)
    ds = args.out / "dataset"
    if not (ds / "data.yaml").is_file():  # the tool's default grid and split
        grid = {"gsd_m": args.gsd if args.gsd == "native" else float(args.gsd)} if args.gsd else {}
        ps.build_dataset([args.train[0]], [args.train[1]], ds, overwrite=True, **grid)
    results_file = args.out / "results.json"
    rows = json.loads(results_file.read_text()) if results_file.is_file() else []
    if args.rescore:  # score the trained arms again (e.g. on more images), keep their cost
        costs = {r["arm"]: {k: r[k] for k in ("train_s", "train_cpu_s")} for r in rows}
        rows = [row for name in costs for row in score_arm(name, args.out / name, args, costs[name])]
        results_file.write_text(json.dumps(rows, indent=1))
    for name in args.arms:
        if any(r["arm"] == name for r in rows):
            continue
        rows += run_arm(name, args, ds)
        results_file.write_text(json.dumps(rows, indent=1))
        print(f"{name}: done", file=sys.stderr, flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
