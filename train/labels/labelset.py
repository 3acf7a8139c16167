"""A set of georeferenced label polygons: the one shape every label format becomes."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyproj
import shapely

from poppyscan.atomic import atomic_path
from poppyscan.errors import ConfigError, LabelError
from poppyscan.tiles.geometry import reproject_geometry

__all__ = ["LabelSet", "WRITE_DRIVERS"]

# output suffix -> OGR driver
WRITE_DRIVERS: dict[str, str] = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON"}

# Densify so a reprojected edge follows the true curve: segments of 1/8 of a label's extent.
_DENSIFY_FRACTION = 1 / 8


@dataclass(frozen=True, eq=False)
class LabelSet:
    """Label polygons in map coordinates, one class name per polygon.

    ``geometries`` is a 1-D object array of shapely Polygons in ``crs``;
    ``source`` says where the labels came from (a file path, a format).
    ``crs`` may be given as a pyproj CRS, WKT or ``"EPSG:..."``; it is stored
    as a :class:`pyproj.CRS`.
    """

    geometries: np.ndarray
    classes: tuple[str, ...]
    crs: pyproj.CRS | str
    source: str = ""

    def __post_init__(self) -> None:
        geoms = np.asarray(self.geometries, dtype=object).reshape(-1)
        classes = tuple(str(c) for c in self.classes)
        if len(classes) != len(geoms):
            raise ConfigError(
                f"LabelSet from {self.source!r}: {len(geoms)} geometries but {len(classes)} classes"
            )
        kinds = shapely.get_type_id(geoms) if len(geoms) else np.empty(0, dtype=int)
        if np.any(kinds != shapely.GeometryType.POLYGON):
            raise ConfigError(f"LabelSet from {self.source!r}: every geometry must be a Polygon")
        try:
            crs = pyproj.CRS.from_user_input(self.crs)
        except pyproj.exceptions.CRSError as err:
            raise ConfigError(
                f"LabelSet from {self.source!r}: bad CRS {self.crs!r} ({err})"
            ) from err
        object.__setattr__(self, "geometries", geoms)
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "crs", crs)

    def __len__(self) -> int:
        return len(self.geometries)

    @property
    def class_names(self) -> tuple[str, ...]:
        """Distinct class names, sorted."""
        return tuple(sorted(set(self.classes)))

    def renamed(self, class_map: Mapping[str, str] | None) -> LabelSet:
        """The same labels with classes renamed by ``class_map`` (others kept as they are).

        Several source names may map to one class: ``{"Tree": "tree", "TREE": "tree"}``.
        """
        if not class_map:
            return self
        classes = tuple(class_map.get(c, c) for c in self.classes)
        return dataclasses.replace(self, classes=classes)

    def class_counts(self) -> dict[str, int]:
        """Number of labels per class name, sorted by name."""
        names, counts = np.unique(np.array(self.classes, dtype=object), return_counts=True)
        return {str(n): int(c) for n, c in zip(names, counts, strict=True)}

    def to_crs(self, crs: pyproj.CRS | str) -> LabelSet:
        """The same labels reprojected to ``crs`` (edges densified first)."""
        target = pyproj.CRS.from_user_input(crs)
        if target == self.crs:
            return LabelSet(self.geometries, self.classes, target, self.source)
        geoms = self.geometries
        if len(geoms):
            bounds = shapely.bounds(geoms)
            extent = np.maximum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
            step = np.where(extent > 0, extent * _DENSIFY_FRACTION, 1.0)
            geoms = reproject_geometry(geoms, self.crs, target, max_segment=step)
            if not np.all(np.isfinite(shapely.get_coordinates(geoms))):
                raise LabelError(
                    f"labels from {self.source}: some fall outside the area of {target.name}; "
                    "pick a CRS that covers them"
                )
        return LabelSet(geoms, self.classes, target, self.source)

    @classmethod
    def concat(
        cls,
        sets: Sequence[LabelSet],
        *,
        crs: pyproj.CRS | str | None = None,
        source: str | None = None,
    ) -> LabelSet:
        """Join label sets, reprojecting each to ``crs`` (default: the first set's CRS)."""
        if not sets and crs is None:
            raise ConfigError("LabelSet.concat: no label sets and no crs given")
        target = pyproj.CRS.from_user_input(crs if crs is not None else sets[0].crs)
        parts = [s.to_crs(target) for s in sets]
        if source is None:
            source = ";".join(dict.fromkeys(s.source for s in sets))
        geoms = (
            np.concatenate([p.geometries for p in parts]) if parts else np.empty(0, dtype=object)
        )
        classes = tuple(c for p in parts for c in p.classes)
        return cls(geoms, classes, target, source)

    def write(self, path: str | os.PathLike, *, layer: str = "labels") -> Path:
        """Write the labels to a GeoPackage or GeoJSON file (by suffix), atomically.

        Fields: ``label`` (class name) and ``source``. GeoJSON keeps the set's CRS
        (GDAL writes it as a ``crs`` member), so reproject with :meth:`to_crs`
        first if a strict RFC 7946 (EPSG:4326) file is needed.
        """
        from pyogrio.raw import write as ogr_write  # vector I/O only where needed

        path = Path(path)
        driver = WRITE_DRIVERS.get(path.suffix.lower())
        if driver is None:
            raise ConfigError(
                f"{path}: cannot write labels as {path.suffix or 'no suffix'!r}; "
                f"use one of {', '.join(sorted(WRITE_DRIVERS))}"
            )
        field_data = [
            np.array(self.classes, dtype=object),
            np.array([self.source] * len(self), dtype=object),
        ]
        with atomic_path(path) as tmp:
            ogr_write(
                str(tmp),
                geometry=shapely.to_wkb(self.geometries),
                field_data=field_data,
                fields=["label", "source"],
                layer=layer,
                driver=driver,
                geometry_type="Polygon",
                crs=self.crs.to_wkt(),
            )
        return path
