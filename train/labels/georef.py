"""Find the image a pixel label refers to and place pixel boxes/polygons on the map.

Pixel coordinates follow GDAL's corner convention (see ``tiles.geometry``), which
is also the convention of COCO, YOLO, Label Studio and DeepForest: (0, 0) is the
outer top-left corner of the image.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyproj
import rasterio
import shapely
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

from poppyscan.errors import LabelError
from poppyscan.tiles.geometry import pixel_boxes_to_polygons, pixel_polygons_to_map

from ._files import number
from .labelset import LabelSet

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageGeoref",
    "ImageLocator",
    "read_georef",
    "boxes_to_labels",
    "polygons_to_labels",
    "shapes_to_labels",
    "polygon_parts",
    "check_image_size",
    "check_labels",
]

# Image suffixes tried when a label names an image by stem only (YOLO).
IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class ImageGeoref:
    """Where an image lies on the map: its affine transform, CRS and size."""

    path: Path
    transform: Affine
    crs: pyproj.CRS
    width_px: int
    height_px: int


def read_georef(path: Path, *, label_file: Path | str = "") -> ImageGeoref:
    """Georeferencing of ``path``; LabelError if it has none.

    PNG/JPEG chips are georeferenced by GDAL through their world file
    (``.pgw``/``.jgw``/``.wld``) and ``.aux.xml`` (CRS).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                transform, crs = src.transform, src.crs
                width_px, height_px = src.width, src.height
    except RasterioIOError as err:
        raise LabelError(f"{path}: cannot open image for labels {label_file} ({err})") from err
    if crs is None or transform.is_identity:
        missing = "CRS" if crs is None and not transform.is_identity else "georeferencing"
        raise LabelError(
            f"{path}: image has no {missing}, so the labels of {label_file} cannot be placed on "
            "the map; use the georeferenced chip (GeoTIFF, or PNG/JPEG with its world file "
            "and .aux.xml beside it)"
        )
    return ImageGeoref(
        Path(path), transform, pyproj.CRS.from_user_input(crs.to_wkt()), width_px, height_px
    )


class ImageLocator:
    """Resolve image names from a label file to georeferenced images, with a cache.

    A name is looked up as given (absolute, or relative to each search folder),
    then by its basename in each folder. Search folders: ``images_dir`` first,
    then the label file's folder, then any ``extra_dirs`` of the call. The first
    candidate that exists *and* is georeferenced wins, so a georeferenced copy in
    ``images_dir`` beats a bare copy that a labelling tool exported.
    """

    def __init__(self, label_file: Path, images_dir: Path | None = None) -> None:
        self.label_file = Path(label_file)
        base = self.label_file if self.label_file.is_dir() else self.label_file.parent
        self.search_dirs = [Path(images_dir)] if images_dir is not None else []
        self.search_dirs.append(base)
        self._cache: dict[Path, ImageGeoref] = {}

    def locate(
        self,
        *names: str,
        extra_dirs: Sequence[Path] = (),
        suffixes: Sequence[str] = ("",),
    ) -> ImageGeoref:
        """Georeferenced image for the first of ``names`` found (each tried with ``suffixes``)."""
        dirs = [*self.search_dirs, *extra_dirs]
        named = [p for name in names for p in _candidates(name, dirs, suffixes)]
        # A label file names images, never other paths: '../', absolute paths and the like
        # must stay inside a search folder (its basename is still looked up there).
        candidates = [p for p in named if _inside(p, dirs)]
        first_error: LabelError | None = None
        for path in candidates:
            if not path.is_file():
                continue
            key = path.resolve()
            if key in self._cache:
                return self._cache[key]
            try:
                geo = read_georef(path, label_file=self.label_file)
            except LabelError as err:
                first_error = first_error or err
                continue
            self._cache[key] = geo
            return geo
        if first_error is not None:
            raise first_error
        looked = ", ".join(str(d) for d in dict.fromkeys(dirs))
        if len(candidates) < len(named):
            raise LabelError(f"{self.label_file}: image {names[0]!r} lies outside the images "
                             f"folder ({looked}) and no file of its name is inside it")
        raise LabelError(
            f"{self.label_file}: image {names[0]!r} not found (looked in {looked}); "
            "pass the folder of the images (images_dir= / --images)"
        )


def _inside(path: Path, dirs: Sequence[Path]) -> bool:
    """True when ``path``, with '..' folded, lies in one of ``dirs`` (links are the user's own)."""
    here = Path(os.path.normpath(os.path.abspath(path)))
    return any(here.is_relative_to(os.path.normpath(os.path.abspath(d))) for d in dirs)


