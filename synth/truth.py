"""Ground truth of a synthetic survey: plot and distractor records, written as GeoJSON.

Records carry shapely geometries in the survey's map CRS. Files are written
atomically; coordinates are rounded to the millimetre (map CRS) or ~1 mm in
degrees (WGS84 copy).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import shapely
from pyogrio.raw import write as ogr_write
from pyproj import CRS

from poppyscan.atomic import atomic_path
from poppyscan.synth.elements import Scene
from poppyscan.synth.trees import crown_index, occluded_fraction
from poppyscan.tiles.geometry import reproject_geometry

__all__ = ["plot_records", "distractor_records", "write_records", "to_map", "to_wgs84"]

PLOT_FIELDS = ("plot_id", "label", "stage", "petal_color", "planting", "area_m2", "occluded_frac",
               "interplanted", "intercrop")
DISTRACTOR_FIELDS = ("distractor_id", "kind", "variant", "area_m2")


def to_map(geom, origin: tuple[float, float]):
    """Local scene metres -> map coordinates (the scene's origin is its bottom-left corner)."""
    return shapely.transform(geom, lambda xy: xy + np.asarray(origin))


def plot_records(scene: Scene, origin: tuple[float, float]) -> list[dict]:
    """One record per poppy plot; ``occluded_frac`` is the share of its area under crowns."""
    index = crown_index(scene.crowns)
    out = []
    for i, f in enumerate(scene.plots, start=1):
        a = f.attrs
        out.append(dict(
            plot_id=i, label="poppy", geometry=to_map(f.geom, origin), stage=a["stage"],
            petal_color=a["petal_color"], planting=a["planting"], area_m2=round(f.geom.area, 2),
            occluded_frac=round(occluded_fraction(scene.crowns, index, f.geom), 3),
            interplanted=a["interplanted"], intercrop=a["intercrop"],
        ))
    return out


def distractor_records(scene: Scene, origin: tuple[float, float]) -> list[dict]:
    """Look-alike crops, flowers and roofs."""
    items = [(f.kind, f.attrs.get("variant"), f.geom) for f in scene.fields
             if f.kind not in ("poppy", "fallow", "pasture", "burnt", "stubble")]
    items += [("roof", r.material, r.geom) for r in scene.roofs]
    return [dict(distractor_id=i, kind=kind, variant=variant, area_m2=round(geom.area, 2),
                 geometry=to_map(geom, origin))
            for i, (kind, variant, geom) in enumerate(items, start=1)]


def to_wgs84(geoms: list, crs: CRS) -> list:
    """Geometries reprojected from ``crs`` to WGS84 (lon, lat)."""
    return list(reproject_geometry(np.array(geoms, dtype=object), crs, "EPSG:4326", max_segment=None))


def write_records(path: str | os.PathLike, records: list[dict], fields: tuple[str, ...], crs: CRS,
                  *, layer: str, wgs84: bool = False) -> Path:
    """Write ``records`` as a GeoJSON FeatureCollection, atomically."""
    geoms = [r["geometry"] for r in records]
    options = {"COORDINATE_PRECISION": 3}
    out_crs = crs
    if wgs84:
        geoms, out_crs = to_wgs84(geoms, crs), CRS.from_epsg(4326)
        options = {"COORDINATE_PRECISION": 8, "RFC7946": "YES"}
    field_data = [np.array([r[k] for r in records], dtype=object if _nullable(records, k) else None)
                  for k in fields]
    if not records:  # an empty FeatureCollection still needs typed columns
        field_data = [np.array([], dtype=object) for _ in fields]
    with atomic_path(path) as tmp:
        ogr_write(tmp, shapely.to_wkb(np.array(geoms, dtype=object)), field_data, list(fields),
                  layer=layer, driver="GeoJSON", geometry_type="Polygon", crs=out_crs.to_wkt(),
                  layer_options=options)
    return Path(path)


def _nullable(records: list[dict], key: str) -> bool:
    return any(r[key] is None or isinstance(r[key], str) for r in records)
