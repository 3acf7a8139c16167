"""A mission's orthomosaics: files or folders in, each identified by its full path and a short label.

Photogrammetry tools name every orthomosaic alike (OpenDroneMap:
``<project>/odm_orthophoto/odm_orthophoto.tif``), so a file's base name never
identifies it. Labels are the shortest names that tell a mission's files apart.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from poppyscan.errors import RasterError

__all__ = ["find_orthomosaics", "flight_date", "mission_name", "source_labels"]

ODM_NAME = "odm_orthophoto.tif"
RASTER_SUFFIXES = (".tif", ".tiff", ".vrt")


def find_orthomosaics(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Expand folders into their orthomosaics; keep files as given (absolute, deduplicated).

    A folder holding OpenDroneMap projects (``**/odm_orthophoto/odm_orthophoto.tif``)
    gives those; any other folder gives the GeoTIFFs directly inside it.
    """
    found: list[Path] = []
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            found.extend(_orthos_in(path))
        elif path.exists():
            found.append(path)
        else:
            raise RasterError(f"{path}: no such file or folder")
    unique = list(dict.fromkeys(p.absolute() for p in found))
    if not unique:
        raise RasterError(f"{', '.join(map(str, paths))}: no orthomosaic found")
    return unique


def _orthos_in(folder: Path) -> list[Path]:
    odm = sorted(p for p in folder.rglob(ODM_NAME) if p.parent.name == "odm_orthophoto")
    if odm:
        return odm
    rasters = sorted(p for p in folder.iterdir()
                     if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES)
    if not rasters:
        raise RasterError(f"{folder}: holds no orthomosaic (GeoTIFF, or OpenDroneMap's "
                          f"odm_orthophoto/{ODM_NAME})")
    return rasters


def source_labels(paths: Sequence[str | os.PathLike]) -> dict[str, str]:
    """Full path -> the shortest label telling it apart: its stem, led by parent folders if needed.

    >>> source_labels(["/m/f11/odm_orthophoto/odm_orthophoto.tif",
    ...                "/m/f12/odm_orthophoto/odm_orthophoto.tif", "/m/x/west.tif"])
    {'/m/f11/odm_orthophoto/odm_orthophoto.tif': 'f11/odm_orthophoto', \
'/m/f12/odm_orthophoto/odm_orthophoto.tif': 'f12/odm_orthophoto', '/m/x/west.tif': 'west'}
    """
    keys = [str(p) for p in paths]
    parts = {key: Path(key).with_suffix("").parts[::-1] for key in keys}  # stem first
    labels = {key: parts[key][0] for key in keys}
    for key in keys:
        twins = [k for k in keys if labels[k] == labels[key]]
        if len(twins) > 1:
            for twin in twins:
                labels[twin] = _distinct_label(parts[twin], [parts[t] for t in twins if t != twin])
    return labels


def mission_name(paths: Sequence[str | os.PathLike]) -> str:
    """A mission's default name: one file's label, else the folder its files share.

    Never the first of several files: ``/m/f11/odm_orthophoto/odm_orthophoto.tif``
    and ``/m/f12/...`` make ``m``; letters, digits, ``_`` and ``-`` only.

    >>> mission_name(["/data/north/a.tif", "/data/north/b.tif"])
    'north'
    >>> mission_name(["/data/north/flight 1.tif"])
    'flight-1'
    """
    if len(paths) == 1:
        name = next(iter(source_labels(paths).values()))
    else:
        common = Path(os.path.commonpath([Path(p).absolute() for p in paths]))
        name = common.name or "mission"
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "mission"


def _distinct_label(parts: tuple[str, ...], others: list[tuple[str, ...]]) -> str:
    """The stem led by the nearest parent folder that the ``others`` do not share at that depth."""
    for depth in range(1, len(parts)):
        if all(len(o) <= depth or o[depth] != parts[depth] for o in others):
            return f"{parts[depth]}/{parts[0]}"
    return "/".join(reversed(parts))


def flight_date(paths: Sequence[str | os.PathLike]) -> str | None:
    """The earliest ``TIFFTAG_DATETIME`` of ``paths`` as ISO 8601 (photogrammetry tools may set it).

    None when no file carries a readable date: then the detection time stands in.
    """
    import rasterio

    dates = []
    for path in paths:
        with rasterio.open(path) as src:
            stamp = src.tags().get("TIFFTAG_DATETIME", "")
        if len(stamp) >= 19 and stamp[4] == ":" and stamp[7] == ":":  # "2026:03:14 09:30:00"
            dates.append(f"{stamp[:4]}-{stamp[5:7]}-{stamp[8:10]}T{stamp[11:19]}Z")
    return min(dates) if dates else None
