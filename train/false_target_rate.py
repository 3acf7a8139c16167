"""False targets per km2 on real imagery known to hold no poppy.

Every target a model finds on a poppy-free orthomosaic is a false target, so
the rate needs no labels: targets divided by the ground area examined. The
area is the run's coverage (valid chips, collars left out), measured truly:
in the image's own projected CRS when that CRS keeps areas (UTM, national
grids), else in the local UTM zone. World Mercator (EPSG:3395) pixels of a
nominal 0.10 m cover 0.10 * cos(latitude) m of ground, so its map areas are
1/cos^2(latitude) too large (7 % at 14.6 N).

Each image runs alone (its own CRS, coverage and run), once at the lowest
threshold asked for; higher thresholds are re-merged from the same
detections (:func:`poppyscan.train.scoring.targets_at`). What a false target
lies on is told by a colour heuristic (:func:`ground_class`), for grouping the
thumbnails, not as a classifier.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import rasterio
import shapely
from affine import Affine
from pyproj import CRS, Proj, Transformer
from rasterio.windows import from_bounds

from poppyscan.atomic import atomic_write_bytes
from poppyscan.detect.bundle import ModelBundle
from poppyscan.detect.export import thumbnail_bgr, write_jpeg
from poppyscan.detect.export._imaging import display_uint8
from poppyscan.detect.merge import Cluster
from poppyscan.detect.pipeline import run_detection
from poppyscan.detect.runtime import Runtime
from poppyscan.errors import ConfigError, RasterError
from poppyscan.tiles import inspect_raster
from poppyscan.tiles.geometry import mask_to_polygon, reproject_geometry, utm_crs
from poppyscan.tiles.scale import check_scale
from poppyscan.train.scoring import targets_at

__all__ = [
    "GROUND_CLASSES", "FalseTarget", "ImageRate", "Skipped", "false_target_rates", "ground_area_m2",
    "ground_class", "imagery_footprint", "pooled_rates", "write_contact_sheet", "write_grouped_sheet",
]

# Areal scale of a CRS at the image centre farther than this from 1: measure in UTM instead.
MAX_AREAL_DISTORTION = 0.005
GROUND_CLASSES = ("shadow or dark", "green vegetation", "grey-green vegetation", "bright or built",
                  "bare ground or dry grass")


@dataclass(frozen=True)
class FalseTarget:
    """One target on poppy-free ground."""

    source: str
    conf: float
    area_m2: float  # true ground area
    polygon: shapely.Polygon  # in the image's CRS
    lies_on: str  # one of GROUND_CLASSES


@dataclass
class ImageRate:
    """False targets of one poppy-free image at each threshold."""

    path: Path
    crs: str
    area_m2: float  # true ground area examined
    measured_in: str  # the CRS the area was measured in
    targets: dict[float, list[FalseTarget]] = field(default_factory=dict)  # conf -> targets

    @property
    def area_km2(self) -> float:
        return self.area_m2 / 1e6

    def per_km2(self, conf: float) -> float:
        return len(self.targets[conf]) / self.area_km2 if self.area_km2 else float("nan")


@dataclass(frozen=True)
class Skipped:
    """An image left out, and why (e.g. far coarser than the model's GSD)."""

    path: Path
    reason: str


def ground_area_m2(geom: shapely.Geometry, crs) -> tuple[float, str]:
    """True ground area of ``geom`` (in projected ``crs``) and the CRS it was measured in.

    Measured in ``crs`` when its areal scale at the geometry's centre is within
    0.5 % of 1, else in the local UTM zone (edges densified to 1 m first).

    >>> square = shapely.box(13467532.0, 1631815.0, 13467632.0, 1631915.0)  # 100 m on the map
    >>> area, where = ground_area_m2(square, "EPSG:3395")
    >>> round(area), where
    (9372, 'EPSG:32651')
    """
    crs = CRS.from_user_input(crs)
    if not crs.is_projected:
        raise ConfigError(f"{crs.name}: areas need a projected CRS")
    if geom.is_empty:
        return 0.0, crs.to_string()
    centre = geom.centroid
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(centre.x, centre.y)
    scale = Proj(crs).get_factors(lon, lat).areal_scale
    if abs(scale - 1.0) <= MAX_AREAL_DISTORTION:
        return float(geom.area), crs.to_string()
    utm = utm_crs(lon, lat)
    return float(reproject_geometry(geom, crs, utm, max_segment=1.0).area), utm.to_string()


def imagery_footprint(path: str | os.PathLike, *, max_px: int = 1024) -> shapely.Geometry:
    """Where ``path`` holds imagery (raster CRS): valid by its mask and not pure black.

    Tiles without a mask often carry a black collar that reads as valid; it is
    no ground examined. Traced on a read decimated to at most ``max_px`` a side.
    """
    with rasterio.open(path) as src:
        step = max(1, math.ceil(max(src.width, src.height) / max_px))
        shape = (math.ceil(src.height / step), math.ceil(src.width / step))
        pixels = src.read([1, 2, 3] if src.count >= 3 else [1], out_shape=(min(src.count, 3), *shape))
        valid = src.dataset_mask(out_shape=shape) > 0
        transform = src.transform @ Affine.scale(src.width / shape[1], src.height / shape[0])
    valid &= pixels.any(axis=0)
    return mask_to_polygon(valid, transform)


def ground_class(rgb: np.ndarray) -> str:
    """What uint8 RGB pixels (..., 3) mostly show, by mean colour (one of GROUND_CLASSES).

    Dark (mean value < 0.25): shadow. Green the largest channel: green
    vegetation when the green excess ``(2g - r - b) / (r + g + b)`` is above
    0.05 and the saturation above 0.2, else grey-green vegetation (shrub, sage,
    glaucous leaves). Pale and unsaturated (value > 0.6, saturation < 0.15):
    bright or built. The rest: bare ground or dry grass.

    >>> ground_class(np.full((4, 4, 3), (60, 140, 50), np.uint8))
    'green vegetation'
    >>> ground_class(np.full((4, 4, 3), (120, 130, 115), np.uint8))
    'grey-green vegetation'
    """
    px = rgb.reshape(-1, 3).astype("float64") / 255.0
    if not len(px):
        return GROUND_CLASSES[-1]
    r, g, b = px.mean(axis=0)
    value = max(r, g, b)
    saturation = (value - min(r, g, b)) / value if value > 0 else 0.0
    excess_green = (2 * g - r - b) / max(r + g + b, 1e-6)
    if value < 0.25:
        return "shadow or dark"
    if g >= max(r, b):
        return "green vegetation" if excess_green > 0.05 and saturation > 0.2 else "grey-green vegetation"
    if value > 0.6 and saturation < 0.15:
        return "bright or built"
    return "bare ground or dry grass"


def false_target_rates(
    orthos: Sequence[str | os.PathLike],
    bundle: ModelBundle,
    *,
    confs: Sequence[float] = (),
    device: str | None = "cpu",
    max_gsd_ratio: float = 4.0,
    batch_size: int = 8,
    workers: int = 2,
) -> tuple[list[ImageRate], list[Skipped]]:
    """Run ``bundle`` on each poppy-free image alone; its targets at each of ``confs``.

    ``confs`` (each in (0, 1); default: the card's threshold) are all scored
    from one run at the lowest. Images far coarser than the model's GSD
    (``max_gsd_ratio``) or unreadable are skipped, with the reason.
    """
    confs = sorted({float(c) for c in confs} or {bundle.conf})
    if not all(0 < c < 1 for c in confs):
        raise ConfigError(f"confs {confs} must each be in (0, 1)")
    predictor = bundle.predictor(device, conf=confs[0])
    rates, skipped = [], []
    for path in orthos:
        try:
            info = inspect_raster(path)
            check_scale(info, bundle.grid, max_gsd_ratio=max_gsd_ratio)
        except RasterError as err:
            skipped.append(Skipped(Path(path), str(err)))
            continue
        result = run_detection([info], predictor, bundle.grid,
                               runtime=Runtime(batch_size=batch_size, workers=workers),
                               merge=bundle.merge_settings())
        examined = result.coverage.intersection(imagery_footprint(info.path))
        area_m2, measured_in = ground_area_m2(examined, result.crs)
        rate = ImageRate(Path(path), result.crs.to_string(), area_m2, measured_in)
        for conf in confs:
            clusters = targets_at(result.detections, conf, bundle.merge_settings())
            rate.targets[conf] = _describe(clusters, Path(path), result.crs)
        rates.append(rate)
    return rates, skipped


def pooled_rates(rates: Sequence[ImageRate], conf: float) -> tuple[int, float, float]:
    """Targets, km2 and targets per km2 over ``rates`` at ``conf``."""
    n = sum(len(r.targets[conf]) for r in rates)
    km2 = sum(r.area_km2 for r in rates)
    return n, km2, (n / km2 if km2 else math.nan)


def _describe(clusters: Sequence[Cluster], path: Path, crs: CRS) -> list[FalseTarget]:
    out = []
    with rasterio.open(path) as src:
        for cluster in sorted(clusters, key=lambda c: -c.conf):
            poly = reproject_geometry(cluster.polygon, crs, CRS(src.crs), max_segment=None)
            window = from_bounds(*poly.bounds, transform=src.transform).round_offsets().round_lengths()
            pixels = src.read([1, 2, 3], window=window, boundless=True, fill_value=0)
            rgb = np.moveaxis(display_uint8(pixels, src.nodata), 0, -1).reshape(-1, 3)
            valid = rgb.any(axis=1)  # collar and beyond-the-edge pixels are black
            if src.nodata is not None:
                valid &= ~(rgb == src.nodata).all(axis=1)
            area_m2, _ = ground_area_m2(cluster.polygon, crs)
            out.append(FalseTarget(path.name, round(cluster.conf, 4), round(area_m2, 2),
                                   cluster.polygon, ground_class(rgb[valid])))
    return out


def write_contact_sheet(rates: Sequence[ImageRate], conf: float, out_png: str | os.PathLike, *,
                        thumbs_dir: str | os.PathLike, per_row: int = 6, thumb_px: int = 192,
                        pad_m: float = 5.0) -> Path:
    """A PNG of every false target at ``conf``, grouped by what it lies on (GROUND_CLASSES).

    Each thumbnail (written as JPEG to ``thumbs_dir`` too) spans the target plus
    ``pad_m`` metres, outline in red, captioned with its image and confidence.
    """
    thumbs_dir = Path(thumbs_dir)
    groups: dict[str, list[tuple[np.ndarray, str]]] = {k: [] for k in GROUND_CLASSES}
    for rate in rates:
        for k, target in enumerate(rate.targets[conf], start=1):
            bgr = thumbnail_bgr(rate.path, target.polygon, polygon_crs=rate.crs, pad_m=pad_m,
                                size_px=thumb_px)
            write_jpeg(bgr, thumbs_dir / f"{rate.path.stem}-{k:03d}.jpg")
            groups[target.lies_on].append((bgr, f"{Path(target.source).stem[:18]} {target.conf:.2f}"))
    return write_grouped_sheet(groups, out_png, per_row=per_row, thumb_px=thumb_px,
                               empty=f"no false targets at conf {conf:g}")


def write_grouped_sheet(groups: Mapping[str, Sequence[tuple[np.ndarray, str]]],
                        out_path: str | os.PathLike, *, per_row: int = 6, thumb_px: int = 192,
                        empty: str = "nothing to show") -> Path:
    """Thumbnails (BGR images, each with a caption) in rows under a bar per group, as PNG or JPEG.

    The encoding follows ``out_path``'s suffix; groups without thumbnails are left out.
    """
    rows: list[np.ndarray] = []
    for name, items in groups.items():
        if not items:
            continue
        count = f"{len(items)} target{'' if len(items) == 1 else 's'}"
        rows.append(_caption_bar(f"{name}: {count}", per_row * thumb_px, 28))
        for start in range(0, len(items), per_row):
            row = np.full((thumb_px + 20, per_row * thumb_px, 3), 255, np.uint8)
            for j, (img, caption) in enumerate(items[start:start + per_row]):
                img = cv2.resize(img, (thumb_px, thumb_px), interpolation=cv2.INTER_AREA)
                row[:thumb_px, j * thumb_px:(j + 1) * thumb_px] = img
                cv2.putText(row, caption, (j * thumb_px + 4, thumb_px + 15), cv2.FONT_HERSHEY_SIMPLEX,
                            0.4, (0, 0, 0), 1, cv2.LINE_AA)
            rows.append(row)
    if not rows:
        rows.append(_caption_bar(empty, per_row * thumb_px, 28))
    ok, encoded = cv2.imencode(Path(out_path).suffix or ".png", np.concatenate(rows, axis=0))
    if not ok:
        raise RasterError(f"{out_path}: encoding the contact sheet failed")
    return atomic_write_bytes(out_path, encoded.tobytes())


def _caption_bar(text: str, width: int, height: int) -> np.ndarray:
    bar = np.full((height, width, 3), 235, np.uint8)
    cv2.putText(bar, text, (6, height - 9), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1,
                cv2.LINE_AA)
    return bar
