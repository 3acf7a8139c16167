"""``generate_survey``: a synthetic orthomosaic with its ground truth, streamed to disk.

The raster is rendered tile by tile (512 x 512, the GeoTIFF's own tiles, in
row-major order) from render blocks of ``block_px``; memory does not grow with
the survey's size, and the bytes do not depend on ``block_px``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine
from pyproj import CRS, Transformer

from poppyscan.atomic import atomic_path
from poppyscan.errors import ConfigError
from poppyscan.synth.conditions import (
    Conditions,
    check_overrides,
    sample_conditions,
    with_overrides,
)
from poppyscan.synth.elements import STAGES, component_rng
from poppyscan.synth.render import SceneIndex, render_block
from poppyscan.synth.scene import build_scene
from poppyscan.synth.truth import (
    DISTRACTOR_FIELDS,
    PLOT_FIELDS,
    distractor_records,
    plot_records,
    to_map,
    write_records,
)

__all__ = ["SurveyResult", "generate_survey", "GSD_RANGE_M", "TILE_PX", "OUTPUT_NAMES"]

log = logging.getLogger(__name__)

GSD_RANGE_M = (0.015, 0.10)
TILE_PX = 512
MASKS = ("alpha", "nodata")
COMPRESSIONS = ("jpeg", "deflate")
BLOCK_SIZES = (128, 256, 512)
SIZE_RANGE_PX = (64, 200_000)
OUTPUT_NAMES = ("ortho.tif", "plots.geojson", "distractors.geojson")


@dataclass(frozen=True)
class SurveyResult:
    """What :func:`generate_survey` wrote and the truth it holds (geometries in map CRS)."""

    ortho_path: Path
    plots_path: Path
    distractors_path: Path
    plots_wgs84_path: Path | None
    plots: list[dict]
    distractors: list[dict]
    transform: Affine
    crs: CRS
    footprint: object  # shapely Polygon, map CRS
    size_px: tuple[int, int]
    gsd_m: float
    conditions: Conditions
    elapsed_s: float

    @property
    def mpx_per_s(self) -> float:
        """Survey megapixels written per second, scene layout and truth included."""
        return self.size_px[0] * self.size_px[1] / 1e6 / max(self.elapsed_s, 1e-9)


def generate_survey(
    out_dir: str | os.PathLike, *, seed: int, size_px: tuple[int, int] = (2048, 2048),
    gsd_m: float = 0.05, crs: str = "EPSG:32647", mask: str = "alpha",
    stages: Sequence[str] = STAGES, plot_density_per_ha: float = 3.0,
    distractor_density_per_ha: float = 6.0, roof_density_per_ha: float = 0.4,
    forest_cover: float | None = None, wgs84: bool = False, compress: str = "jpeg",
    jpeg_quality: int = 90, block_px: int = 512, overviews: bool = False,
    conditions: dict | None = None, overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> SurveyResult:
    """Write ``ortho.tif``, ``plots.geojson`` and ``distractors.geojson`` into ``out_dir``.

    ``seed`` fixes everything: same arguments, same bytes (whatever ``block_px``).
    ``size_px`` is (width, height), 64-200000 each; ``gsd_m`` 0.015-0.10 m. The
    layout depends on the seed and the ground extent only, so one seed at two
    GSDs covering the same metres shows the same plots. Densities are per
    hectare of flown area (defaults: plots 3, look-alike patches 6, roofs 0.4);
    ``forest_cover`` None draws 0.35-0.6 per seed.

    ``mask='alpha'`` writes RGBA (alpha 0 outside the flight footprint);
    ``'nodata'`` writes RGB with nodata=0, valid pixels never 0 in all bands
    (with JPEG, compression smears the collar edge over ~18 px). ``compress``
    ``'jpeg'`` (``jpeg_quality``, default 90) is what photogrammetry tools write,
    ``'deflate'`` is lossless. ``conditions`` overrides fields of
    :class:`~poppyscan.synth.conditions.Conditions` (sun, haze, blur...).
    ``wgs84=True`` also writes ``plots_wgs84.geojson``; ``overviews=True`` builds
    internal overviews; ``progress(done_px, total_px)`` is called per tile row.
    Existing outputs raise ConfigError unless ``overwrite``.
    """
    t0 = time.perf_counter()
    raster = _RasterFormat(mask, compress, jpeg_quality, block_px, overviews)
    width, height = _check_extent(seed, size_px, gsd_m)
    raster.check()
    _check_scene(stages, {"plot_density_per_ha": plot_density_per_ha,
                          "distractor_density_per_ha": distractor_density_per_ha,
                          "roof_density_per_ha": roof_density_per_ha}, forest_cover)
    check_overrides(conditions)
    map_crs = _projected_crs(crs)
    paths, wgs84_path = _free_outputs(Path(out_dir), wgs84, overwrite)

    origin = survey_origin(seed, map_crs)
    scene = build_scene(seed, width * gsd_m, height * gsd_m, stages=stages,
                        plot_density_per_ha=plot_density_per_ha,
                        distractor_density_per_ha=distractor_density_per_ha,
                        roof_density_per_ha=roof_density_per_ha, forest_cover=forest_cover)
    cond = with_overrides(sample_conditions(seed, gsd_m, scene.flight_angle_rad), conditions)
    transform = Affine(gsd_m, 0.0, origin[0], 0.0, -gsd_m, origin[1] + scene.height_m)
    log.info("synth seed %d: %d x %d px at %.3f m, %d plots", seed, width, height, gsd_m,
             len(scene.plots))
    _write_ortho(paths[0], SceneIndex(scene, cond, gsd_m), transform, map_crs, (width, height),
                 raster, progress)
    plots, distractors = _write_truth(scene, origin, map_crs, paths, wgs84_path)
    footprint = to_map(scene.footprint, origin)
    return SurveyResult(paths[0], paths[1], paths[2], wgs84_path, plots, distractors, transform,
                        map_crs, footprint, (width, height), gsd_m, cond,
                        time.perf_counter() - t0)


def _free_outputs(out_dir: Path, wgs84: bool, overwrite: bool) -> tuple[list[Path], Path | None]:
    """The output paths; ConfigError if one exists and not ``overwrite``."""
    paths = [out_dir / name for name in OUTPUT_NAMES]
    wgs84_path = out_dir / "plots_wgs84.geojson" if wgs84 else None
    existing = [p for p in [*paths, wgs84_path] if p is not None and p.exists()]
    if existing and not overwrite:
        raise ConfigError(f"{existing[0]} already exists; pass overwrite=True (--overwrite) to replace it")
    return paths, wgs84_path


def _write_truth(scene, origin: tuple[float, float], map_crs: CRS, paths: list[Path],
                 wgs84_path: Path | None) -> tuple[list[dict], list[dict]]:
    """plots.geojson, distractors.geojson (and plots_wgs84.geojson): the records written."""
    plots = plot_records(scene, origin)
    distractors = distractor_records(scene, origin)
    write_records(paths[1], plots, PLOT_FIELDS, map_crs, layer="plots")
    write_records(paths[2], distractors, DISTRACTOR_FIELDS, map_crs, layer="distractors")
    if wgs84_path is not None:
        write_records(wgs84_path, plots, PLOT_FIELDS, map_crs, layer="plots", wgs84=True)
    return plots, distractors


def survey_origin(seed: int, crs: CRS) -> tuple[float, float]:
    """Bottom-left corner (map metres, whole) of a seed's survey, inside the CRS's area of use.

    Latitudes are drawn from the 12-36 degree belt where opium poppy is grown
    when the CRS's area allows it.
    """
    rng = component_rng(seed, 200)
    area = crs.area_of_use
    west, south, east, north = area.bounds if area is not None else (-180.0, -60.0, 180.0, 60.0)
    lo, hi = max(south, 12.0), min(north, 36.0)
    if lo >= hi:
        lo, hi = south + 0.2 * (north - south), north - 0.2 * (north - south)
    lon = west + (east - west) * rng.uniform(0.25, 0.75)
    lat = rng.uniform(lo, hi)
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    return float(np.round(x)), float(np.round(y))


@dataclass(frozen=True)
class _RasterFormat:
    """How the orthomosaic is stored: mask, compression, render blocks, overviews."""

    mask: str
    compress: str
    jpeg_quality: int
    block_px: int
    overviews: bool

    def check(self) -> None:
        """Errors name the value and the valid choices."""
        if self.mask not in MASKS:
            raise ConfigError(f"mask {self.mask!r} is not one of {MASKS}")
        if self.compress not in COMPRESSIONS:
            raise ConfigError(f"compress {self.compress!r} is not one of {COMPRESSIONS}")
        if self.block_px not in BLOCK_SIZES:
            raise ConfigError(f"block_px {self.block_px!r} is not one of {BLOCK_SIZES}")
        if not 1 <= int(self.jpeg_quality) <= 100:
            raise ConfigError(f"jpeg_quality {self.jpeg_quality} must be 1-100")

    @property
    def bands(self) -> int:
        return 4 if self.mask == "alpha" else 3

    def profile(self, size: tuple[int, int], crs: CRS, transform: Affine) -> dict:
        """The GeoTIFF creation profile: tiled as TILE_PX, compressed, masked."""
        import rasterio

        width, height = size
        profile = dict(driver="GTiff", width=width, height=height, count=self.bands,
                       dtype="uint8", crs=rasterio.crs.CRS.from_wkt(crs.to_wkt()),
                       transform=transform, tiled=True, blockxsize=TILE_PX, blockysize=TILE_PX,
                       interleave="pixel", compress=self.compress, bigtiff="IF_SAFER")
        if self.compress == "jpeg":
            profile.update(jpeg_quality=self.jpeg_quality,
                           photometric="ycbcr" if self.bands == 3 else "rgb")
        else:
            profile.update(predictor=2, photometric="rgb")
        if self.mask == "nodata":
            profile["nodata"] = 0
        else:
            profile["alpha"] = "YES"
        return profile


def _write_ortho(path: Path, index: SceneIndex, transform: Affine, crs: CRS, size: tuple[int, int],
                 raster: _RasterFormat, progress) -> None:
    import rasterio
    from rasterio.enums import ColorInterp
    from rasterio.windows import Window

    width, height = size
    bands = raster.bands
    interp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha][:bands]
    # A small block cache: tiles go out in order and are never read back.
    with rasterio.Env(GDAL_CACHEMAX=64), atomic_path(path) as tmp:
        with rasterio.open(tmp, "w", **raster.profile(size, crs, transform)) as dst:
            dst.colorinterp = interp
            for r0 in range(0, height, TILE_PX):
                for c0 in range(0, width, TILE_PX):
                    tile = _render_tile(index, r0, c0, min(TILE_PX, height - r0),
                                        min(TILE_PX, width - c0), raster.block_px)
                    if raster.mask == "nodata":
                        tile = _nodata_rgb(tile)
                    data = np.moveaxis(tile[..., :bands], -1, 0)
                    dst.write(data, window=Window(c0, r0, tile.shape[1], tile.shape[0]))
                if progress is not None:
                    progress(min(r0 + TILE_PX, height) * width, width * height)
            if raster.overviews:
                _build_overviews(dst, width, height)


def _build_overviews(dst, width: int, height: int) -> None:
    from rasterio.enums import Resampling

    factors = [2**k for k in range(1, 12) if max(width, height) / 2**k >= 256]
    if factors:
        dst.build_overviews(factors, Resampling.average)
        dst.update_tags(ns="rio_overview", resampling="average")


def _render_tile(index: SceneIndex, r0: int, c0: int, h: int, w: int, block_px: int) -> np.ndarray:
    if block_px >= TILE_PX:
        return render_block(index, r0, c0, h, w)
    tile = np.empty((h, w, 4), np.uint8)
    for br in range(0, h, block_px):
        for bc in range(0, w, block_px):
            bh, bw = min(block_px, h - br), min(block_px, w - bc)
            tile[br:br + bh, bc:bc + bw] = render_block(index, r0 + br, c0 + bc, bh, bw)
    return tile


def _nodata_rgb(tile: np.ndarray) -> np.ndarray:
    """RGB with 0 outside the footprint and no valid pixel at 0 in all bands."""
    rgb = tile[..., :3]
    valid = tile[..., 3] > 0
    rgb = np.where(valid[..., None], np.maximum(rgb, 1), 0).astype(np.uint8)
    return rgb


def _projected_crs(crs) -> CRS:
    try:
        out = CRS.from_user_input(crs)
    except Exception as err:  # pyproj raises CRSError, a bare Exception subclass
        raise ConfigError(f"crs {crs!r} is not a CRS pyproj understands ({err}); "
                          "use e.g. 'EPSG:32647' (UTM 47N)") from None
    unit = out.axis_info[0].unit_name if out.axis_info else ""
    if not out.is_projected or unit not in ("metre", "meter"):
        raise ConfigError(f"crs {crs!r} is not projected in metres; use a UTM zone such as 'EPSG:32647'")
    return out


def _check_extent(seed, size_px, gsd_m) -> tuple[int, int]:
    """Validate the seed and the raster's extent up front; errors name the value and range."""
    if not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ConfigError(f"seed {seed!r} must be an integer in 0..2**32-1")
    try:
        width, height = (int(v) for v in size_px)
    except (TypeError, ValueError):
        raise ConfigError(f"size_px {size_px!r} must be two integers (width, height)") from None
    lo, hi = SIZE_RANGE_PX
    if not (lo <= width <= hi and lo <= height <= hi):
        raise ConfigError(f"size_px {size_px!r} out of range: each side must be {lo}-{hi} px")
    if not GSD_RANGE_M[0] <= float(gsd_m) <= GSD_RANGE_M[1]:
        raise ConfigError(f"gsd_m {gsd_m} out of range: must be {GSD_RANGE_M[0]}-{GSD_RANGE_M[1]} m")
    return width, height


def _check_scene(stages, densities_per_ha: dict[str, float], forest_cover) -> None:
    """Validate what the scene holds: stages, densities per hectare and forest cover."""
    bad = [s for s in stages if s not in STAGES]
    if bad or not len(stages):
        raise ConfigError(f"stages {list(stages)!r} must be a non-empty subset of {STAGES}")
    for name, value in densities_per_ha.items():
        if not 0 <= value <= 200:
            raise ConfigError(f"{name} {value} must be 0-200 per hectare")
    if forest_cover is not None and not 0 <= forest_cover <= 0.9:
        raise ConfigError(f"forest_cover {forest_cover} must be 0-0.9 (or None for random)")
