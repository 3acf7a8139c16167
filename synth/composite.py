"""``composite_survey``: synthetic poppy plots sown into a real orthomosaic, with ground truth.

Positives then sit in real context (real grass, soil, shadows, roofs and
camera), so a model must learn poppy rather than "whatever the synthetic
ground is not". Plots are the generator's own (:func:`poppyscan.synth.layout.poppy_field`:
every stage, irregular outlines, rows or broadcast, intercrops), placed on the
host's open ground (:mod:`poppyscan.synth.host`), allowed to reach under its
tree canopy (which then hides part of them: ``occluded_frac``), and matched to
the host around each plot (:mod:`poppyscan.synth.paste`).

The host keeps its grid, CRS and mask; pixels farther than
:func:`~poppyscan.synth.paste.reach_m` from every plot keep their exact
values (the output is written losslessly). Plots are drawn in true ground
metres: for a World Mercator host the pixel's ground size is its map size over
the CRS's scale there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import rasterio
import shapely
from affine import Affine
from pyproj import CRS

from poppyscan.atomic import atomic_path, atomic_write_text
from poppyscan.errors import ConfigError, RasterError
from poppyscan.synth.block import Block
from poppyscan.synth.canopy import sun_vector
from poppyscan.synth.elements import STAGES, Field, component_rng
from poppyscan.synth.host import blocked_mask, canopy_mask, ground_px_m, open_mask
from poppyscan.synth.layout import Occupancy, poppy_field
from poppyscan.synth.paste import RING_M, Pasted, paste_plot, reach_m
from poppyscan.synth.survey import GSD_RANGE_M
from poppyscan.synth.truth import PLOT_FIELDS, write_records
from poppyscan.tiles.geometry import mask_to_polygon

__all__ = ["COMPOSITE_OUTPUTS", "CompositeResult", "composite_survey"]

COMPOSITE_OUTPUTS = ("ortho.tif", "plots.geojson", "composite.json")
MAX_HOST_MPX = 400  # the host is held in memory whole
MAX_BLOCKED_FRAC = 0.1  # of a plot on roofs, water or dark ground
MAX_CANOPY_FRAC = 0.5  # of a plot under the host's canopy
TRIES_PER_PLOT = 40


@dataclass(frozen=True)
class CompositeResult:
    """What :func:`composite_survey` wrote; plot geometries in the host's CRS."""

    ortho_path: Path
    plots_path: Path
    plots: list[dict]
    host: Path
    crs: CRS
    ground_px_m: tuple[float, float]


def composite_survey(
    host: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    seed: int,
    stages: Sequence[str] = STAGES,
    plot_density_per_ha: float = 8.0,
    shadows: bool = True,
    overwrite: bool = False,
) -> CompositeResult:
    """Sow plots into ``host`` and write ``ortho.tif``, ``plots.geojson``, ``composite.json``.

    ``plot_density_per_ha`` (0-200, default 8) is per hectare of the host's
    open ground; ``seed`` fixes the plots, their look and the sun (same host and
    arguments: same bytes). ``shadows=False`` leaves the host untouched outside
    the plots' polygons (and their one-pixel feathered edge). The host must be
    8-bit RGB(A), projected, at 1.5-10 cm ground resolution and at most 400 Mpx.
    """
    _check(seed, stages, plot_density_per_ha)
    out_dir = Path(out_dir)
    existing = [out_dir / n for n in COMPOSITE_OUTPUTS if (out_dir / n).exists()]
    if existing and not overwrite:
        raise ConfigError(f"{existing[0]} already exists; pass overwrite=True (--overwrite) to replace it")
    bands, profile, colorinterp, valid = _read_host(Path(host))
    crs, transform = CRS(profile["crs"]), profile["transform"]
    gx, gy = ground_px_m(crs, transform, profile["width"], profile["height"])
    gsd_m = (gx + gy) / 2
    if not GSD_RANGE_M[0] <= gsd_m <= GSD_RANGE_M[1]:
        raise RasterError(f"{host}: {gsd_m:.3f} m ground pixels are outside the generator's "
                          f"{GSD_RANGE_M[0]}-{GSD_RANGE_M[1]} m; resample it first (gdalwarp -tr)")
    rgb = np.ascontiguousarray(np.moveaxis(bands[:3], 0, -1))
    masks = (canopy_mask(rgb, valid, gsd_m), blocked_mask(rgb, valid, gsd_m))
    frame = Block(0, 0, rgb.shape[0], rgb.shape[1], gsd_m, rgb.shape[0] * gsd_m)
    to_local = Affine(gsd_m, 0, 0, 0, -gsd_m, frame.extent_h_m)  # pixels -> local metres
    angles = component_rng(seed, 302)
    sun = sun_vector(float(angles.uniform(0, 360)), float(angles.uniform(35, 70)))
    fields = _place(component_rng(seed, 300), rgb, valid, masks, to_local, gsd_m, stages,
                    plot_density_per_ha)
    pad_m = reach_m(sun) + RING_M[1] + 0.5
    pasted = []
    for i, field in enumerate(fields):
        r0, r1, c0, c1 = frame.window_of(field.geom.bounds, pad_m=pad_m)
        blk = frame.sub(r0, r1, c0, c1)
        window = (slice(r0, r1), slice(c0, c1))
        pasted.append(paste_plot(rgb[window], valid[window], masks[0][window], masks[1][window],
                                 blk, field, sun, np.random.default_rng([seed, 301, i]),
                                 shadows=shadows))
    bands[:3] = np.moveaxis(rgb, -1, 0)
    records = _records(fields, pasted, transform @ ~to_local, gx * gy / gsd_m**2)
    paths = [out_dir / name for name in COMPOSITE_OUTPUTS]
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_ortho(paths[0], bands, profile, colorinterp)
    write_records(paths[1], records, PLOT_FIELDS, crs, layer="plots")
    atomic_write_text(paths[2], json.dumps({
        "host": str(Path(host).resolve()), "seed": seed, "stages": list(stages),
        "plot_density_per_ha": plot_density_per_ha, "shadows": shadows,
        "ground_px_m": [gx, gy], "sun_east_north_up": [round(float(v), 4) for v in sun],
        "plots": [{"plot_id": r["plot_id"], **asdict(p)} for r, p in zip(records, pasted, strict=True)],
    }, indent=2) + "\n")
    return CompositeResult(paths[0], paths[1], records, Path(host), crs, (gx, gy))


