"""Ground that is not a field: soils, grass, forest floor, relief, terraces, roads, streams."""

from __future__ import annotations

import numpy as np

from poppyscan.synth.block import Block, cover, lod, ragged_mask
from poppyscan.synth.elements import Lines, Terrain
from poppyscan.synth.palette import C, mix
from poppyscan.synth.plants import nearest_cells

__all__ = ["soil", "grass", "base_ground", "relief", "terraces", "paint_line"]

F = np.float32


def soil(blk: Block, seed: int, *, moist: float = 0.3, tone: str = "soil_tilled") -> np.ndarray:
    """Bare soil: clods and stones where visible, moisture patches, a red-brown tint."""
    base = mix(C[tone], C["soil_red"], blk.noise(9.0, seed) * F(0.6))
    wet = np.clip(blk.fbm(2.5, seed + 1, 2) * F(1.6) - F(1.1) + F(moist), 0, 1)
    col = mix(base, C["soil_wet"], wet * F(0.7))
    clods = blk.detail(0.06, seed + 2, 2) + blk.detail(0.4, seed + 3) * F(0.5)
    return col * (F(1.0) + clods * F(0.45))[..., None]


def grass(blk: Block, seed: int, *, dry: float = 0.3) -> np.ndarray:
    """Grass sward: mottled tufts with shaded hollows, dry and lush patches at several scales."""
    dryness = np.clip(blk.fbm(14.0, seed, 2) * F(1.6) - F(0.8) + F(dry), 0, 1)
    col = mix(mix(C["grass_lush"], C["grass"], blk.noise(4.0, seed + 1)), C["grass_dry"], dryness)
    light = F(1.0) + (blk.fbm(1.5, seed + 5, 2) - F(0.5)) * F(0.5)
    light += blk.detail(0.15, seed + 2, 2) * F(0.6) + blk.detail(0.04, seed + 3) * F(0.7)
    w = lod(0.1, blk.gsd_m)
    if w > 0:  # hollows between tufts fall into shade
        hollow = np.clip((F(0.3) - blk.noise(0.1, seed + 4)) * F(5), 0, 1)
        light *= F(1) - F(0.3 * w) * hollow
    return col * light[..., None]


def base_ground(blk: Block, seed: int, open_mask: np.ndarray, dryness: float) -> np.ndarray:
    """Open ground (grass/soil mosaic) where ``open_mask``, forest floor elsewhere."""
    bare = np.clip((blk.fbm(7.0, seed + 10, 3) - F(0.58)) * F(6.0), 0, 1)
    bare_col = mix(C["soil_brown"], C["soil_pale"], blk.noise(5.0, seed + 30) * F(0.7))
    col = mix(grass(blk, seed + 20, dry=dryness), bare_col, bare)
    bare *= blk.detail(0.06, seed + 31, 2) * F(0.5)  # clods and stones where bare
    col *= (F(1) + bare)[..., None]
    forest = open_mask == 0
    if forest.any():  # forest floor: litter and understory, mostly hidden by crowns
        floor = mix(C["litter"], C["understory"], blk.noise(1.5, seed + 40))
        floor *= (F(1.0) + blk.detail(0.2, seed + 41, 2) * F(0.6))[..., None]
        col[forest] = floor[forest]
    return col


def _dem(blk: Block, terrain: Terrain) -> np.ndarray:
    relief = blk.fbm(140.0, terrain.seed, 3) * F(terrain.relief_m)
    relief += blk.fbm(30.0, terrain.seed + 1, 2) * F(0.25 * terrain.relief_m)  # spurs and gullies
    return relief + blk.X * F(terrain.tilt[0]) + blk.Y * F(terrain.tilt[1])


