"""Scene layout: flight footprint, clearings, roads and streams, fields and roofs.

All functions take their own random generator (see ``scene.component_rng``)
and work in local metres. Fields never overlap each other, roads or streams
(a 0.5 m gap is kept), so every ground-truth polygon has one owner.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import Polygon, box

from poppyscan.synth.elements import PETAL_COLORS, Field, Lines, Roof
from poppyscan.synth.shapes import blob, irregular_field, split_line, wander_line

__all__ = [
    "Occupancy", "make_footprint", "make_clearings", "pick_terraces", "make_lines",
    "place_plots", "place_distractors", "poppy_field", "place_background", "place_roofs",
    "place_wild_ground",
]

GAP_M = 0.5
_CELL_M = 25.0


class Occupancy:
    """Polygons already placed, bucketed on a coarse grid for fast overlap tests."""

    def __init__(self, obstacles: Sequence = ()) -> None:
        self._cells: dict[tuple[int, int], list] = defaultdict(list)
        for geom in obstacles:
            self.add(geom)

    def _keys(self, geom):
        x0, y0, x1, y1 = geom.bounds
        for i in range(int(np.floor(x0 / _CELL_M)), int(np.floor(x1 / _CELL_M)) + 1):
            for j in range(int(np.floor(y0 / _CELL_M)), int(np.floor(y1 / _CELL_M)) + 1):
                yield i, j

    def add(self, geom) -> None:
        for key in self._keys(geom):
            self._cells[key].append(geom)

    def is_free(self, geom) -> bool:
        grown = geom.buffer(GAP_M, quad_segs=2)
        near = {id(g): g for key in self._keys(grown) for g in self._cells.get(key, ())}
        return not near or not shapely.intersects(grown, np.array(list(near.values()))).any()


def make_footprint(rng: np.random.Generator, width_m: float, height_m: float) -> tuple[Polygon, float]:
    """An irregular, rotated union of flight strips that touches the raster's edges.

    Returns the footprint and the flight direction (radians from east).
    """
    base = float(rng.choice([0.0, np.pi / 2]))
    delta = float(rng.uniform(-1, 1)) * np.radians(30)
    for _ in range(8):  # shrink the rotation until the rotated rectangle fits the extent
        theta = base + delta
        c, s = abs(np.cos(theta)), abs(np.sin(theta))
        along, across = np.linalg.solve([[c, s], [s, c]], [width_m, height_m])
        if min(along, across) > 0.35 * min(width_m, height_m):
            break
        delta /= 2
    n_strips = int(rng.integers(3, 8))
    strip_m = across / n_strips
    parts = []
    for i in range(n_strips):
        v0 = -across / 2 + i * strip_m
        u0 = -along / 2 + rng.uniform(0, 0.12) * along * (rng.random() < 0.6)
        u1 = along / 2 - rng.uniform(0, 0.12) * along * (rng.random() < 0.6)
        parts.append(box(u0, v0, u1, v0 + strip_m * 1.02))
        # Strip ends are ragged: the last photos of a line overlap unevenly.
        for end in (u0, u1):
            step = rng.uniform(0.01, 0.04) * along * rng.choice([-1, 1])
            lo = rng.uniform(0.2, 0.5) * strip_m
            parts.append(box(min(end, end + step), v0 + lo, max(end, end + step), v0 + strip_m))
    poly = shapely.union_all(parts)
    poly = affinity.rotate(poly, theta, origin=(0, 0), use_radians=True)
    for _ in range(int(rng.integers(0, 3))):  # bites: gaps the photogrammetry could not fill
        p = poly.exterior.interpolate(rng.random(), normalized=True)
        poly = poly.difference(blob(p.x, p.y, rng.uniform(0.04, 0.1) * min(along, across), rng))
    poly = _largest(poly)
    margin = 0.005 * min(width_m, height_m)
    x0, y0, x1, y1 = poly.bounds
    sx, sy = (width_m - 2 * margin) / (x1 - x0), (height_m - 2 * margin) / (y1 - y0)
    xy = shapely.get_coordinates(poly.exterior)
    xy = np.column_stack([(xy[:, 0] - x0) * sx + margin, (xy[:, 1] - y0) * sy + margin])
    return Polygon(xy).simplify(0.05), theta


def make_clearings(rng: np.random.Generator, footprint: Polygon, forest_cover: float):
    """Irregular clearings until the footprint is ``1 - forest_cover`` open ground."""
    x0, y0, x1, y1 = footprint.bounds
    side = np.sqrt((x1 - x0) * (y1 - y0))
    target = min(1.0 - forest_cover, 0.95) * footprint.area
    centre = footprint.representative_point()
    blobs = [blob(centre.x, centre.y, float(np.clip(0.25 * side, 8, 70)), rng, roughness=0.35)]
    clearings = blobs[0]
    while clearings.intersection(footprint).area < target and len(blobs) < 400:
        batch = []
        for _ in range(6):
            if rng.random() < 0.5:  # grow an existing clearing: open land is connected
                p = clearings.boundary.interpolate(rng.random(), normalized=True)
                cx, cy = p.x, p.y
            else:
                cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
            radius = float(np.clip(rng.uniform(0.06, 0.2) * side, 5, 60))
            batch.append(blob(cx, cy, radius, rng, roughness=0.35))
        blobs += batch
        clearings = shapely.union_all([clearings, *batch])
    return clearings.buffer(2.0, quad_segs=4).buffer(-2.0, quad_segs=4)


def pick_terraces(rng: np.random.Generator, clearings):
    """Some clearings are terraced: pick each part with probability 0.4."""
    parts = [g for g in getattr(clearings, "geoms", [clearings]) if rng.random() < 0.4]
    return shapely.union_all(parts) if parts else Polygon()


def make_lines(rng: np.random.Generator, width_m: float, height_m: float, clearings) -> Lines:
    """Roads cross the survey, streams meander through it, paths wander from clearings."""
    mean_side_km = (width_m + height_m) / 2000
    diag = float(np.hypot(width_m, height_m))
    frame = box(-10, -10, width_m + 10, height_m + 10)
    specs = []  # (kind, line, width)
    for kind, count, width, turn in (
        (0, rng.poisson(0.25 + 0.8 * mean_side_km), (1.0, 4.0), 0.2),
        (1, rng.poisson(0.3 + 1.5 * mean_side_km), (3.0, 5.0), 0.06),
    ):
        for _ in range(count):
            x, y, heading = _edge_start(rng, width_m, height_m)
            line = wander_line(x, y, heading, 1.6 * diag, rng, step_m=4.0, turn_sd=turn)
            specs.append((kind, line, rng.uniform(*width)))
    n_paths = rng.poisson(0.8 + 0.5 * width_m * height_m / 1e4)
    starts = _points_in(clearings, rng, n_paths)
    for x, y in starts:
        line = wander_line(x, y, rng.uniform(0, 2 * np.pi), rng.uniform(20, 150), rng,
                           step_m=2.0, turn_sd=0.18)
        specs.append((2, line, rng.uniform(0.5, 1.0)))
    segs, widths, kinds, seeds = [], [], [], []
    for kind, line, width in specs:
        clipped = line.intersection(frame)
        seed = int(rng.integers(2**31))
        for part in getattr(clipped, "geoms", [clipped]):
            if part.is_empty or part.geom_type != "LineString":
                continue
            s = split_line(part)
            segs.append(s)
            widths.append(np.full(len(s), width))
            kinds.append(np.full(len(s), kind))
            seeds.append(np.full(len(s), seed, dtype=np.int64))
    if not segs:
        return Lines.empty()
    return Lines(np.concatenate(segs), np.concatenate(widths), np.concatenate(kinds),
                 np.concatenate(seeds))


def _edge_start(rng, width_m, height_m) -> tuple[float, float, float]:
    """A point on the extent's edge and a heading into the extent."""
    side = int(rng.integers(4))
    t = rng.uniform(0.1, 0.9)
    x, y = [(t * width_m, 0.0), (width_m, t * height_m), (t * width_m, height_m),
            (0.0, t * height_m)][side]
    tx, ty = rng.uniform(0.3, 0.7) * width_m, rng.uniform(0.3, 0.7) * height_m
    return x, y, float(np.arctan2(ty - y, tx - x))


