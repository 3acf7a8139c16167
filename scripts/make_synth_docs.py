"""Regenerate the example pictures of the synthetic survey generator (docs/synth/*.png).

    python scripts/make_synth_docs.py [--out docs/synth] [--seed 7]

The same 60 m x 60 m scene is rendered at 2, 5 and 8 cm GSD (the layout depends
only on the seed and the ground extent), so each row shows one plot or
look-alike at the three resolutions, at its native pixels (nearest-neighbour
enlarged, never smoothed). Chips are 8 m across.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np
import rasterio
import shapely
from rasterio.windows import Window

from train.synth import generate_survey

GSDS_M = (0.02, 0.05, 0.08)
EXTENT_M = 60.0
CHIP_M = 8.0
CELL_PX = 300
LABEL_PX = 150
STAGE_ROWS = (("rosette", None), ("flowering", "white"), ("flowering", "red"),
              ("flowering", "pink"), ("flowering", "purple"), ("flowering", "mixed"),
              ("capsule", None))
DISTRACTOR_ROWS = ("vegetable", "maize", "tea", "banana", "flowering_shrub", "wildflower", "roof")


def _surveys(tmp: Path, seed: int, **kw) -> list:
    return [generate_survey(tmp / f"g{int(g * 100)}", seed=seed, gsd_m=g,
                            size_px=(int(round(EXTENT_M / g)),) * 2, overwrite=True, **kw)
            for g in GSDS_M]


def _chip(res, centre_xy: tuple[float, float], outline=None) -> np.ndarray:
    """An 8 m chip centred on ``centre_xy`` (map CRS), enlarged to CELL_PX without smoothing."""
    inv = ~res.transform
    col, row = inv * centre_xy
    half = CHIP_M / res.gsd_m / 2
    win = Window(int(col - half), int(row - half), int(2 * half), int(2 * half))
    with rasterio.open(res.ortho_path) as src:
        img = src.read([1, 2, 3], window=win, boundless=True, fill_value=0)
    img = np.ascontiguousarray(np.moveaxis(img, 0, -1)[..., ::-1])
    scale = CELL_PX / img.shape[0]
    big = cv2.resize(img, (CELL_PX, CELL_PX), interpolation=cv2.INTER_NEAREST)
    if outline is not None:  # ground-truth outline, to show the georeference
        xy = shapely.get_coordinates(outline.exterior)
        px = np.column_stack((~res.transform) * (xy[:, 0], xy[:, 1]))
        px = (px - (win.col_off, win.row_off)) * scale
        cv2.polylines(big, [np.round(px * 16).astype(np.int32)], True, (0, 255, 255), 1,
                      cv2.LINE_AA, 4)
    return big


def _label(text: str, lines: list[str] = ()) -> np.ndarray:
    cell = np.full((CELL_PX, LABEL_PX, 3), 255, np.uint8)
    for i, t in enumerate([text, *lines]):
        cv2.putText(cell, t, (6, 24 + 20 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.5 if i else 0.55,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return cell


def _header(titles: list[str]) -> np.ndarray:
    row = np.full((30, LABEL_PX + CELL_PX * len(titles), 3), 255, np.uint8)
    for i, t in enumerate(titles):
        cv2.putText(row, t, (LABEL_PX + i * CELL_PX + 8, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return row


def _sheet(rows: list[np.ndarray], titles: list[str]) -> np.ndarray:
    return np.vstack([_header(titles), *rows])


def _pick(items: list[dict], pred, footprint) -> dict | None:
    """A mid-sized item inside the footprint satisfying ``pred`` (clear, whole examples)."""
    good = [r for r in items if pred(r) and footprint.contains(r["geometry"])]
    return max(good, key=lambda r: r["area_m2"] if r["area_m2"] < 70 else 140 - r["area_m2"] / 10,
               default=None)


def stage_sheet(tmp: Path, seeds: range) -> np.ndarray:
    rows, need = [], list(STAGE_ROWS)
    for seed in seeds:
        res = _surveys(tmp, seed, plot_density_per_ha=60, distractor_density_per_ha=10,
                       forest_cover=0.3)
        for stage, colour in list(need):
            plot = _pick(res[0].plots, lambda p: p["stage"] == stage and p["occluded_frac"] < 0.2
                         and (colour is None or p["petal_color"] == colour), res[0].footprint)
            if plot is None:
                continue
            need.remove((stage, colour))
            c = plot["geometry"].representative_point()
            name = stage if colour is None else f"{stage}, {colour}"
            info = [f"{plot['area_m2']:.0f} m2, {plot['planting']}",
                    f"seed {seed}, plot {plot['plot_id']}"]
            if plot["interplanted"]:
                info.append(f"+ {plot['intercrop']}")
            rows.append(np.hstack([_label(name, info)] +
                                  [_chip(r, (c.x, c.y), plot["geometry"]) for r in res]))
        if not need:
            break
    order = {key: i for i, key in enumerate(STAGE_ROWS)}
    return _sheet(rows, [f"{g * 100:.0f} cm GSD" for g in GSDS_M]), [k for k in STAGE_ROWS if k in need]


def distractor_sheet(tmp: Path, seeds: range) -> np.ndarray:
    rows, need = [], list(DISTRACTOR_ROWS)
    for seed in seeds:
        res = _surveys(tmp, seed, plot_density_per_ha=5, distractor_density_per_ha=60,
                       forest_cover=0.3)
        for kind in list(need):
            item = _pick(res[0].distractors, lambda d: d["kind"] == kind, res[0].footprint)
            if item is None:
                continue
            need.remove(kind)
            c = item["geometry"].representative_point()
            rows.append(np.hstack([_label(kind, [str(item["variant"]), f"{item['area_m2']:.0f} m2",
                                                 f"seed {seed}"])] +
                                  [_chip(r, (c.x, c.y)) for r in res]))
        if not need:
            break
    return _sheet(rows, [f"{g * 100:.0f} cm GSD" for g in GSDS_M]), need


def overview(tmp: Path, seed: int) -> np.ndarray:
    """A whole 400 m x 300 m survey at 8 cm, shrunk: footprint, forest, clearings, roads."""
    res = generate_survey(tmp / "overview", seed=seed, gsd_m=0.08, size_px=(5000, 3750),
                          overwrite=True, plot_density_per_ha=4)
    with rasterio.open(res.ortho_path) as src:
        img = src.read([1, 2, 3], out_shape=(3, 750, 1000))
    return np.ascontiguousarray(np.moveaxis(img, 0, -1)[..., ::-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/synth"))
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    seeds = range(args.seed, args.seed + 40)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sheet, missing = stage_sheet(tmp, seeds)
        cv2.imwrite(str(args.out / "stages.png"), sheet)
        sheet, missing_d = distractor_sheet(tmp, seeds)
        cv2.imwrite(str(args.out / "distractors.png"), sheet)
        cv2.imwrite(str(args.out / "overview.png"), overview(tmp, args.seed))
    print(f"wrote {args.out}/stages.png, distractors.png, overview.png"
          + (f"; no example found for {missing + missing_d}" if missing or missing_d else ""))


if __name__ == "__main__":
    main()