def relief(blk: Block, terrain: Terrain, sun: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hill shading factor (about 0.8-1.2) and the elevation model, metres."""
    dem = _dem(blk, terrain)
    gy, gx = np.gradient(dem, F(blk.gsd_m))
    gy = -gy  # rows run south
    lit = (-gx * F(sun[0]) - gy * F(sun[1]) + F(sun[2])) / np.sqrt(gx * gx + gy * gy + F(1.0))
    return F(1.0) + F(0.7) * (lit / F(sun[2]) - F(1.0)) * F(0.5), dem


def terraces(blk: Block, terrain: Terrain, dem: np.ndarray, sun: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Terrace risers along contours: ``(coverage, shade factor)`` of the riser lines."""
    g = F(blk.gsd_m)
    step = F(terrain.terrace_step_m)
    gy, gx = np.gradient(dem, g)
    slope = np.sqrt(gx * gx + gy * gy) + F(1e-3)
    t = dem / step
    dist_m = np.abs(t - np.round(t)) * step / slope
    riser_m = F(0.4) + F(0.4) * blk.noise(5.0, terrain.seed + 5)
    cov = np.clip((riser_m / F(2) - dist_m) / g + F(0.5), 0, 1)
    cov *= F(0.45) + F(0.4) * blk.noise(1.5, terrain.seed + 6)  # grass and slumps break the line
    # A riser faces downhill: lit when downhill points to the sun.
    faces = (gx * F(sun[0]) - gy * F(sun[1])) / slope
    return cov, F(0.75) + F(0.35) * np.clip(faces, -1, 1)


def disc_edge(cells, r_m: np.ndarray, gsd_m: float) -> np.ndarray:
    """Coverage of lumpy discs (stones): radius wobbles with direction."""
    ang = np.arctan2(cells.pv, cells.pu)
    lumpy = F(1) + F(0.18) * np.cos(F(3) * ang + F(6.283) * cells.rand(5))
    return cover(cells.d / lumpy, r_m, gsd_m)


def paint_line(blk: Block, lines: Lines, i: int, rgb: np.ndarray, mask: np.ndarray) -> None:
    """Paint piece ``i`` of a road, path or stream inside ``mask``."""
    x0, y0, x1, y1 = lines.seg[i]
    width = F(lines.width_m[i])
    seed = int(lines.seed[i])
    length = max(float(np.hypot(x1 - x0, y1 - y0)), 1e-6)
    tx, ty = F((x1 - x0) / length), F((y1 - y0) / length)
    across = (blk.X - F(x0)) * ty - (blk.Y - F(y0)) * tx  # signed offset from the axis, metres
    e = np.abs(across) / (width / F(2))  # 0 on the axis, 1 at the edge
    kind = int(lines.kind[i])
    mask = mask.astype(bool)
    if kind == 2:  # path: trodden soil, ragged edges
        mask = ragged_mask(blk, mask.astype(np.uint8), seed, reach_m=0.12)
        col = soil(blk, seed, moist=0.0, tone="soil_pale") * F(1.08)
        col = mix(col, grass(blk, seed + 1), np.clip(e - F(0.6), 0, 1) * F(1.5))
    elif kind == 1:  # road: ruts, a grassy crown on narrow tracks, soft verges
        col = mix(C["road"], C["soil_red"], blk.noise(12.0, seed) * F(0.5))
        col = col * (F(1.0) + blk.detail(0.05, seed + 1, 2) * F(0.4) + blk.detail(1.5, seed + 2) * F(0.3))[..., None]
        rut = np.exp(-(((np.abs(across) - F(0.8)) / F(0.22)) ** 2))
        col = mix(col, C["rut"], rut * F(0.45) * blk.noise(6.0, seed + 3))
        col = mix(col, grass(blk, seed + 4, dry=0.5), np.clip((e - F(0.8)) * F(5), 0, 1))
        puddle = np.clip((blk.noise(3.0, seed + 5) - F(0.86)) * F(20), 0, 1) * rut
        col = mix(col, C["water"] * F(1.3), puddle)
    else:  # stream: dark water, ripples catching the sky, rocks in the shallows
        depth = np.clip(F(1.0) - e, 0, 1)
        along = (blk.X - F(x0)) * tx + (blk.Y - F(y0)) * ty
        water = mix(C["water"], C["water_sky"], blk.fbm(1.5, seed, 2) * F(0.4) * depth)
        ripple = np.cos(along * F(2 * np.pi / 0.35) + blk.noise(0.5, seed + 1) * F(12))
        glint = np.clip((ripple - F(0.85)) * F(6), 0, 1) * (blk.noise(2.0, seed + 6) > F(0.55))
        water = mix(water, C["foam"], glint * F(0.45 * lod(0.1, blk.gsd_m)))
        near, _ = nearest_cells(blk, 0.8, 0.8, seed + 2, jitter=1.0)
        rock_r = F(0.12) + F(0.22) * near.rand(1)
        shallow = np.clip(e * F(1.3) - F(0.3), 0, 1)
        rocks = disc_edge(near, rock_r, blk.gsd_m) * (near.rand(2) < shallow * F(0.9))
        lit = F(1.0) - F(0.35) * np.clip((near.pu + near.pv) / (rock_r * F(1.4)), -1, 1)
        rock = mix(C["rock"], C["soil_pale"], near.rand(3) * F(0.5)) * (lit * (F(0.85) + F(0.3) * near.rand(4)))[..., None]
        col = mix(mix(water, C["soil_wet"], np.clip((e - F(0.8)) * F(5), 0, 1)), rock, rocks)
    rgb[mask] = col[mask] if col.ndim == 3 else col