def _check(seed, stages, density) -> None:
    if not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ConfigError(f"seed {seed!r} must be an integer in 0..2**32-1")
    bad = [s for s in stages if s not in STAGES]
    if bad or not len(stages):
        raise ConfigError(f"stages {list(stages)!r} must be a non-empty subset of {STAGES}")
    if not 0 <= density <= 200:
        raise ConfigError(f"plot_density_per_ha {density} must be 0-200 per hectare")


def _read_host(path: Path):
    """Bands (count, H, W), the profile to write, colour interpretation, valid mask."""
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as err:
        raise RasterError(f"{path}: cannot open the host orthomosaic ({err})") from None
    with src:
        if src.crs is None or not CRS(src.crs).is_projected:
            raise RasterError(f"{path}: the host needs a projected CRS; warp it to UTM first "
                              "(gdalwarp -t_srs EPSG:326xx)")
        if src.dtypes[0] != "uint8" or src.count not in (3, 4):
            raise RasterError(f"{path}: the host must be 8-bit RGB or RGBA, got {src.count} bands "
                              f"of {src.dtypes[0]}")
        if src.width * src.height > MAX_HOST_MPX * 1e6:
            raise RasterError(f"{path}: {src.width} x {src.height} px is more than {MAX_HOST_MPX} "
                              "Mpx; cut it into pieces first (gdal_translate -srcwin)")
        bands = src.read()
        valid = (src.dataset_mask() > 0) & bands[:3].any(axis=0)  # black collars are no ground
        profile = {k: v for k, v in src.profile.items()
                   if k in ("count", "dtype", "width", "height", "nodata", "crs", "transform")}
        return bands, profile, src.colorinterp, valid


def _place(rng, rgb, valid, masks, to_local, gsd_m, stages, density) -> list[Field]:
    """Plots on the host's open ground, free of each other, off blocked ground, partly under canopy."""
    cell = max(1, round(0.5 / gsd_m))
    ground = mask_to_polygon(open_mask(rgb, valid, gsd_m), to_local, cell_px=cell)
    within = mask_to_polygon(valid, to_local, cell_px=cell).buffer(-1.0)
    canopy, blocked = (mask_to_polygon(m, to_local, cell_px=cell) for m in masks)
    for geom in (ground, within, canopy, blocked):
        shapely.prepare(geom)
    expected = density * ground.area / 1e4
    count = int(np.floor(expected)) + int(rng.random() < expected - np.floor(expected))
    occupied, placed = Occupancy(), []
    x0, y0, x1, y1 = ground.bounds if not ground.is_empty else (0, 0, 0, 0)
    for _ in range(count * TRIES_PER_PLOT):
        if len(placed) >= count:
            break
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if not shapely.contains_xy(ground, x, y):
            continue
        field = poppy_field(rng, float(x), float(y), stages)
        geom = field.geom
        if (within.contains(geom) and occupied.is_free(geom)
                and geom.intersection(blocked).area <= MAX_BLOCKED_FRAC * geom.area
                and geom.intersection(canopy).area <= MAX_CANOPY_FRAC * geom.area):
            occupied.add(geom)
            placed.append(field)
    return placed


def _records(fields: list[Field], pasted: list[Pasted], local_to_map: Affine,
             ground_per_local_m2: float) -> list[dict]:
    """Plot records in the host's CRS (the generator's fields), areas in true ground m2."""
    out = []
    for i, (f, p) in enumerate(zip(fields, pasted, strict=True), start=1):
        a = f.attrs
        geom = shapely.transform(f.geom, lambda xy: np.column_stack(local_to_map @ (xy[:, 0], xy[:, 1])))
        out.append(dict(
            plot_id=i, label="poppy", geometry=geom, stage=a["stage"], petal_color=a["petal_color"],
            planting=a["planting"], area_m2=round(f.geom.area * ground_per_local_m2, 2),
            occluded_frac=p.occluded_frac, interplanted=a["interplanted"], intercrop=a["intercrop"],
        ))
    return out


def _write_ortho(path: Path, bands: np.ndarray, profile: dict, colorinterp) -> None:
    """The host's grid, CRS and mask, written losslessly (untouched pixels stay exact), tiled."""
    out = dict(profile, driver="GTiff", tiled=True, blockxsize=512, blockysize=512,
               compress="deflate", predictor=2, photometric="rgb", interleave="pixel",
               bigtiff="IF_SAFER")
    with rasterio.Env(GDAL_CACHEMAX=64), atomic_path(path) as tmp:
        with rasterio.open(tmp, "w", **out) as dst:
            dst.colorinterp = colorinterp
            dst.write(bands)