def _candidates(name: str, dirs: Sequence[Path], suffixes: Sequence[str]) -> list[Path]:
    rel = Path(name)
    paths: list[Path] = []
    for suffix in suffixes:
        named = Path(f"{name}{suffix}")
        if rel.is_absolute():
            paths.append(named)
        paths.extend(d / named for d in dirs)
        paths.extend(d / named.name for d in dirs)
    return list(dict.fromkeys(paths))


def boxes_to_labels(
    geo: ImageGeoref, boxes_px: np.ndarray, classes: Sequence[str], *, source: str
) -> LabelSet:
    """Pixel boxes ``xmin, ymin, xmax, ymax`` of one image as georeferenced labels."""
    boxes_px = np.asarray(boxes_px, dtype="float64").reshape(-1, 4)
    geoms = pixel_boxes_to_polygons(geo.transform, boxes_px) if len(boxes_px) else []
    return check_labels(LabelSet(np.asarray(geoms, dtype=object), tuple(classes), geo.crs, source))


def polygons_to_labels(
    geo: ImageGeoref, rings_px: Sequence[np.ndarray], classes: Sequence[str], *, source: str
) -> LabelSet:
    """Pixel polygons of one image as georeferenced labels (invalid ones repaired).

    A polygon without area (fewer than three distinct corners, all on a line) is
    a LabelError, like a box without width or height.
    """
    geoms: list = []
    names: list[str] = []
    for poly, name in zip(pixel_polygons_to_map(geo.transform, rings_px), classes, strict=True):
        _check_finite(poly, source)
        try:
            parts = polygon_parts(poly)
        except shapely.errors.GEOSException as err:
            raise LabelError(f"{source}: a {name!r} polygon cannot be repaired ({err})") from None
        if not parts:
            raise LabelError(f"{source}: a {name!r} polygon on {geo.path.name} has no area")
        geoms.extend(parts)
        names.extend([name] * len(parts))
    return check_labels(LabelSet(np.array(geoms, dtype=object), tuple(names), geo.crs, source))


def _check_finite(geoms, source: str) -> None:
    with np.errstate(over="ignore", invalid="ignore"):
        ok = np.isfinite(shapely.get_coordinates(geoms)).all()
    if not ok:
        raise LabelError(f"{source}: label coordinates overflow on the map (values far too large)")


def check_labels(labels: LabelSet) -> LabelSet:
    """``labels`` if every polygon has finite corners and an area; LabelError otherwise."""
    _check_finite(labels.geometries, labels.source)
    if len(labels):
        with np.errstate(over="ignore", invalid="ignore"):
            area = shapely.area(labels.geometries)
        if not (np.isfinite(area) & (area > 0)).all():
            raise LabelError(f"{labels.source}: a label has no area or an overflowing one")
    return labels


def shapes_to_labels(
    geo: ImageGeoref,
    boxes_px: Sequence,
    box_classes: Sequence[str],
    rings_px: Sequence[np.ndarray],
    ring_classes: Sequence[str],
    *,
    source: str,
) -> LabelSet:
    """Pixel boxes and polygons of one image as one georeferenced label set (boxes first)."""
    return LabelSet.concat(
        [
            boxes_to_labels(geo, boxes_px, box_classes, source=source),
            polygons_to_labels(geo, rings_px, ring_classes, source=source),
        ],
        source=source,
    )


def polygon_parts(geom) -> list:
    """Valid, non-empty Polygon parts of ``geom`` (MultiPolygons and collections split)."""
    if geom is None or shapely.is_empty(geom):
        return []
    if not shapely.is_valid(geom):
        geom = shapely.make_valid(geom)
    parts = shapely.get_parts(geom)
    out = []
    for part in parts:
        kind = shapely.get_type_id(part)
        if kind == shapely.GeometryType.POLYGON and not part.is_empty and part.area > 0:
            out.append(part)
        elif kind in (shapely.GeometryType.MULTIPOLYGON, shapely.GeometryType.GEOMETRYCOLLECTION):
            out.extend(polygon_parts(part))
    return out


def check_image_size(
    geo: ImageGeoref,
    width_px: float | None,
    height_px: float | None,
    *,
    label_file: os.PathLike | str,
) -> None:
    """LabelError if a label file's declared image size differs from the image on disk."""
    if width_px is None or height_px is None:
        return
    width_px = number(width_px, path=Path(label_file), what=f"width of {geo.path.name}")
    height_px = number(height_px, path=Path(label_file), what=f"height of {geo.path.name}")
    if width_px != geo.width_px or height_px != geo.height_px:
        raise LabelError(
            f"{label_file}: declares {geo.path.name} as {int(width_px)}x{int(height_px)} px but the "
            f"image is {geo.width_px}x{geo.height_px} px; labels would land on the wrong pixels "
            "(use the image the labels were drawn on)"
        )
