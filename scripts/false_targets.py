"""False targets per km2 of a model on real orthomosaics that hold no poppy.

    python scripts/false_targets.py tests/data/real --out runs/false-targets
    python scripts/false_targets.py --model runs/new-model --held-out-only --out runs/ft-new

Every target on these images is false. Areas are the ground each run examined
(valid chips), measured in the image's own projected CRS, or in the local UTM
zone where that CRS distorts areas (World Mercator). Writes into --out:
``false_targets.md`` (the table), ``false_targets.json``, ``contact_sheet.png``
(thumbnails of the targets at the lowest threshold asked, grouped by what they lie
on: a mean-colour heuristic, see ``poppyscan.train.false_target_rate.ground_class``)
and ``thumbs/``. Images much coarser than the model's GSD are skipped and listed.

Held out from training (never used as real negatives): SJER_477.tif and
oamtcd_brazil_10cm.tif (HELD_OUT). The other real images are the negatives of
``dataset build --negatives-from``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HELD_OUT = ("SJER_477.tif", "oamtcd_brazil_10cm.tif")
SUFFIXES = (".tif", ".tiff", ".vrt")


def images_of(paths: list[Path]) -> list[Path]:
    """The raster files named, and those inside folders named, sorted by name."""
    out = []
    for path in paths:
        out.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
                   if path.is_dir() else [path])
    return out


def markdown(rates, skipped, confs: list[float], model_id: str) -> str:
    from poppyscan.train.false_target_rate import pooled_rates

    head = ["image", "held out", "CRS", "area measured in", "km2",
            *[f"targets @{c:g}" for c in confs], *[f"per km2 @{c:g}" for c in confs],
            "max conf", "lie on"]
    lines = [f"False targets of {model_id} on real poppy-free imagery", "",
             "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for rate in rates:
        top = confs[0]
        kinds = sorted({t.lies_on for t in rate.targets[top]})
        best = max((t.conf for t in rate.targets[top]), default=None)
        cells = [rate.path.name, "yes" if rate.path.name in HELD_OUT else "no", rate.crs,
                 rate.measured_in, f"{rate.area_km2:.4f}",
                 *[str(len(rate.targets[c])) for c in confs],
                 *[f"{rate.per_km2(c):.0f}" for c in confs],
                 "-" if best is None else f"{best:.2f}", ", ".join(kinds) or "-"]
        lines.append("| " + " | ".join(cells) + " |")
    for name, group in (("pooled, held out", [r for r in rates if r.path.name in HELD_OUT]),
                        ("pooled, all", rates)):
        if not group:
            continue
        pooled = [pooled_rates(group, c) for c in confs]
        cells = [name, "", "", "", f"{pooled[0][1]:.4f}", *[str(n) for n, _, _ in pooled],
                 *[f"{rate:.0f}" for _, _, rate in pooled], "", ""]
        lines.append("| " + " | ".join(cells) + " |")
    for item in skipped:
        lines.append(f"\nSkipped {item.path.name}: {item.reason}")
    return "\n".join(lines) + "\n"


def to_json(rates, skipped, confs: list[float], model_id: str) -> dict:
    return {
        "model_id": model_id, "confs": confs, "held_out": list(HELD_OUT),
        "images": [{
            "image": r.path.name, "held_out": r.path.name in HELD_OUT, "crs": r.crs,
            "area_measured_in": r.measured_in, "area_km2": round(r.area_km2, 6),
            "targets": {f"{c:g}": [{"conf": t.conf, "area_m2": t.area_m2, "lies_on": t.lies_on}
                                   for t in r.targets[c]] for c in confs},
        } for r in rates],
        "skipped": [{"image": s.path.name, "reason": s.reason} for s in skipped],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", type=Path, nargs="*", default=[ROOT / "tests" / "data" / "real"],
                        help="poppy-free orthomosaics or folders of them [tests/data/real]")
    parser.add_argument("--model", default=None, help="model bundle [the bundled poppy-demo]")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created)")
    parser.add_argument("--conf", type=float, nargs="*", default=[],
                        help="thresholds to count at, each in (0, 1) [the card's]; the contact "
                             "sheet shows the targets at the lowest")
    parser.add_argument("--held-out-only", action="store_true",
                        help=f"only the images held out from training ({', '.join(HELD_OUT)})")
    parser.add_argument("--max-gsd-ratio", type=float, default=4.0,
                        help="skip images this many times coarser than the model's GSD [4]")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, auto [cpu]")
    args = parser.parse_args()

    from poppyscan.detect.bundle import load_bundle
    from poppyscan.train.false_target_rate import false_target_rates, write_contact_sheet

    bundle = load_bundle(args.model)
    images = images_of(args.images)
    if args.held_out_only:
        images = [p for p in images if p.name in HELD_OUT]
    if not images:
        raise SystemExit(f"no images in {', '.join(map(str, args.images))}")
    confs = args.conf or [bundle.conf]
    rates, skipped = false_target_rates(images, bundle, confs=confs, device=args.device,
                                        max_gsd_ratio=args.max_gsd_ratio)
    confs = sorted(set(confs))
    args.out.mkdir(parents=True, exist_ok=True)
    write_contact_sheet(rates, confs[0], args.out / "contact_sheet.png",
                        thumbs_dir=args.out / "thumbs")
    table = markdown(rates, skipped, confs, bundle.model_id)
    (args.out / "false_targets.md").write_text(table)
    (args.out / "false_targets.json").write_text(
        json.dumps(to_json(rates, skipped, confs, bundle.model_id), indent=2) + "\n")
    print(table)
    print(f"contact sheet: {args.out / 'contact_sheet.png'}")


if __name__ == "__main__":
    main()
