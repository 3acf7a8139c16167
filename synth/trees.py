"""Tree and shrub crowns: forest outside clearings, scrub on their rims, a few remnant trees.

Crowns are arrays (a 2 km survey holds ~10^5 of them); outlines are built only
where needed (rendering a block, measuring a plot's occlusion).
"""

from __future__ import annotations

import numpy as np
import shapely

from poppyscan.synth.boxindex import BoxIndex
from poppyscan.synth.elements import Crowns, Field, Lines, Roof

__all__ = ["make_crowns", "occluded_fraction", "crown_index", "N_TONES"]

N_TONES = 8  # canopy palette size (see materials.CANOPY)
_MARGIN_M = 25.0  # crowns beyond the extent still overhang it and cast shadows into it


def _jittered_grid(rng, width_m, height_m, spacing_m):
    xs = np.arange(-_MARGIN_M, width_m + _MARGIN_M, spacing_m)
    ys = np.arange(-_MARGIN_M, height_m + _MARGIN_M, spacing_m)
    gx, gy = np.meshgrid(xs, ys)
    pts = np.column_stack([gx.ravel(), gy.ravel()])
    return pts + rng.uniform(-0.5, 0.5, pts.shape) * spacing_m


def make_crowns(rng: np.random.Generator, width_m: float, height_m: float, clearings,
                fields: list[Field], lines: Lines, roofs: list[Roof]) -> Crowns:
    """All crowns of the survey, sorted by height (ties by creation order)."""
    groups = []
    # Canopy trees and understory, outside the clearings.
    for spacing, r_range, h_per_r, keep in ((5.0, (1.6, 6.0), 2.1, 0.93), (3.4, (0.8, 2.0), 1.5, 0.6)):
        pts = _jittered_grid(rng, width_m, height_m, spacing)
        pts = pts[rng.random(len(pts)) < keep]
        r = np.clip(rng.lognormal(np.log(0.75 * np.mean(r_range)), 0.35, len(pts)), *r_range)
        h = np.clip(2.0 + h_per_r * r + rng.normal(0, 1.5, len(pts)), 1.5, 22.0)
        groups.append((pts, r, h, True))
    # Scrub along the clearing rims.
    rim = clearings.boundary
    n = int(rim.length / 3.0)
    if n:
        along = shapely.line_interpolate_point(rim, rng.random(n), normalized=True)
        pts = shapely.get_coordinates(along) + rng.normal(0, 1.5, (n, 2))
        r = rng.uniform(0.5, 2.0, n)
        groups.append((pts, r, rng.uniform(1.0, 4.0, n), False))
    # Bushes scattered over open ground (never on fields, roads or roofs).
    n = rng.poisson(clearings.area / 1e4 * 40.0)
    if n:
        x0, y0, x1, y1 = clearings.bounds
        pts = rng.uniform((x0, y0), (x1, y1), (n, 2))
        pts = pts[shapely.contains_xy(clearings, pts[:, 0], pts[:, 1])]
        groups.append((pts, rng.uniform(0.4, 1.5, len(pts)), rng.uniform(0.8, 3.0, len(pts)), False))
    # Remnant trees left standing in clearings and fields (they occlude plots).
    n = rng.poisson(clearings.area / 1e4 * 4.0)
    if n:
        x0, y0, x1, y1 = clearings.bounds
        pts = rng.uniform((x0, y0), (x1, y1), (n, 2))
        pts = pts[shapely.contains_xy(clearings, pts[:, 0], pts[:, 1])]
        r = rng.uniform(1.8, 5.0, len(pts))
        groups.append((pts, r, 3.0 + 2.0 * r, None))

    keep_out = _keep_out(clearings, fields, lines, roofs)
    xs, ys, rs, hs = [], [], [], []
    for pts, r, h, outside in groups:
        ok = np.ones(len(pts), bool)
        if outside is True:
            ok &= ~shapely.contains_xy(clearings, pts[:, 0], pts[:, 1])
        if outside is not None:
            ok &= ~shapely.contains_xy(keep_out, pts[:, 0], pts[:, 1])
        xs.append(pts[ok, 0])
        ys.append(pts[ok, 1])
        rs.append(r[ok])
        hs.append(h[ok])
    x, y, r, h = (np.concatenate(v) for v in (xs, ys, rs, hs))
    n = len(x)
    order = np.argsort(h, kind="stable")
    tone = rng.integers(0, N_TONES, n)
    amps = rng.uniform(0, 0.14, (n, 3)) / np.array([1.0, 1.6, 2.2])
    phases = rng.uniform(0, 2 * np.pi, (n, 3))
    seed = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    f32 = np.float32
    return Crowns(x[order].astype(f32), y[order].astype(f32), r[order].astype(f32),
                  h[order].astype(f32), tone[order].astype(np.uint8), amps[order].astype(f32),
                  phases[order].astype(f32), seed[order])


def _keep_out(clearings, fields, lines: Lines, roofs):
    """Where no crown may stand: fields, roofs, roads and stream beds."""
    parts = [f.geom for f in fields] + [r.geom.buffer(1.0) for r in roofs]
    if len(lines.seg):
        parts += list(lines.polygons())
    geom = shapely.union_all(parts) if parts else shapely.Polygon()
    shapely.prepare(geom)
    shapely.prepare(clearings)
    return geom


def occluded_fraction(crowns: Crowns, index: BoxIndex, geom) -> float:
    """Fraction of ``geom``'s area under crowns (``index`` holds the crowns' boxes)."""
    idx = index.query(geom.bounds)
    if not len(idx):
        return 0.0
    cover = shapely.union_all(crowns.polygons(idx))
    return float(shapely.area(shapely.intersection(cover, geom)) / geom.area)


def crown_index(crowns: Crowns) -> BoxIndex:
    """An index of the crown outlines' bounding boxes (outline radius is at most 1.3 r)."""
    pad = 1.3 * crowns.r
    return BoxIndex(crowns.x - pad, crowns.y - pad, crowns.x + pad, crowns.y + pad)