def _points_in(region, rng: np.random.Generator, n: int, *, tries: int = 50) -> np.ndarray:
    """``n`` (or fewer) uniform random points inside ``region``."""
    if n <= 0 or region.is_empty:
        return np.zeros((0, 2))
    shapely.prepare(region)
    x0, y0, x1, y1 = region.bounds
    out = []
    for _ in range(tries):
        pts = rng.uniform((x0, y0), (x1, y1), size=(max(64, 4 * n), 2))
        out.extend(pts[shapely.contains_xy(region, pts[:, 0], pts[:, 1])])
        if len(out) >= n:
            break
    return np.asarray(out[:n]).reshape(-1, 2)


def _place(rng, region, within, occupied: Occupancy, make, count: int, *, tries: int = 30) -> list:
    """Place up to ``count`` shapes from ``make(x, y)`` inside ``within``, free of others."""
    placed = []
    candidates = _points_in(region, rng, count * tries)
    for x, y in candidates:
        if len(placed) >= count:
            break
        item = make(float(x), float(y))
        geom = item.geom
        if within.contains(geom) and occupied.is_free(geom):
            occupied.add(geom)
            placed.append(item)
    return placed


def _log_uniform(rng, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def poppy_field(rng: np.random.Generator, x: float, y: float, stages: Sequence[str]) -> Field:
    """One poppy plot centred near ``x, y`` (local metres): 5-600 m2, its stage and planting drawn."""
    area = _log_uniform(rng, 5.0, 600.0)
    angle = rng.uniform(0, np.pi)
    shape = "blob" if rng.random() < 0.3 else "quad"
    geom = irregular_field(x, y, area, rng, aspect=rng.uniform(1.0, 2.8), angle_rad=angle,
                           shape=shape)
    stage = str(rng.choice(list(stages)))
    rows = rng.random() < 0.55
    attrs = dict(
        stage=stage,
        petal_color=str(rng.choice(PETAL_COLORS, p=[0.3, 0.2, 0.2, 0.15, 0.15]))
        if stage == "flowering" else None,
        planting="rows" if rows else "broadcast",
        row_m=float(rng.uniform(0.3, 0.6)) if rows else float(rng.uniform(0.15, 0.3)),
        plant_m=float(rng.uniform(0.15, 0.3)),
        interplanted=bool(rng.random() < 0.2),
        intercrop=str(rng.choice(["maize", "mustard", "cabbage"])),
        vigour=float(rng.uniform(0.0, 1.0)),
    )
    if not attrs["interplanted"]:
        attrs["intercrop"] = None
    return Field("poppy", geom, int(rng.integers(2**31)), float(angle), attrs)


def place_plots(rng, footprint, clearings, occupied: Occupancy, *, count: int,
                stages: Sequence[str]) -> list[Field]:
    """Poppy plots, 5-600 m2; about a third hug a clearing edge, under the canopy's rim."""
    inner = footprint.buffer(-1.0)
    open_ground = clearings.intersection(inner)
    rim = open_ground.intersection(clearings.boundary.buffer(6.0))
    reach = clearings.buffer(1.5).intersection(inner)  # plots may reach under the trees
    shapely.prepare(open_ground)
    shapely.prepare(reach)

    def make(x: float, y: float) -> Field:
        return poppy_field(rng, x, y, stages)

    n_rim = int(round(count / 3))
    placed = _place(rng, rim, reach, occupied, make, n_rim)
    placed += _place(rng, open_ground, open_ground, occupied, make, count - len(placed))
    return placed


_DISTRACTORS = {  # kind: (weight, min area m2, max area m2)
    "vegetable": (0.24, 15, 400),
    "maize": (0.16, 40, 800),
    "tea": (0.1, 80, 1200),
    "banana": (0.12, 30, 400),
    "flowering_shrub": (0.16, 3, 40),
    "wildflower": (0.22, 10, 300),
}
_FLOWER_COLORS = ("magenta", "pink", "white", "yellow", "orange", "purple", "red")


def _distractor_attrs(rng, kind: str) -> dict:
    if kind == "vegetable":
        return dict(variant=str(rng.choice(["cabbage", "mustard", "lettuce", "garlic"],
                                           p=[0.35, 0.25, 0.15, 0.25])),
                    bed_m=float(rng.uniform(0.9, 1.4)))
    if kind == "maize":
        return dict(variant=str(rng.choice(["young", "tall", "tasselled"])),
                    row_m=float(rng.uniform(0.65, 0.9)))
    if kind == "tea":
        return dict(variant="hedges", row_m=float(rng.uniform(1.3, 1.8)))
    if kind == "banana":
        return dict(variant="grove", spacing_m=float(rng.uniform(2.5, 3.5)))
    if kind == "flowering_shrub":
        return dict(variant=str(rng.choice(_FLOWER_COLORS)))
    n = int(rng.integers(1, 4))
    return dict(variant="+".join(rng.choice(["yellow", "white", "purple", "pink", "red"], n,
                                            replace=False)),
                density=float(rng.uniform(0.2, 0.8)))


def place_distractors(rng, footprint, clearings, occupied: Occupancy, *, count: int) -> list[Field]:
    """Look-alike crops and flowers: vegetable beds, maize, tea, banana, shrubs, wildflowers."""
    kinds = list(_DISTRACTORS)
    weights = np.array([_DISTRACTORS[k][0] for k in kinds])
    region = clearings.intersection(footprint.buffer(5.0))
    within = clearings.buffer(1.0)
    shapely.prepare(within)

    def make(x: float, y: float) -> Field:
        kind = str(rng.choice(kinds, p=weights / weights.sum()))
        _, lo, hi = _DISTRACTORS[kind]
        angle = rng.uniform(0, np.pi)
        shape = "blob" if kind in ("flowering_shrub", "wildflower") or rng.random() < 0.2 else "quad"
        geom = irregular_field(x, y, _log_uniform(rng, lo, hi), rng, angle_rad=angle, shape=shape,
                               aspect=rng.uniform(1.0, 3.0))
        return Field(kind, geom, int(rng.integers(2**31)), float(angle), _distractor_attrs(rng, kind))

    return _place(rng, region, within, occupied, make, count)


def place_background(rng, footprint, clearings, occupied: Occupancy, *, count: int) -> list[Field]:
    """Fields that are not look-alikes: fallow, pasture, burnt swidden, stubble."""
    region = clearings.intersection(footprint.buffer(10.0))
    within = clearings.buffer(2.0)
    shapely.prepare(within)

    def make(x: float, y: float) -> Field:
        kind = str(rng.choice(["fallow", "pasture", "burnt", "stubble"], p=[0.35, 0.3, 0.15, 0.2]))
        angle = rng.uniform(0, np.pi)
        geom = irregular_field(x, y, _log_uniform(rng, 80, 1500), rng, angle_rad=angle,
                               aspect=rng.uniform(1.0, 2.5), shape="quad")
        return Field(kind, geom, int(rng.integers(2**31)), float(angle),
                     dict(row_m=float(rng.uniform(0.25, 0.5))))

    return _place(rng, region, within, occupied, make, count)


_WILD = {  # kind: (weight, min area m2, max area m2, aspect range, in clearings only)
    "shrub_meadow": (0.3, 100, 1500, (1.0, 2.0), True),
    "dead_wood": (0.22, 15, 150, (1.0, 2.5), True),
    "rock": (0.16, 15, 300, (1.0, 2.0), False),
    "landslide": (0.12, 80, 900, (2.0, 4.0), False),
    "burn_scar": (0.2, 60, 900, (1.0, 2.0), False),
}


def place_wild_ground(rng, footprint, clearings, occupied: Occupancy, *, count: int) -> list[Field]:
    """Uncultivated ground: shrub meadow, dead wood, rock, landslide and burn scars.

    Meadows and dead wood lie in clearings; rock, landslides and burns anywhere
    in the footprint (no tree stands on them, so they open the forest).
    """
    kinds = list(_WILD)
    weights = np.array([_WILD[k][0] for k in kinds])
    inner = footprint.buffer(-2.0)
    open_ground = clearings.intersection(inner)
    shapely.prepare(inner)
    placed: list[Field] = []
    for _ in range(count):
        kind = str(rng.choice(kinds, p=weights / weights.sum()))
        _, lo, hi, aspect, in_clearings = _WILD[kind]
        region = open_ground if in_clearings else inner

        def make(x: float, y: float, kind=kind, lo=lo, hi=hi, aspect=aspect) -> Field:
            angle = rng.uniform(0, 2 * np.pi)
            geom = irregular_field(x, y, _log_uniform(rng, lo, hi), rng, angle_rad=angle,
                                   shape="blob", aspect=rng.uniform(*aspect))
            return Field(kind, geom, int(rng.integers(2**31)), float(angle), _wild_attrs(rng, kind))

        placed += _place(rng, region, inner, occupied, make, 1, tries=20)
    return placed


def _wild_attrs(rng, kind: str) -> dict:
    if kind == "shrub_meadow":
        return dict(variant="sagebrush", spacing_m=float(rng.uniform(0.9, 2.0)),
                    clump_m=float(rng.uniform(0.25, 0.55)), gaps=float(rng.uniform(0.05, 0.4)))
    if kind == "dead_wood":
        return dict(variant="logs", spacing_m=float(rng.uniform(1.8, 3.5)),
                    log_r_m=float(rng.uniform(0.08, 0.22)))
    return dict(variant=kind)


def place_roofs(rng, footprint, clearings, lines: Lines, occupied: Occupancy, *,
                count: int) -> list[Roof]:
    """Huts and houses in clearings, most of them beside a road or path."""
    region = clearings.intersection(footprint.buffer(5.0))
    shapely.prepare(region)

    def make(x: float, y: float) -> Roof:
        angle = rng.uniform(0, np.pi)
        if len(lines.seg) and rng.random() < 0.7:  # beside a line, parallel to it
            x0, y0, x1, y1 = lines.seg[int(rng.integers(len(lines.seg)))]
            angle = float(np.arctan2(y1 - y0, x1 - x0))
            off = rng.choice([-1, 1]) * rng.uniform(4, 9)
            x, y = (x0 + x1) / 2 - off * np.sin(angle), (y0 + y1) / 2 + off * np.cos(angle)
        length, width = rng.uniform(4, 11), rng.uniform(3, 6.5)
        geom = affinity.rotate(box(x - length / 2, y - width / 2, x + length / 2, y + width / 2),
                               angle, origin=(x, y), use_radians=True)
        material = str(rng.choice(["metal", "rusty", "thatch", "tarp"], p=[0.45, 0.25, 0.22, 0.08]))
        return Roof(geom, int(rng.integers(2**31)), float(angle), float(rng.uniform(2.5, 4.5)),
                    material)

    return _place(rng, region, region, occupied, make, count, tries=60)


def _largest(geom) -> Polygon:
    parts = getattr(geom, "geoms", [geom])
    return Polygon(max(parts, key=lambda g: g.area).exterior)
