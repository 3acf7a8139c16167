"""Opening and checking orthomosaics before any work is done on them.

Every check raises :class:`~tiles.errors.RasterError` with one line naming the
file, the problem and the fix. Band, mask and brightness policy are decided
here once per raster, so every chip of a raster looks the same.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import ColorInterp, Resampling
from rasterio.errors import RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from poppyscan.errors import ConfigError, RasterError
from poppyscan.tiles.geometry import utm_crs

__all__ = ["RasterInfo", "decimated_grid", "decimated_read_is_cheap", "inspect_raster", "open_dataset",
           "overview_read", "to_uint8"]

# GDAL's default block cache is 5% of RAM; bound it so memory stays flat however
# large the raster (a user's own GDAL_CACHEMAX still wins). 64 MiB holds the blocks a
# row of chips shares with the next: on an 8192 px JPEG GeoTIFF, detection ran as fast
# as with 256 MiB at 542 MiB peak RSS instead of 715 (scripts/bench_detect.py).
os.environ.setdefault("GDAL_CACHEMAX", "64")

STRETCH_PERCENTILES = (0.5, 99.5)
# Without overviews, a decimated read decodes every pixel: worth it up to this size only.
DECIMATED_READ_MAX_PX = 64_000_000
OVERVIEW_MAX_PX = 1024


@dataclass(frozen=True)
class RasterInfo:
    """What the chip reader needs to know about one raster, decided once."""

    path: str
    crs: CRS  # working CRS: always projected, in metres
    transform: Affine  # working transform (north up)
    width: int
    height: int
    dtype: str
    bands: tuple[int, int, int]  # 1-based band indexes read as R, G, B
    stretch: tuple[tuple[float, float], ...] | None  # per-band (low, high) to 0..255; None = as is
    warped: bool  # True when a geographic raster is read through a UTM WarpedVRT

    @property
    def res_m(self) -> tuple[float, float]:
        return abs(self.transform.a), abs(self.transform.e)

    @property
    def name(self) -> str:
        return Path(self.path).name


@contextlib.contextmanager
def open_dataset(info: RasterInfo) -> Iterator[rasterio.io.DatasetReaderBase]:
    """Open ``info.path`` as a dataset in the working CRS (one handle per thread)."""
    with rasterio.open(info.path) as src:
        if not info.warped:
            yield src
            return
        with WarpedVRT(
            src,
            crs=info.crs,
            transform=info.transform,
            width=info.width,
            height=info.height,
            resampling=Resampling.bilinear,
        ) as vrt:
            yield vrt


def inspect_raster(path: str | os.PathLike, *, bands: Sequence[int] | None = None) -> RasterInfo:
    """Check that ``path`` is a usable orthomosaic and decide how to read it.

    Geographic rasters (lon/lat degrees) are read through a WarpedVRT in the
    local UTM zone, so chips always have square metre pixels. ``bands`` picks
    three 1-based bands; by default RGB(A) is read as RGB and a single band is
    repeated as grey.
    """
    path = str(path)
    if not Path(path).exists():
        raise RasterError(f"{path}: no such file")
    try:
        with rasterio.open(path) as src:
            _check_georeference(path, src)
            band_idx = _pick_bands(path, src, bands)
            _check_readable(path, src)
            dtype = src.dtypes[band_idx[0] - 1]
            warped = src.crs.is_geographic
            crs, transform, width, height = src.crs, src.transform, src.width, src.height
            if warped:
                crs, transform, width, height = _utm_grid(src)
    except RasterioError as err:
        raise RasterError(f"{path}: not a readable raster ({_first_line(err)})") from None
    info = RasterInfo(path, crs, transform, width, height, dtype, band_idx, None, warped)
    stretch = None if dtype == "uint8" else _robust_stretch(info)
    return RasterInfo(path, crs, transform, width, height, dtype, band_idx, stretch, warped)


def to_uint8(data: np.ndarray, stretch: tuple[tuple[float, float], ...] | None) -> np.ndarray:
    """Bands (3, ...) to uint8 through the raster's per-band stretch (None: already 8-bit)."""
    if stretch is None:
        return data.astype("uint8", copy=False)
    out = np.empty(data.shape, dtype="uint8")
    for band, (low, high) in enumerate(stretch):
        scaled = (data[band].astype("float32") - low) * (255.0 / (high - low))
        out[band] = np.clip(np.nan_to_num(scaled), 0, 255).round()
    return out


def decimated_grid(info: RasterInfo, max_px: int) -> tuple[int, int, Affine]:
    """Size ``(width, height)`` and transform of the raster shrunk to at most ``max_px`` a side."""
    scale = max(1.0, max(info.width, info.height) / max_px)
    out_w, out_h = max(1, round(info.width / scale)), max(1, round(info.height / scale))
    return out_w, out_h, info.transform @ Affine.scale(info.width / out_w, info.height / out_h)


