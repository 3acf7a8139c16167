"""GDAL settings of the service's processes, applied before GDAL registers its drivers.

The web process, which opens uploads first (checks, previews, map tiles,
crews' returned packages), runs with ``GDAL_SKIP`` leaving out the raster VRT
driver and OGR's VRT driver: both open XML files that name other paths on the
server. Workers skip only OGR's: rasterio builds VRTs itself for boundless
reads (detection's thumbnails and the field package's imagery need them), and
workers open only files that passed :mod:`.intake`'s content check (a TIFF
header, which the VRT driver cannot claim), so a VRT never reaches them.
"""

from __future__ import annotations

import logging
import os

__all__ = ["WEB_SKIPPED", "WORKER_SKIPPED", "apply_gdal_env"]

WEB_SKIPPED = ("VRT", "OGR_VRT")
WORKER_SKIPPED = ("OGR_VRT",)


def apply_gdal_env(skipped: tuple[str, ...] = WEB_SKIPPED, environ: dict | None = None) -> dict:
    """Set ``GDAL_SKIP`` in ``environ`` (default: this process's) to the user's list plus ``skipped``.

    >>> apply_gdal_env(WORKER_SKIPPED, {"GDAL_SKIP": "VRT,netCDF"})["GDAL_SKIP"]
    'netCDF OGR_VRT'
    """
    if environ is None:  # rasterio's GDAL has no OGR_VRT driver to skip, and says so each start
        logging.getLogger("rasterio._env").addFilter(lambda r: "GDAL_SKIP" not in r.getMessage())
    env = os.environ if environ is None else environ
    own = env.get("GDAL_SKIP", "").replace(",", " ").split()
    env["GDAL_SKIP"] = " ".join(dict.fromkeys([*(d for d in own if d not in WEB_SKIPPED),
                                                *skipped]))
    return env
