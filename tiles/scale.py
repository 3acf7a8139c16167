"""Is a raster a drone orthomosaic at all? Checked in milliseconds, before any chip is planned.

A 300 m satellite scene read at 5 cm would plan tens of millions of chips of
blur, and a 200,000 px header on a sparse file of a few hundred bytes would
plan a hundred thousand chips of nothing: both are refused with one line.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from poppyscan.errors import RasterError
from poppyscan.tiles.grid import GridSpec
from poppyscan.tiles.raster import RasterInfo

__all__ = ["Unusable", "check_scale", "usable_rasters"]

MAX_AREA_KM2 = 10_000.0  # one orthomosaic: several counties at most
MIN_BYTES_PER_MPX = 1_000  # real imagery, even JPEG and mostly collar, stores far more


def check_scale(info: RasterInfo, spec: GridSpec, *, max_gsd_ratio: float) -> None:
    """RasterError when ``info`` is far coarser than ``spec``'s GSD or its size is implausible."""
    gsd_m = max(info.res_m)
    if spec.gsd_m is not None and gsd_m > spec.gsd_m * max_gsd_ratio:
        raise RasterError(
            f"{info.path}: {gsd_m:.3g} m per pixel is more than {max_gsd_ratio:g} times coarser than "
            f"the model's {spec.gsd_m:g} m; detection needs drone imagery near the model's GSD "
            "(--max-gsd-ratio, or max_gsd_ratio in configs/detect.yaml)")
    area_km2 = info.width * info.height * info.res_m[0] * info.res_m[1] / 1e6
    if area_km2 > MAX_AREA_KM2:
        raise RasterError(f"{info.path}: covers {area_km2:,.0f} km2, more than any drone mission "
                          f"({MAX_AREA_KM2:,.0f} km2); is its georeference right?")
    _check_stored_bytes(info)


@dataclass(frozen=True)
class Unusable:
    """An input left out of a run, and why (the reason without the file's path)."""

    path: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


def usable_rasters(paths: Sequence[str | os.PathLike], spec: GridSpec, *, max_gsd_ratio: float,
                   skip_unusable: bool = False) -> tuple[list[RasterInfo], list[Unusable]]:
    """Every input inspected and checked: the usable ones and, with ``skip_unusable``, the rest.

    Without ``skip_unusable`` one RasterError names every unusable file and its
    reason (not only the first); with it, only a set with no usable file fails.
    """
    from poppyscan.tiles.raster import inspect_raster

    infos, unusable = [], []
    for path in paths:
        try:
            info = inspect_raster(path)
            check_scale(info, spec, max_gsd_ratio=max_gsd_ratio)
        except RasterError as err:
            reason = str(err).removeprefix(f"{path}: ")
            unusable.append(Unusable(str(path), reason))
        else:
            infos.append(info)
    if unusable and len(paths) == 1:
        raise RasterError(f"{unusable[0].path}: {unusable[0].reason}")
    if unusable and (not skip_unusable or not infos):
        listed = "; ".join(f"{u.path}: {u.reason}" for u in unusable)
        advice = " (--skip-unusable runs the rest)" if infos else ""
        raise RasterError(f"{len(unusable)} of {len(paths)} orthomosaics are unusable{advice}: "
                          f"{listed}")
    return infos, unusable


def _check_stored_bytes(info: RasterInfo) -> None:
    path = Path(info.path)
    if path.suffix.lower() == ".vrt" or not path.is_file():
        return  # a VRT's pixels live in other files
    mpx = info.width * info.height / 1e6
    size = os.path.getsize(path)
    if mpx > 100 and size < mpx * MIN_BYTES_PER_MPX:
        raise RasterError(
            f"{info.path}: {info.width} x {info.height} px stored in {size:,} bytes: the file holds "
            "almost no image data (an empty or truncated file?)")
