"""Georeferenced PNG copies of chips, for labelling tools that cannot show GeoTIFF."""

from __future__ import annotations

import os
from pathlib import Path

import rasterio
from rasterio.enums import ColorInterp

from poppyscan.atomic import atomic_path
from poppyscan.errors import LabelError

from .georef import read_georef

__all__ = ["write_georeferenced_png", "png_sidecars"]


def png_sidecars(png_path: Path) -> tuple[Path, Path]:
    """The world file (``.pgw``, transform) and ``.aux.xml`` (CRS) that georeference a PNG."""
    png_path = Path(png_path)
    return png_path.with_suffix(".pgw"), png_path.with_name(png_path.name + ".aux.xml")


def write_georeferenced_png(src_path: str | os.PathLike, dst_path: str | os.PathLike) -> Path:
    """Copy an 8-bit chip to PNG with a world file and ``.aux.xml``, so GDAL still places it.

    Keeps bands 1-3 (1 for grey) and an alpha band when the source has one.
    Each of the three files is written atomically; the PNG is renamed last.
    """
    src_path, dst_path = Path(src_path), Path(dst_path)
    read_georef(src_path, label_file=src_path)  # LabelError if the chip is not georeferenced
    with rasterio.open(src_path) as src:
        if src.dtypes[0] != "uint8":
            raise LabelError(
                f"{src_path}: chip is {src.dtypes[0]}; labelling tools need 8-bit images "
                "(tile an 8-bit RGB orthomosaic)"
            )
        bands = [1, 2, 3] if src.count >= 3 else [1]
        if src.count >= 4 and src.colorinterp[3] == ColorInterp.alpha:
            bands.append(4)
        data = src.read(bands)
        profile = {
            "driver": "PNG",
            "width": src.width,
            "height": src.height,
            "count": len(bands),
            "dtype": "uint8",
            "crs": src.crs,
            "transform": src.transform,
        }
    world, aux = png_sidecars(dst_path)
    with atomic_path(dst_path) as tmp:
        with rasterio.open(tmp, "w", WORLDFILE="YES", **profile) as out:
            out.write(data)
        # GDAL named the sidecars after the temporary file: move them to the final names.
        os.replace(tmp.with_suffix(".wld"), world)
        os.replace(tmp.with_name(tmp.name + ".aux.xml"), aux)
    return dst_path
