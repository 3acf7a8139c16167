"""Metres around lon/lat geometries: a local UTM zone for distances, overlaps and buffers."""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import Transformer

from poppyscan.tiles.geometry import utm_crs

__all__ = ["LocalUTM", "buffer_m"]


class LocalUTM:
    """Lon/lat to and from the UTM zone of one point (a run's or a package's centre)."""

    def __init__(self, lon: float, lat: float) -> None:
        self.crs = utm_crs(lon, lat)
        self._fwd = Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)
        self._inv = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)

    def xy(self, lon, lat) -> np.ndarray:
        """(n, 2) metres of lon/lat arrays."""
        x, y = self._fwd.transform(np.asarray(lon, float), np.asarray(lat, float))
        return np.column_stack([np.atleast_1d(x), np.atleast_1d(y)])

    def to_metres(self, geoms):
        """Geometries (one or an array) from lon/lat to this zone."""
        return shapely.transform(geoms, lambda c: np.column_stack(self._fwd.transform(*c.T)))

    def to_lonlat(self, geoms):
        """Geometries (one or an array) from this zone back to lon/lat."""
        return shapely.transform(geoms, lambda c: np.column_stack(self._inv.transform(*c.T)))


def buffer_m(geom: shapely.Geometry, distance_m: float) -> shapely.Geometry:
    """``geom`` (lon/lat) grown by ``distance_m`` metres, back in lon/lat."""
    centre = geom.centroid
    utm = LocalUTM(centre.x, centre.y)
    return utm.to_lonlat(utm.to_metres(geom).buffer(distance_m, quad_segs=8))
