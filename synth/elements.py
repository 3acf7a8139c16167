"""The vector elements of a synthetic scene (fields, roofs, lines, crowns) and the scene itself.

Coordinates are *local* metres: x east from the raster's left edge, y north from
its bottom edge, so they stay small and exact whatever the CRS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import Polygon

from poppyscan.synth.shapes import outline_xy

__all__ = [
    "STAGES", "PETAL_COLORS", "DISTRACTOR_KINDS", "WILD_KINDS", "LINE_KINDS", "Field", "Roof", "Lines",
    "Crowns", "Terrain", "Scene", "component_rng",
]

STAGES = ("rosette", "flowering", "capsule")
PETAL_COLORS = ("white", "pink", "red", "purple", "mixed")
WILD_KINDS = ("shrub_meadow", "dead_wood", "rock", "landslide", "burn_scar")  # uncultivated ground
DISTRACTOR_KINDS = ("vegetable", "maize", "tea", "banana", "flowering_shrub", "wildflower", "roof",
                    *WILD_KINDS)
LINE_KINDS = ("stream", "road", "path")  # drawn in this order


def component_rng(seed: int, component: int) -> np.random.Generator:
    """An independent random stream per scene component, so one part can change alone."""
    return np.random.default_rng([seed & 0xFFFFFFFF, component])


@dataclass
class Field:
    """A patch of one land use (poppy plot, crop, fallow...) with its rendering attributes."""

    kind: str
    geom: Polygon
    seed: int
    angle_rad: float  # row / bed direction
    attrs: dict = field(default_factory=dict)


@dataclass
class Roof:
    """A gabled roof: ridge along ``angle_rad``; ``height_m`` casts its shadow."""

    geom: Polygon
    seed: int
    angle_rad: float
    height_m: float
    material: str


@dataclass
class Lines:
    """Straight pieces of roads, paths and streams (kept as pieces so blocks index them)."""

    seg: np.ndarray  # (n, 4) x0, y0, x1, y1
    width_m: np.ndarray  # (n,)
    kind: np.ndarray  # (n,) index into LINE_KINDS
    seed: np.ndarray  # (n,) one seed per whole line, so pieces join seamlessly

    @classmethod
    def empty(cls) -> Lines:
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int), np.zeros(0, np.int64))

    def polygons(self) -> np.ndarray:
        """Each piece as a round-capped polygon."""
        lines = shapely.linestrings(self.seg.reshape(-1, 2, 2))
        return shapely.buffer(lines, self.width_m / 2, quad_segs=4)


@dataclass
class Crowns:
    """Tree and shrub crowns as arrays, sorted by height so taller ones paint last."""

    x: np.ndarray
    y: np.ndarray
    r: np.ndarray  # crown radius, metres
    h: np.ndarray  # top height, metres
    tone: np.ndarray  # index into the canopy palette
    amps: np.ndarray  # (n, 3) outline harmonics, fractions of r
    phases: np.ndarray  # (n, 3)
    seed: np.ndarray  # (n,) uint32

    def __len__(self) -> int:
        return len(self.x)

    def outlines(self, idx: np.ndarray | slice = slice(None), *, n: int = 20) -> np.ndarray:
        """Outline vertices ``(k, n, 2)`` of the selected crowns."""
        return outline_xy(self.x[idx], self.y[idx], self.r[idx], self.amps[idx],
                          self.phases[idx], n=n)

    def polygons(self, idx: np.ndarray | slice = slice(None)) -> np.ndarray:
        return shapely.polygons(self.outlines(idx))


@dataclass(frozen=True)
class Terrain:
    """Parameters of the procedural relief (evaluated per pixel, see render)."""

    seed: int
    relief_m: float  # amplitude of the rolling relief
    tilt: tuple[float, float]  # regional slope, metres per metre, east and north
    terrace_step_m: float


@dataclass
class Scene:
    """Everything in a survey, in local metres (see module docstring)."""

    seed: int
    width_m: float
    height_m: float
    flight_angle_rad: float
    footprint: Polygon
    clearings: object  # (Multi)Polygon
    terraces: object  # (Multi)Polygon: terraced zones
    terrain: Terrain
    fields: list[Field]
    lines: Lines
    roofs: list[Roof]
    crowns: Crowns
    dryness: float  # 0 lush .. 1 parched: how far into the dry season the survey was flown

    @property
    def plots(self) -> list[Field]:
        return [f for f in self.fields if f.kind == "poppy"]
