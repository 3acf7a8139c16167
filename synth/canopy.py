"""Tree crowns, roofs and the shadows they cast.

Crowns are lit as domes made of leaf clumps (the cauliflower look of broadleaf
canopy from above); shadows are the crowns' outlines projected along the sun,
drawn into a shadow-height map so a tall crown also shades a lower one.
"""

from __future__ import annotations

import cv2
import numpy as np
import shapely
from shapely import affinity

from poppyscan.synth.block import Block, lod
from poppyscan.synth.elements import Crowns, Roof
from poppyscan.synth.noise import rehash, unit
from poppyscan.synth.palette import CANOPY, C, mix
from poppyscan.synth.plants import nearest_cells, rotated
from poppyscan.synth.shapes import outline_xy

__all__ = ["sun_vector", "shadow_step", "crown_extent_boxes", "paint_crowns", "paint_roof",
           "roof_shadow", "paint_shadows"]

F = np.float32


def sun_vector(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """Unit vector towards the sun: east, north, up."""
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    return np.array([np.sin(az) * np.cos(el), np.cos(az) * np.cos(el), np.sin(el)], np.float64)


def shadow_step(sun: np.ndarray) -> np.ndarray:
    """Ground displacement (east, north) of a shadow per metre of height."""
    return -sun[:2] / sun[2]


def _shadow_geometry(crowns: Crowns, idx, sun: np.ndarray):
    step = shadow_step(sun)
    hc = np.maximum(crowns.h[idx] - 0.9 * crowns.r[idx], 0.5 * crowns.h[idx])
    return hc, crowns.x[idx] + step[0] * hc, crowns.y[idx] + step[1] * hc


def crown_extent_boxes(crowns: Crowns, sun: np.ndarray) -> tuple[np.ndarray, ...]:
    """Boxes ``x0, y0, x1, y1`` holding each crown and its shadow (what touches a block)."""
    hc, sx, sy = _shadow_geometry(crowns, slice(None), sun)
    pad = 1.3 * crowns.r / sun[2]
    return (np.minimum(crowns.x, sx) - pad, np.minimum(crowns.y, sy) - pad,
            np.maximum(crowns.x, sx) + pad, np.maximum(crowns.y, sy) + pad)


def paint_crowns(blk: Block, crowns: Crowns, idx: np.ndarray, rgb: np.ndarray,
                 height: np.ndarray, sun: np.ndarray) -> None:
    """Paint crowns ``idx`` (sorted low to high) as lit domes of leaf clumps."""
    if not len(idx):
        return
    ids = np.full(blk.shape, -1, np.int32)
    blk.fill_rings(crowns.outlines(idx), np.arange(len(idx)), ids)
    rr, cc = np.nonzero(ids >= 0)
    if not len(rr):
        return
    k = idx[ids[rr, cc]]
    x, y = blk.xs[cc].astype(F), blk.ys[rr].astype(F)
    r = crowns.r[k]
    dx, dy = (x - crowns.x[k]) / r, (y - crowns.y[k]) / r
    dd = dx * dx + dy * dy
    d2 = np.minimum(dd, F(0.97))
    nz = np.sqrt(F(1) - d2)
    nx, ny = dx * F(1.3), dy * F(1.3)
    crease = F(1.0)
    rim = None
    clump_m = 1.0
    w = F(0.9 * lod(clump_m, blk.gsd_m))
    if w > 0:
        # Leaf clumps: each crown its own clump size (species, age) and its own lattice.
        scale = F(0.6) + F(0.8) * unit(crowns.seed[k])
        shift = (crowns.seed[k] % 9973).astype(F)
        cells, d2nd = nearest_cells(blk, clump_m, clump_m, 1000, uv=(x / scale + shift, y / scale),
                                    jitter=1.0)
        bump = F(0.6 * clump_m)
        nx = nx + w * np.clip(cells.pu / bump, -1, 1)
        ny = ny + w * np.clip(cells.pv / bump, -1, 1)
        # Creases between clumps fall into shade, some deeply (gaps into the crown).
        deep = F(0.55) * unit(rehash(cells.h)) ** 2
        crease = F(1) - w * deep * np.exp(-(d2nd - cells.d) / F(0.06 * clump_m))
        rim = cells.d / bump
    norm = np.sqrt(nx * nx + ny * ny + nz * nz)
    lam = np.clip((nx * F(sun[0]) + ny * F(sun[1]) + nz * F(sun[2])) / norm, 0, 1)
    light = (F(0.18) + F(0.95) * lam) * crease / F(0.18 + 0.95 * sun[2])
    tone = CANOPY[crowns.tone[k]] * (F(0.88) + F(0.24) * ((crowns.seed[k] >> 8) % 256).astype(F) / F(255))[:, None]
    leaves = F(1) + (blk.detail(0.12, 77, 2) * F(0.9) + blk.detail(0.45, 78) * F(0.6))[rr, cc]
    holes = np.clip((F(0.22) - blk.noise(0.3, 79)[rr, cc]) * F(6), 0, 1) * F(lod(0.3, blk.gsd_m))
    leaves *= F(1) - F(0.6) * holes
    # The rim is scalloped by the clumps: gaps between them show what lies below.
    keep = dd < (F(1.12) - F(0.3) * np.minimum(rim, F(1.5))) ** 2 if rim is not None else slice(None)
    rr, cc, k = rr[keep], cc[keep], k[keep]
    rgb[rr, cc] = (tone * (light * leaves)[:, None])[keep]
    height[rr, cc] = (crowns.h[k] * (F(0.75) + F(0.25) * nz[keep]))


def paint_roof(blk: Block, roof: Roof, rgb: np.ndarray, mask: np.ndarray, height: np.ndarray,
               sun: np.ndarray) -> None:
    """A gabled roof of metal, rusty metal, thatch or tarpaulin, lit by the sun."""
    mask = mask.astype(bool)
    c = roof.geom.centroid
    u, v = rotated(blk, roof.angle_rad)
    cu, cv = _rotated_point(c.x, c.y, roof.angle_rad)
    u, v = u - F(cu), v - F(cv)
    side = np.where(v >= 0, F(1), F(-1))
    pitch = np.radians(18 if roof.material in ("metal", "rusty", "tarp") else 30)
    across = np.array([-np.sin(roof.angle_rad), np.cos(roof.angle_rad)])
    nx = side * F(across[0] * np.sin(pitch))
    ny = side * F(across[1] * np.sin(pitch))
    lam = np.clip(nx * F(sun[0]) + ny * F(sun[1]) + F(np.cos(pitch) * sun[2]), 0, 1)
    light = F(0.35) + F(0.75) * lam
    seed = roof.seed
    g = blk.gsd_m
    if roof.material in ("metal", "rusty"):
        ribs = np.cos(u * F(2 * np.pi / 0.076)) * F(0.12 * lod(0.038, g))
        # Rust runs down the slope from nail lines and overlaps: streaks across the ridge.
        streaks = blk.noise(0.6, seed) * F(0.6) + F(0.4) * (np.sin(u * F(9.0) + F(seed % 7)) * F(0.5) + F(0.5))
        rust = np.clip(streaks * F(2) - F(1.1 if roof.material == "metal" else 0.5), 0, 1)
        col = mix(C["metal"], C["rust"], rust) * (F(1) + ribs)[..., None]
        col = col * (F(1) + F(0.6) * (lam - F(0.7)) * (lam > F(0.7)))[..., None]  # specular sheen
    elif roof.material == "thatch":
        streak = blk.detail(0.05, seed, 2) * F(0.8) + np.sin(u * F(40)) * F(0.05 * lod(0.05, g))
        col = C["thatch"] * (F(1) + streak)[..., None]
    else:
        col = C["tarp"] * (F(1) + blk.detail(0.4, seed, 2) * F(0.6))[..., None]
    ridge = (np.abs(v) < F(0.1)) * F(0.15)
    col = col * (light + ridge)[..., None]
    rgb[mask] = col[mask]
    height[mask] = roof.height_m


def _rotated_point(x: float, y: float, angle_rad: float) -> tuple[float, float]:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return x * c + y * s, y * c - x * s


def roof_shadow(roof: Roof, sun: np.ndarray):
    """The ground shadow of a roof: its outline swept along the sun."""
    step = shadow_step(sun) * roof.height_m
    moved = affinity.translate(roof.geom, step[0], step[1])
    return shapely.convex_hull(shapely.union(roof.geom, moved))


def paint_shadows(blk: Block, crowns: Crowns, idx: np.ndarray, roof_shadows: list,
                  roof_heights: list, rgb: np.ndarray, height: np.ndarray, sun: np.ndarray,
                  strength: float) -> None:
    """Darken (towards bluish skylight) what lies below a shadow cast by a crown or roof."""
    cast = np.zeros(blk.shape, F)  # height of the shadow-casting object above each pixel
    for geom, h in zip(roof_shadows, roof_heights, strict=True):
        blk.fill(geom, float(h), cast)
    if len(idx):
        hc, sx, sy = _shadow_geometry(crowns, idx, sun)
        axis = float(np.arctan2(-sun[1], -sun[0]))
        rings = outline_xy(sx, sy, crowns.r[idx], crowns.amps[idx], crowns.phases[idx],
                           stretch=np.full(len(idx), 1.0 / sun[2]), axis_rad=axis)
        trunks = _trunk_quads(crowns.x[idx], crowns.y[idx], sx, sy, 0.12 + 0.03 * crowns.r[idx])
        blk.fill_rings(trunks, 0.6 * hc, cast)
        blk.fill_rings(rings, 0.7 * crowns.h[idx], cast)
    shadowed = (cast > height + F(0.15)).astype(np.uint8) * np.uint8(255)
    sigma = min(2.0, 0.06 / blk.gsd_m + 0.5)
    k = 2 * int(np.ceil(3 * sigma)) + 1
    soft = cv2.GaussianBlur(shadowed, (k, k), sigma).astype(F) / F(255)
    # Penumbra: the sun is 0.53 degrees wide, so a shadow cast from high up has a soft edge,
    # the wider the lower the sun (here for a 15 m caster, at most 3 px so the render halo holds).
    wide = min(3.0, 0.0093 * 15.0 / max(float(sun[2]), 0.1) / 2 / blk.gsd_m)
    if wide > sigma:
        k = 2 * int(np.ceil(3 * wide)) + 1
        far = cv2.GaussianBlur(shadowed, (k, k), wide).astype(F) / F(255)
        soft = F(0.5) * (soft + far)
    dapple = F(0.85) + F(0.3) * blk.noise(0.5, 911)
    s = soft * F(strength) * dapple
    lit = s > F(0.002)
    rgb[lit] *= mix(np.ones(3, F), C["shade"] / F(0.5) * F(0.45), np.minimum(s[lit], F(1)))


def _trunk_quads(x0, y0, x1, y1, half_w) -> np.ndarray:
    """Thin quadrilaterals from tree bases to their crowns' shadows."""
    dx, dy = x1 - x0, y1 - y0
    n = np.maximum(np.hypot(dx, dy), 1e-6)
    px, py = -dy / n * half_w, dx / n * half_w
    return np.stack([np.stack([x0 + px, y0 + py], -1), np.stack([x1 + px, y1 + py], -1),
                     np.stack([x1 - px, y1 - py], -1), np.stack([x0 - px, y0 - py], -1)], axis=1)