def decimated_read_is_cheap(info: RasterInfo) -> bool:
    """Whether a decimated read of the whole raster is quick: it has overviews, or is small.

    Without overviews GDAL decodes every pixel of a decimated read: on a
    12,288 px JPEG orthomosaic that cost about as much as half the detection.
    """
    if info.width * info.height <= DECIMATED_READ_MAX_PX:
        return True
    with open_dataset(info) as src:
        return bool(src.overviews(1))


def overview_read(
    info: RasterInfo, *, max_px: int = OVERVIEW_MAX_PX
) -> tuple[np.ndarray, np.ndarray, Affine]:
    """A decimated read of the whole raster: bands (3, h, w), valid mask (h, w), transform.

    GDAL serves it from the file's overviews when it has them.
    """
    out_w, out_h, transform = decimated_grid(info, max_px)
    with open_dataset(info) as src:
        data = src.read(list(info.bands), out_shape=(3, out_h, out_w), resampling=Resampling.average)
        mask = src.dataset_mask(out_shape=(out_h, out_w), resampling=Resampling.nearest) > 0
    return data, mask, transform


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _check_georeference(path: str, src) -> None:
    if src.crs is None:
        raise RasterError(
            f"{path}: has no CRS; assign one first (e.g. gdal_edit.py -a_srs EPSG:32647 {path})"
        )
    if src.transform == Affine.identity():
        hint = "it has GCPs only: gdalwarp it first" if src.gcps[0] else "georeference it first"
        raise RasterError(f"{path}: has no geotransform; {hint}")
    if src.transform.b != 0 or src.transform.d != 0:
        raise RasterError(f"{path}: rotated geotransform is not supported; gdalwarp it north-up")
    if src.transform.e >= 0:
        raise RasterError(f"{path}: south-up geotransform is not supported; gdalwarp it north-up")
    if not (src.crs.is_geographic or src.crs.is_projected):
        raise RasterError(f"{path}: CRS {src.crs} is neither projected nor geographic")
    if src.crs.is_projected and abs(src.crs.linear_units_factor[1] - 1.0) > 1e-9:
        raise RasterError(
            f"{path}: CRS units are {src.crs.linear_units!r}, not metres; gdalwarp it to a metre CRS"
        )


def _pick_bands(path: str, src, bands: Sequence[int] | None) -> tuple[int, int, int]:
    if bands is not None:
        bands = tuple(int(b) for b in bands)
        if len(bands) != 3 or not all(1 <= b <= src.count for b in bands):
            raise ConfigError(
                f"{path}: bands={list(bands)} must be three band numbers in 1..{src.count}"
            )
        return bands  # type: ignore[return-value]
    colour = [i + 1 for i, ci in enumerate(src.colorinterp) if ci != ColorInterp.alpha]
    if len(colour) == 1:
        return (colour[0],) * 3  # grey imagery: repeat the band
    if len(colour) == 3:
        return tuple(colour)  # type: ignore[return-value]
    interp = {ci: i + 1 for i, ci in enumerate(src.colorinterp)}
    rgb = [interp.get(ci) for ci in (ColorInterp.red, ColorInterp.green, ColorInterp.blue)]
    if all(rgb):
        return tuple(rgb)  # type: ignore[return-value]
    raise RasterError(
        f"{path}: {len(colour)} colour bands and no RGB colour interpretation; "
        "choose three with bands: [r, g, b] in the tiling config or --bands R,G,B"
    )


def _check_readable(path: str, src) -> None:
    """Read the first and last blocks: a truncated file fails here, not mid-run."""
    for col, row in ((0, 0), (src.width - 1, src.height - 1)):
        try:
            src.read(window=Window(col, row, 1, 1))
        except RasterioError as err:
            raise RasterError(f"{path}: truncated or corrupt, cannot read pixel ({col}, {row}): "
                              f"{_first_line(err)}") from None


def _utm_grid(src) -> tuple[CRS, Affine, int, int]:
    """The local UTM zone's grid for a geographic raster, at about its resolution."""
    west, south, east, north = src.bounds
    try:
        utm = CRS.from_wkt(utm_crs((west + east) / 2, (south + north) / 2).to_wkt())
    except ConfigError as err:
        raise RasterError(f"{src.name}: {err}; gdalwarp it to a local projected CRS") from None
    with WarpedVRT(src, crs=utm) as vrt:
        res = max(abs(vrt.transform.a), abs(vrt.transform.e))
        left, bottom, right, top = vrt.bounds
    width, height = int(np.ceil((right - left) / res)), int(np.ceil((top - bottom) / res))
    return utm, Affine(res, 0, left, 0, -res, top), width, height


def _robust_stretch(info: RasterInfo) -> tuple[tuple[float, float], ...]:
    """Per-band percentiles of valid pixels from one decimated read of the whole raster."""
    data, mask, _ = overview_read(info)
    stretch = []
    for band in data.astype("float64"):
        values = band[mask & np.isfinite(band)]
        if values.size == 0:
            raise RasterError(f"{info.path}: no valid pixels to compute a brightness stretch from")
        low, high = np.percentile(values, STRETCH_PERCENTILES)
        stretch.append((float(low), float(high if high > low else low + 1)))
    return tuple(stretch)
