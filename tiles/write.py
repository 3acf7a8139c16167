"""Writing chips for analysts: GeoTIFF chips and a chip index.

Chips are written as small GeoTIFFs (RGBA, alpha = valid mask, deflate): QGIS
and every GDAL tool open them in place with their CRS, no world-file sidecars
to lose, and the valid mask survives. PNG/JPEG + world files would drop the CRS
and the mask.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import shapely
from pyproj import CRS

from poppyscan.atomic import atomic_path, check_outputs_free
from poppyscan.errors import RasterError
from poppyscan.progress import Progress, as_progress
from poppyscan.tiles.chip import Chip
from poppyscan.tiles.geometry import reproject_geometry
from poppyscan.tiles.grid import GridSpec
from poppyscan.tiles.plan import plan_raster
from poppyscan.tiles.raster import RasterInfo, inspect_raster
from poppyscan.tiles.stream import DEFAULT_MIN_VALID_FRAC, ChipStats, iter_chips, with_progress

__all__ = ["chip_name", "write_chip_geotiff", "write_chips", "ChipIndex", "write_chip_index",
           "TileRun", "tile_to_dir", "TILE_OUTPUTS"]

INDEX_NAME = "chips.gpkg"
CHIPS_DIR = "chips"
TILE_OUTPUTS = (INDEX_NAME, CHIPS_DIR)


def chip_name(chip: Chip) -> str:
    """``<source stem>_r<row>_c<col>``: unique within a run, sortable."""
    return f"{Path(chip.source).stem}_r{chip.row:04d}_c{chip.col:04d}"


def write_chip_geotiff(chip: Chip, path: str | os.PathLike) -> Path:
    """Write ``chip`` as an RGBA GeoTIFF whose alpha band is the valid mask."""
    size = chip.size_px
    profile = dict(
        driver="GTiff", width=size, height=size, count=4, dtype="uint8", crs=chip.crs,
        transform=chip.transform, compress="deflate", photometric="RGB",
        tiled=size % 16 == 0 and size >= 256,
    )
    alpha = chip.valid.astype("uint8") * 255
    with atomic_path(path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(np.moveaxis(chip.pixels, -1, 0), [1, 2, 3])
            dst.write(alpha, 4)
            dst.colorinterp = [rasterio.enums.ColorInterp.red, rasterio.enums.ColorInterp.green,
                               rasterio.enums.ColorInterp.blue, rasterio.enums.ColorInterp.alpha]
    return Path(path)


class ChipIndex:
    """Footprints and attributes of written chips, gathered while streaming."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, chip: Chip, file: str) -> None:
        self.rows.append(dict(
            chip_id=chip_name(chip), file=file, source=Path(chip.source).name, row=chip.row,
            col=chip.col, valid_frac=round(chip.valid_frac, 4), gsd_m=chip.gsd_m,
            crs=chip.crs.to_string(), geometry=chip.polygon,
        ))


def write_chip_index(index: ChipIndex, path: str | os.PathLike) -> Path:
    """Write the chip footprints as a vector file (format from the suffix, e.g. ``.gpkg``).

    Footprints stay in their rasters' CRS when all chips share one; chips from
    rasters in different CRSs are written in WGS84 (field ``crs`` keeps each one's own).
    """
    from pyogrio.raw import write as ogr_write  # vector I/O only where it is needed

    if not index.rows:
        raise ValueError("no chips to index")
    crss = {row["crs"] for row in index.rows}
    geoms = np.array([row["geometry"] for row in index.rows], dtype=object)
    out_crs = crss.pop() if len(crss) == 1 else "EPSG:4326"
    if out_crs == "EPSG:4326" and len(crss) != 1:
        geoms = np.array([reproject_geometry(row["geometry"], row["crs"], "EPSG:4326",
                                             max_segment=row["geometry"].length / 64)
                          for row in index.rows])
    fields = [k for k in index.rows[0] if k != "geometry"]
    field_data = [np.array([row[k] for row in index.rows]) for k in fields]
    with atomic_path(path) as tmp:
        ogr_write(tmp, shapely.to_wkb(geoms), field_data, fields, layer="chips",
                  geometry_type="Polygon", crs=CRS.from_user_input(out_crs).to_wkt())
    return Path(path)


def write_chips(chips: Iterable[Chip], out_dir: str | os.PathLike) -> Iterator[tuple[Chip, Path]]:
    """Write each chip as ``out_dir/<chip_name>.tif``; yield (chip, path) as they are written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for chip in chips:
        yield chip, write_chip_geotiff(chip, out_dir / f"{chip_name(chip)}.tif")


@dataclass
class TileRun:
    """What :func:`tile_to_dir` wrote."""

    chips_dir: Path
    index_path: Path
    stats: ChipStats


def tile_to_dir(
    orthos: Sequence[str | os.PathLike | RasterInfo],
    out_dir: str | os.PathLike,
    grid: GridSpec,
    *,
    min_valid_frac: float = DEFAULT_MIN_VALID_FRAC,
    bands: Sequence[int] | None = None,
    workers: int = 4,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> TileRun:
    """Cut ``orthos`` into GeoTIFF chips under ``out_dir/chips`` plus the index ``chips.gpkg``.

    ``progress`` hears ``start(total)`` with the number of chips to read once
    the inputs are checked, then ``advance(n)`` as chips are read, kept or
    skipped as collar.
    """
    out = Path(out_dir)
    check_outputs_free(out, TILE_OUTPUTS, overwrite)
    infos = [o if isinstance(o, RasterInfo) else inspect_raster(o, bands=bands) for o in orthos]
    if progress is not None:  # the plans cost a pass over the overviews: only to report
        progress.start(sum(plan_raster(info, grid, prescreen=min_valid_frac > 0).n_to_read
                           for info in infos))
    progress = as_progress(progress)
    stats, index = ChipStats(), ChipIndex()
    chips = iter_chips(infos, grid, min_valid_frac=min_valid_frac, workers=workers, stats=stats)
    for chip, path in write_chips(with_progress(chips, stats, progress.advance), out / CHIPS_DIR):
        index.add(chip, str(path.relative_to(out)))
    if not index.rows:
        raise RasterError(f"{', '.join(str(o) for o in orthos)}: no chip had enough valid pixels; "
                          "nothing written")
    write_chip_index(index, out / INDEX_NAME)
    return TileRun(out / CHIPS_DIR, out / INDEX_NAME, stats)

