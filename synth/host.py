"""A real orthomosaic as host for synthetic plots: its true GSD, where plots may go, how it looks.

Everything here reads the host's pixels only: where the ground is open (a plot
may be sown there), where tree canopy stands (it hides part of a plot), how
noisy and how sharp the imagery is (so a pasted plot is made as noisy and as
soft). Masks come from mean colour and are heuristics, not a land-cover map.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from affine import Affine
from pyproj import CRS, Proj, Transformer

__all__ = [
    "BLUR_SIGMAS_PX", "blocked_mask", "canopy_mask", "detail_share", "ground_px_m", "noise_sigma",
    "open_mask",
]

F = np.float32
BLUR_SIGMAS_PX = (0.0, 0.4, 0.6, 0.8, 1.0, 1.3, 1.6, 2.0)  # candidate camera blurs to match


def ground_px_m(crs, transform: Affine, width: int, height: int) -> tuple[float, float]:
    """True ground size (metres) of a pixel at the raster's centre: ``(x, y)``.

    Map units times the CRS's unit, divided by its scale there (World Mercator
    at 15 S: map metres are 1/cos(15) ground metres).

    >>> ground_px_m("EPSG:32647", Affine(0.05, 0, 500000, 0, -0.05, 2e6), 100, 100)
    (0.05, 0.05)
    """
    crs = CRS.from_user_input(crs)
    unit = float(crs.axis_info[0].unit_conversion_factor)
    cx, cy = transform @ (width / 2, height / 2)
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(cx, cy)
    factors = Proj(crs).get_factors(lon, lat)
    sx, sy = math.hypot(transform.a, transform.d) * unit, math.hypot(transform.b, transform.e) * unit
    if abs(factors.areal_scale - 1.0) < 1e-3:  # UTM, national grids: map metres are ground metres
        return round(sx, 9), round(sy, 9)
    return sx / factors.parallel_scale, sy / factors.meridional_scale


def _hsv_parts(rgb: np.ndarray) -> tuple[np.ndarray, ...]:
    x = rgb.astype(F) / F(255)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    value = x.max(axis=-1)
    sat = (value - x.min(axis=-1)) / np.maximum(value, F(1e-6))
    excess_green = (F(2) * g - r - b) / np.maximum(r + g + b, F(1e-6))
    return r, g, b, value, sat, excess_green


def _smooth(mask: np.ndarray, px: int) -> np.ndarray:
    """``mask`` where most of its ``px`` neighbourhood agrees (a majority filter)."""
    if px < 2:
        return mask
    k = 2 * (px // 2) + 1
    return cv2.blur(mask.astype(F), (k, k)) > F(0.5)


def canopy_mask(rgb: np.ndarray, valid: np.ndarray, gsd_m: float) -> np.ndarray:
    """Tree and shrub canopy: green the largest channel, green excess > 0.04, not pale.

    Smoothed over ~1 m so grass blades and lone green pixels drop out.
    """
    r, g, b, value, sat, exg = _hsv_parts(rgb)
    leafy = valid & (g >= np.maximum(r, b)) & (exg > F(0.04)) & (value < F(0.75)) & (sat > F(0.12))
    return _smooth(leafy, round(1.0 / gsd_m)) & valid


def open_mask(rgb: np.ndarray, valid: np.ndarray, gsd_m: float) -> np.ndarray:
    """Ground a plot may be sown on: valid, not canopy, not dark, not a vivid colour (roofs,
    tarps, cars, water reflecting the sky), smoothed over ~2 m."""
    r, g, b, value, sat, _ = _hsv_parts(rgb)
    vivid = (sat > F(0.45)) | ((b > np.maximum(r, g)) & (sat > F(0.15)))
    ground = valid & (value > F(0.22)) & (value < F(0.95)) & ~vivid
    return _smooth(ground & ~canopy_mask(rgb, valid, gsd_m), round(2.0 / gsd_m)) & valid


def blocked_mask(rgb: np.ndarray, valid: np.ndarray, gsd_m: float) -> np.ndarray:
    """Where no plot may lie: valid imagery that is neither open ground nor canopy."""
    return valid & ~open_mask(rgb, valid, gsd_m) & ~canopy_mask(rgb, valid, gsd_m)


def noise_sigma(grey: np.ndarray) -> float:
    """Sensor noise (digital numbers) by Immerkaer's Laplacian-difference estimate.

    >>> flat = np.full((64, 64), 100.0)
    >>> noise = np.random.default_rng(0).normal(0, 3.0, (64, 64))
    >>> round(noise_sigma(flat + noise), 1)
    3.0
    """
    grey = np.asarray(grey, np.float64)
    if min(grey.shape) < 3:
        return 0.0
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float64)
    response = cv2.filter2D(grey, -1, kernel)[1:-1, 1:-1]
    h, w = response.shape
    return float(math.sqrt(math.pi / 2) * np.abs(response).sum() / (6 * h * w))


def detail_share(grey: np.ndarray, where: np.ndarray | None = None) -> float:
    """Share of the fine detail (1 px scale) in the detail up to 4 px: lower is softer imagery."""
    grey = np.asarray(grey, np.float32)
    fine = grey - cv2.GaussianBlur(grey, (0, 0), 1.0)
    coarse = grey - cv2.GaussianBlur(grey, (0, 0), 4.0)
    sel = np.ones(grey.shape, bool) if where is None else where
    if sel.sum() < 16:
        return float("nan")
    return float(np.sqrt(np.mean(fine[sel] ** 2) / max(np.mean(coarse[sel] ** 2), 1e-6)))
