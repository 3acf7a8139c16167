"""Random shapes in ground metres: blobs, irregular fields, wandering lines, crown outlines."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon

__all__ = ["blob", "irregular_field", "wander_line", "outline_xy", "split_line"]


def blob(cx: float, cy: float, radius_m: float, rng: np.random.Generator, *,
         roughness: float = 0.25, n: int = 48) -> Polygon:
    """A star-shaped blob: a circle whose radius is modulated by a few random harmonics."""
    theta = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    k = np.arange(1, 6)
    amps = roughness * rng.random(5) / k
    phases = rng.random(5) * 2 * np.pi
    r = radius_m * (1.0 + (amps[:, None] * np.cos(k[:, None] * theta + phases[:, None])).sum(0))
    r = np.maximum(r, 0.3 * radius_m)
    return Polygon(np.column_stack([cx + r * np.cos(theta), cy + r * np.sin(theta)]))


def irregular_field(cx: float, cy: float, area_m2: float, rng: np.random.Generator, *,
                    aspect: float = 1.5, angle_rad: float = 0.0, jitter: float = 0.15,
                    shape: str = "quad") -> Polygon:
    """A field of exactly ``area_m2``: a jittered quadrilateral, or a blob when ``shape='blob'``."""
    if shape == "blob":
        poly = blob(0.0, 0.0, 1.0, rng, roughness=0.35, n=24)
        xy = shapely.get_coordinates(poly)
        xy[:, 0] *= np.sqrt(aspect)
        xy[:, 1] /= np.sqrt(aspect)
    else:
        half_w, half_h = np.sqrt(aspect) / 2, 1 / np.sqrt(aspect) / 2
        xy = np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h], [-half_w, half_h]])
        xy = xy + rng.uniform(-jitter, jitter, xy.shape) * min(half_w, half_h) * 2
        if rng.random() < 0.35:  # a cut corner: a pentagon, as real plots often are
            i = int(rng.integers(4))
            a, b = xy[i], xy[(i + 1) % 4]
            c = xy[i - 1]
            t = rng.uniform(0.2, 0.45)
            xy = np.insert(xy, i + 1, a + t * (b - a), axis=0)
            xy[i] = a + t * (c - a)
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    xy = xy @ np.array([[c, s], [-s, c]])
    poly = shapely.make_valid(Polygon(xy))
    if poly.geom_type != "Polygon":
        poly = max(getattr(poly, "geoms", [poly]), key=lambda g: g.area)
    scale = np.sqrt(area_m2 / poly.area)
    xy = shapely.get_coordinates(poly.exterior) * scale + (cx, cy)
    return Polygon(xy)


def wander_line(x: float, y: float, heading_rad: float, length_m: float,
                rng: np.random.Generator, *, step_m: float = 4.0, turn_sd: float = 0.12) -> LineString:
    """A smooth random walk: steps of ``step_m`` with slowly drifting heading."""
    n = max(2, int(length_m / step_m) + 1)
    turn = np.cumsum(rng.normal(0.0, turn_sd, n))
    turn = np.convolve(turn, np.ones(3) / 3, mode="same")
    heading = heading_rad + turn
    xs = x + np.concatenate([[0.0], np.cumsum(step_m * np.cos(heading[:-1]))])
    ys = y + np.concatenate([[0.0], np.cumsum(step_m * np.sin(heading[:-1]))])
    return LineString(np.column_stack([xs, ys]))


def split_line(line: LineString) -> np.ndarray:
    """The straight segments of ``line`` as an ``(n, 4)`` array ``x0, y0, x1, y1``."""
    xy = shapely.get_coordinates(line)
    return np.column_stack([xy[:-1], xy[1:]])


def outline_xy(cx: np.ndarray, cy: np.ndarray, r: np.ndarray, amps: np.ndarray,
               phases: np.ndarray, *, n: int = 20, stretch: np.ndarray | None = None,
               axis_rad: float = 0.0) -> np.ndarray:
    """Vertices ``(k, n, 2)`` of lobed outlines (crowns), one per centre, vectorised.

    ``amps``/``phases`` are ``(k, m)`` harmonic amplitudes (fractions of ``r``) and
    phases; ``stretch`` (k,) elongates each outline along ``axis_rad`` (shadows).
    """
    theta = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    harm = np.arange(2, 2 + amps.shape[1])
    wobble = (amps[:, :, None] * np.cos(harm[None, :, None] * theta + phases[:, :, None])).sum(1)
    rad = r[:, None] * (1.0 + wobble)
    u, v = rad * np.cos(theta), rad * np.sin(theta)
    if stretch is not None:
        u = u * stretch[:, None]
    c, s = np.cos(axis_rad), np.sin(axis_rad)
    return np.stack([cx[:, None] + u * c - v * s, cy[:, None] + u * s + v * c], axis=-1)
