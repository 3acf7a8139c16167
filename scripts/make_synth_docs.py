"""Regenerate the example pictures of the synthetic survey generator (docs/synth/*.png).

    python scripts/make_synth_docs.py [--out docs/synth] [--seed 7]

The same 60 m x 60 m scene is rendered at 2, 5 and 8 cm GSD (the layout depends
only on the seed and the ground extent), so each row shows one plot or
look-alike at the three resolutions, at its native pixels (nearest-neighbour
enlarged, never smoothed). Chips are 8 m across; plots carry their ground-truth
outline (yellow). ``overview.png`` is a whole 400 m x 300 m survey at 8 cm,
``conditions.png`` one scene under several flight conditions, ``wild_ground.png``
the uncultivated ground beside a chip of a real tile to compare by eye, and
``composites.png`` plots sown into real tiles (``poppyscan synth --onto``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import rasterio
import shapely
from rasterio.windows import Window

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from poppyscan.atomic import atomic_path  # noqa: E402
from poppyscan.synth import generate_survey  # noqa: E402

GSDS_M = (0.02, 0.05, 0.08)
EXTENT_M = 60.0
CHIP_M = 8.0
CELL_PX = 300
LABEL_PX = 150

def _plot_row(stage: str | None = None, colour: str | None = None, *, occluded: bool = False,
              interplanted: bool = False):
    def pred(p: dict) -> bool:
        return ((stage is None or p["stage"] == stage)
                and (colour is None or p["petal_color"] == colour)
                and (p["occluded_frac"] > 0.15 if occluded else p["occluded_frac"] < 0.1)
                and p["interplanted"] == interplanted)
    return pred


STAGE_ROWS = {
    "rosette": _plot_row("rosette"),
    "flowering, white": _plot_row("flowering", "white"),
    "flowering, red": _plot_row("flowering", "red"),
    "flowering, pink": _plot_row("flowering", "pink"),
    "flowering, purple": _plot_row("flowering", "purple"),
    "flowering, mixed": _plot_row("flowering", "mixed"),
    "capsule": _plot_row("capsule"),
    "under canopy edge": _plot_row(occluded=True),
    "interplanted": _plot_row(interplanted=True),
}
DISTRACTOR_ROWS = ("vegetable", "maize", "tea", "banana", "flowering_shrub", "wildflower", "roof")
REAL = ROOT / "tests" / "data" / "real"
# Uncultivated ground and the real chip (file, centre column, row at native pixels) it is
# compared with: SJER's sage scrub and granite, OSBS's sandhill scrub, the Brazil tile's bare
# and burnt patches, the Australian drone crop's long trunk shadows on grass.
WILD_ROWS = {
    "shrub_meadow": ("SJER_477.tif", 150, 150),
    "dead_wood": ("australia_drone_1p8cm.tif", 560, 420),
    "rock": ("SJER_477.tif", 310, 300),
    "landslide": ("oamtcd_brazil_10cm.tif", 1750, 800),
    "burn_scar": ("oamtcd_brazil_10cm.tif", 1480, 480),
    "long soft shadows": ("australia_drone_1p8cm.tif", 200, 220),
}


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


def stage_sheet(tmp: Path, seeds: range) -> tuple[np.ndarray, list[str]]:
    rows, need = {}, dict(STAGE_ROWS)
    for seed in seeds:
        res = _surveys(tmp, seed, plot_density_per_ha=60, distractor_density_per_ha=10,
                       forest_cover=0.3)
        for name, pred in list(need.items()):
            plot = _pick(res[0].plots, pred, res[0].footprint)
            if plot is None:
                continue
            del need[name]
            c = plot["geometry"].representative_point()
            stage = plot["stage"] + (f", {plot['petal_color']}" if plot["petal_color"] else "")
            info = [stage] if stage != name else []
            info += [f"{plot['area_m2']:.0f} m2, {plot['planting']}",
                    f"{plot['occluded_frac']:.0%} under crowns",
                    f"seed {seed}, plot {plot['plot_id']}"]
            if plot["interplanted"]:
                info.append(f"+ {plot['intercrop']}")
            rows[name] = np.hstack([_label(name, info)] +
                                   [_chip(r, (c.x, c.y), plot["geometry"]) for r in res])
        if not need:
            break
    ordered = [rows[name] for name in STAGE_ROWS if name in rows]
    return _sheet(ordered, [f"{g * 100:.0f} cm GSD" for g in GSDS_M]), list(need)


def distractor_sheet(tmp: Path, seeds: range) -> tuple[np.ndarray, list[str]]:
    rows, need = [], list(DISTRACTOR_ROWS)
    for seed in seeds:
        res = _surveys(tmp, seed, plot_density_per_ha=5, distractor_density_per_ha=60,
                       roof_density_per_ha=15, forest_cover=0.3)
        for kind in list(need):
            item = _pick(res[0].distractors, lambda d, k=kind: d["kind"] == k, res[0].footprint)
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


def _real_chip(name: str, col: int, row: int) -> np.ndarray:
    """An 8 m chip of a real tile (ground metres, as the synthetic chips), native pixels enlarged."""
    from poppyscan.synth.host import ground_px_m

    with rasterio.open(REAL / name) as src:
        gsd_m = sum(ground_px_m(src.crs.to_wkt(), src.transform, src.width, src.height)) / 2
        half = int(round(CHIP_M / gsd_m / 2))
        img = src.read([1, 2, 3], window=Window(col - half, row - half, 2 * half, 2 * half),
                       boundless=True, fill_value=0)
    img = np.ascontiguousarray(np.moveaxis(img, 0, -1)[..., ::-1])
    return cv2.resize(img, (CELL_PX, CELL_PX), interpolation=cv2.INTER_NEAREST)


def _shadow_edge(res, scene_seed: int) -> tuple[float, float] | None:
    """Map point 4 m into a clearing from its edge, along the sun's shadows (trees' shadows fall there)."""
    from poppyscan.synth.canopy import shadow_step, sun_vector
    from poppyscan.synth.scene import build_scene

    extent = EXTENT_M
    scene = build_scene(scene_seed, extent, extent)
    step = shadow_step(sun_vector(res.conditions.sun_azimuth_deg, res.conditions.sun_elevation_deg))
    direction = step / np.hypot(*step)
    origin = np.array([res.transform.c, res.transform.f - extent])
    for t in np.linspace(0, 1, 200, endpoint=False):
        p = scene.clearings.boundary.interpolate(t, normalized=True)
        inside = np.array([p.x, p.y]) + 4.0 * direction
        deep = np.array([p.x, p.y]) + 8.0 * direction
        if (scene.clearings.contains(shapely.Point(*deep)) and res.footprint.buffer(-5).contains(
                shapely.Point(*(inside + origin))) and 8 < inside.min() and inside.max() < extent - 8):
            return tuple(inside + origin)
    return None


def wild_sheet(tmp: Path, seeds: range) -> tuple[np.ndarray, list[str]]:
    """Each kind of uncultivated ground at 2, 5 and 8 cm beside a chip of a real tile."""
    from poppyscan.synth import scene as scene_module

    rows, need = {}, dict(WILD_ROWS)
    dense = scene_module.WILD_DENSITY_PER_HA
    scene_module.WILD_DENSITY_PER_HA = 40.0  # many examples per survey; pictures only
    try:
        for seed in seeds:
            low_sun = dict(sun_elevation_deg=22.0) if "long soft shadows" in need else None
            res = _surveys(tmp, seed, plot_density_per_ha=2, distractor_density_per_ha=2,
                           forest_cover=0.45, conditions=low_sun)
            for kind, (name, col, row) in list(need.items()):
                if kind == "long soft shadows":
                    centre = _shadow_edge(res[0], seed) if low_sun else None
                    info = ["sun 22 degrees", f"seed {seed}"]
                else:
                    item = _pick(res[0].distractors, lambda d, k=kind: d["kind"] == k,
                                 res[0].footprint)
                    centre = None if item is None else item["geometry"].representative_point()
                    centre = None if centre is None else (centre.x, centre.y)
                    info = [] if item is None else [f"{item['area_m2']:.0f} m2", f"seed {seed}"]
                if centre is None:
                    continue
                del need[kind]
                rows[kind] = np.hstack([_label(kind.replace("_", " "), [*info, f"real: {name[:16]}"])]
                                       + [_chip(r, centre) for r in res] + [_real_chip(name, col, row)])
            if not need:
                break
    finally:
        scene_module.WILD_DENSITY_PER_HA = dense
    ordered = [rows[k] for k in WILD_ROWS if k in rows]
    return _sheet(ordered, [*(f"{g * 100:.0f} cm GSD" for g in GSDS_M), "real tile"]), list(need)


def composites_sheet(tmp: Path, seed: int) -> np.ndarray:
    """Plots sown into three real tiles: 20 m chips around mid-sized plots, truth in yellow."""
    from poppyscan.synth import composite_survey

    cells = []
    for name in ("oamtcd_brazil_10cm.tif", "OSBS_029.tif", "oamtcd_philippines_10cm.tif"):
        res = composite_survey(REAL / name, tmp / name, seed=seed, plot_density_per_ha=30,
                               overwrite=True)
        with rasterio.open(res.ortho_path) as src:
            for plot in sorted(res.plots, key=lambda p: abs(p["area_m2"] - 40))[:4]:
                c = plot["geometry"].centroid
                col, row = ~src.transform * (c.x, c.y)
                half = round(10.0 / res.ground_px_m[0])
                win = Window(int(col) - half, int(row) - half, 2 * half, 2 * half)
                img = np.moveaxis(src.read([1, 2, 3], window=win, boundless=True, fill_value=0), 0, -1)
                img = cv2.resize(np.ascontiguousarray(img[..., ::-1]), (CELL_PX, CELL_PX),
                                 interpolation=cv2.INTER_NEAREST)
                xy = shapely.get_coordinates(plot["geometry"].exterior)
                px = (np.column_stack(~src.transform * (xy[:, 0], xy[:, 1]))
                      - (win.col_off, win.row_off)) * CELL_PX / (2 * half)
                cv2.polylines(img, [np.round(px * 16).astype(np.int32)], True, (0, 255, 255), 1,
                              cv2.LINE_AA, 4)
                text = f"{name[:12]} {plot['stage']} {plot['area_m2']:.0f} m2"
                cv2.putText(img, text, (6, CELL_PX - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                            (255, 255, 255), 1, cv2.LINE_AA)
                cells.append(img)
    while len(cells) % 4:
        cells.append(np.zeros_like(cells[0]))
    return np.vstack([np.hstack(cells[i:i + 4]) for i in range(0, len(cells), 4)])


CONDITIONS = {
    "as drawn for the seed": None,
    "low morning sun": dict(sun_elevation_deg=35.0, sun_azimuth_deg=110.0),
    "haze": dict(haze=0.28),
    "cloud shadows": dict(cloud=0.35),
    "strong seams, vignetting": dict(seam_gain=0.09, vignette=0.15),
    "soft, noisy, low JPEG": dict(blur_px=1.6, noise_dn=5.0, jpeg_quality=60),
}


def conditions_sheet(tmp: Path, seed: int) -> np.ndarray:
    """One 40 m scene at 5 cm under several flight conditions (shrunk to half)."""
    cells = []
    for name, overrides in CONDITIONS.items():
        res = generate_survey(tmp / "cond", seed=seed, gsd_m=0.05, size_px=(800, 800),
                              overwrite=True, conditions=overrides, forest_cover=0.45)
        with rasterio.open(res.ortho_path) as src:
            img = src.read([1, 2, 3], out_shape=(3, 400, 400))
        img = np.ascontiguousarray(np.moveaxis(img, 0, -1)[..., ::-1])
        cv2.putText(img, name, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1,
                    cv2.LINE_AA)
        cells.append(img)
    return np.vstack([np.hstack(cells[:3]), np.hstack(cells[3:])])


def overview(tmp: Path, seed: int) -> np.ndarray:
    """A whole 400 m x 300 m survey at 8 cm, shrunk: footprint, forest, clearings, roads."""
    res = generate_survey(tmp / "overview", seed=seed, gsd_m=0.08, size_px=(5000, 3750),
                          overwrite=True, plot_density_per_ha=4)
    with rasterio.open(res.ortho_path) as src:
        img = src.read([1, 2, 3], out_shape=(3, 750, 1000))
    return np.ascontiguousarray(np.moveaxis(img, 0, -1)[..., ::-1])


def _write_png(path: Path, img: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        cv2.imwrite(str(tmp), img, [cv2.IMWRITE_PNG_COMPRESSION, 9])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/synth"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--only", choices=["wild", "composites"], default=None,
                    help="write only wild_ground.png or composites.png [all]")
    args = ap.parse_args()
    if args.only:
        args.out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            if args.only == "wild":
                sheet, missing = wild_sheet(Path(tmp), range(args.seed, args.seed + 40))
                print("no example found for", missing) if missing else None
            else:
                sheet = composites_sheet(Path(tmp), args.seed)
            _write_png(args.out / f"{'wild_ground' if args.only == 'wild' else 'composites'}.png",
                       sheet)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    seeds = range(args.seed, args.seed + 40)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sheet, missing = stage_sheet(tmp, seeds)
        _write_png(args.out / "stages.png", sheet)
        sheet, missing_d = distractor_sheet(tmp, seeds)
        _write_png(args.out / "distractors.png", sheet)
        _write_png(args.out / "overview.png", overview(tmp, args.seed))
        _write_png(args.out / "conditions.png", conditions_sheet(tmp, args.seed + 14))
        sheet, missing_w = wild_sheet(tmp, seeds)
        _write_png(args.out / "wild_ground.png", sheet)
        _write_png(args.out / "composites.png", composites_sheet(tmp, args.seed))
    missing = missing + missing_d + missing_w
    print(f"wrote {args.out}/stages.png, distractors.png, overview.png, conditions.png, "
          "wild_ground.png, composites.png" + (f"; no example found for {missing}" if missing else ""))


if __name__ == "__main__":
    main()
