"""Hard negatives: places known to hold no plot, whose label-free chips a dataset always keeps.

A model's precision is set by what it confuses with a plot: vegetable beds,
maize, flowering shrubs. A random draw of label-free chips holds few of them.
Hard negatives name them: the false targets of an earlier detection run, or the
targets field crews marked "false positive". Any geometry type works (target
polygons, GPS waypoints); a chip holds a hard negative when it intersects it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np
import shapely
from pyproj import CRS

from poppyscan.tiles.chip import Chip
from poppyscan.tiles.geometry import reproject_geometry
from poppyscan.train.labels.ogr import read_geometries

__all__ = ["HardNegatives"]

log = logging.getLogger(__name__)


class HardNegatives:
    """Hard-negative geometries from vector files, indexed once per chip CRS."""

    def __init__(self, layers: Sequence[tuple[np.ndarray, str]], sources: Sequence[str] = (), *,
                 n_on_labels: int = 0) -> None:
        self.sources = tuple(str(s) for s in sources)  # the files read, for the dataset summary
        self._layers = [(np.asarray(geoms, dtype=object), CRS.from_user_input(crs))
                        for geoms, crs in layers]
        self._by_crs: dict[str, shapely.STRtree] = {}
        self.n_on_labels = n_on_labels  # features dropped for touching a label
        self.n_in = sum(len(geoms) for geoms, _ in self._layers) + n_on_labels

    @classmethod
    def read(cls, paths: Sequence[str | os.PathLike], layer: str | None = None) -> HardNegatives:
        """Every geometry of layer ``layer`` of each file (default: its only layer).

        poppyscan's ``targets.geojson`` has one layer; pick ``targets`` or
        ``plots`` in ``targets.gpkg`` and ``waypoints`` in a GPX file.
        """
        return cls([read_geometries(path, layer=layer, layer_flag="--hard-negatives-layer")
                    for path in paths], sources=paths)

    def plus(self, geoms: np.ndarray, crs: CRS | str, source: str) -> HardNegatives:
        """These hard negatives and ``geoms`` (in ``crs``) from ``source`` (e.g. a registry)."""
        return HardNegatives([*self._layers, (geoms, crs)], (*self.sources, source),
                             n_on_labels=self.n_on_labels)

    def without_labels(self, labels: np.ndarray, crs: CRS | str) -> HardNegatives:
        """These hard negatives less those touching a label (``labels`` in ``crs``): they hold a plot."""
        tree, crs = shapely.STRtree(labels), CRS.from_user_input(crs)
        layers, dropped = [], 0
        for geoms, own_crs in self._layers:
            touching = np.unique(tree.query(reproject_geometry(geoms, own_crs, crs),
                                            predicate="intersects")[0])
            dropped += len(touching)
            layers.append((np.delete(geoms, touching), own_crs))
        if dropped:
            log.info("%d hard negatives touch a label and are ignored", dropped)
        return HardNegatives(layers, self.sources, n_on_labels=self.n_on_labels + dropped)

    def in_chip(self, chip: Chip) -> bool:
        """Whether the chip's footprint meets a hard negative."""
        key = chip.crs.to_wkt()
        if key not in self._by_crs:
            parts = [reproject_geometry(g, own, chip.crs) for g, own in self._layers]
            self._by_crs[key] = shapely.STRtree(np.concatenate(parts) if parts else np.zeros(0, object))
        return bool(len(self._by_crs[key].query(chip.polygon, predicate="intersects")))
