"""Painters for uncultivated ground that real imagery shows and poppy models confuse.

Sagebrush or shrub meadow (grey-green rounded clumps, as glaucous as a poppy
rosette), fallen and dead wood, bare rock outcrops, landslide scars and burn
scars. Each fills ``rgb`` inside ``mask`` and sets ``height`` (see
:mod:`poppyscan.synth.crops`); sizes are ground metres, so each keeps its look
at every GSD.
"""

from __future__ import annotations

import numpy as np
import shapely

from poppyscan.synth.block import Block, cover, lod, ragged_mask
from poppyscan.synth.elements import Field
from poppyscan.synth.ground import disc_edge, grass, soil
from poppyscan.synth.palette import C, mix
from poppyscan.synth.plants import disc_plants, nearest_cells, plant_cells, rotated

__all__ = ["WILD_PAINTERS"]

F = np.float32


def paint_shrub_meadow(blk: Block, f: Field, rgb, mask, height) -> None:
    """Sagebrush steppe: grey-green clumps, each with a shaded rim, on dry grass and bare soil."""
    a, seed = f.attrs, f.seed
    mask = ragged_mask(blk, mask.astype(np.uint8), seed, reach_m=0.8)
    bare = np.clip(blk.noise(2.0, seed + 2) * F(1.4) - F(0.3), 0, 1) * F(0.6)
    base = mix(grass(blk, seed, dry=0.85), soil(blk, seed + 1, moist=0.0, tone="soil_pale"), bare)
    spacing, clump = a["spacing_m"], a["clump_m"]
    near, second = nearest_cells(blk, spacing, spacing, seed + 3, jitter=1.0)
    cov, t, rnd = disc_plants(blk, near, clump, spread=0.6, missing=a["gaps"], lobes=5,
                              fill_room=99.0)
    # Twigs and gaps: a clump is ragged, not a disc, where the pixels can show it.
    twigs = np.clip((blk.noise(0.12, seed + 6) - F(0.2)) * F(3), 0, 1)
    cov = cov * (F(1) - F(lod(0.12, blk.gsd_m)) * (F(1) - twigs)) * (F(0.75) + F(0.25) * twigs)
    grown, _, _ = disc_plants(blk, near, 1.3 * clump, spread=0.6, missing=a["gaps"],
                              fill_room=99.0)  # the same clumps, 30 % wider: their shaded rim
    rim = np.clip(grown - cov, 0, 1)
    crease = np.exp(-(second - near.d) / F(0.04))
    texture = blk.detail(0.06, seed + 4, 2) * F(0.8) + blk.detail(0.2, seed + 5) * F(0.4)
    light = (F(1.08) - F(0.35) * t) * (F(1) - F(0.2) * crease) * (F(1) + texture)
    sage = mix(C["sage"], C["sage_light"], rnd * F(0.6) + (F(1) - t) * F(0.25)) * light[..., None]
    col = mix(base * (F(1) - F(0.35) * rim)[..., None], sage, cov)
    rgb[mask] = col[mask]
    height[mask] = 0.6


def paint_dead_wood(blk: Block, f: Field, rgb, mask, height) -> None:
    """Fallen trunks and branches, silver-grey and weathered, each with a shadow beside it."""
    a, seed = f.attrs, f.seed
    mask = ragged_mask(blk, mask.astype(np.uint8), seed, reach_m=0.5)
    col = mix(grass(blk, seed, dry=0.6), C["litter"], np.clip(blk.noise(1.5, seed + 1), 0, 1) * F(0.5))
    for k, (du, dv, length, radius, p) in enumerate((
            (6.0, a["spacing_m"], 5.0, a["log_r_m"], 0.7),  # trunks
            (2.4, 1.3, 2.0, 0.05, 0.5))):  # branches
        cells = plant_cells(blk, f.angle_rad, du, dv, seed + 10 * k, jitter=0.5)
        turn = (cells.rand(1) - F(0.5)) * F(0.5)  # each log lies a little askew
        c, s = np.cos(turn), np.sin(turn)
        along = cells.pu * c + cells.pv * s
        across = cells.pv * c - cells.pu * s
        half = F(length / 2) * (F(0.5) + F(0.5) * cells.rand(2))
        r = F(radius) * (F(0.6) + F(0.8) * cells.rand(3))
        there = (cells.rand(4) < F(p)) & (np.abs(along) < np.minimum(half, F(du / 2)))
        r = r * (F(1) - F(0.5) * np.clip(np.abs(along) / half, 0, 1))  # logs taper
        log = cover(np.abs(across), r, blk.gsd_m) * there
        shadow = cover(np.abs(across - F(1.1) * r), r, blk.gsd_m) * there * (F(1) - log)
        wood = mix(C["deadwood"], C["deadwood_dark"], cells.rand(5) * F(0.6))
        lit = F(1.1) - F(0.3) * np.clip(across / np.maximum(r, F(1e-3)), -1, 1)
        grain = F(1) + blk.detail(0.03, seed + 20 + k, 1) * F(0.6 * lod(0.03, blk.gsd_m))
        col = mix(col * (F(1) - F(0.4) * shadow)[..., None], wood * (lit * grain)[..., None], log)
    rgb[mask] = col[mask]
    height[mask] = 0.2


def paint_rock(blk: Block, f: Field, rgb, mask, height) -> None:
    """Bare rock outcrop: pale slabs split by dark joints, lichen, loose boulders."""
    seed = f.seed
    mask = ragged_mask(blk, mask.astype(np.uint8), seed, reach_m=0.5)
    slab = mix(C["rock"], C["rock_light"], np.clip(blk.fbm(3.0, seed, 3) * F(1.2), 0, 1))
    slab = slab * (F(1) + blk.detail(0.3, seed + 1) * F(0.35) + blk.detail(0.05, seed + 2, 2) * F(0.3))[..., None]
    near, second = nearest_cells(blk, 2.2, 2.2, seed + 3, jitter=1.0)
    broken = np.clip((blk.noise(0.7, seed + 6) - F(0.35)) * F(3), 0, 1)  # joints come and go
    joint = np.exp(-(second - near.d) / F(max(0.03, blk.gsd_m))) * broken * F(0.45)
    col = mix(slab * (F(0.92) + F(0.16) * near.rand(1))[..., None], C["crack"], joint)
    lichen = np.clip((blk.noise(0.4, seed + 4) - F(0.68)) * F(4), 0, 1)
    col = mix(col, C["lichen"], lichen * F(0.5))
    stones, _ = nearest_cells(blk, 2.5, 2.5, seed + 5, jitter=1.0)
    r = F(0.3) + F(0.6) * stones.rand(1)
    boulder = disc_edge(stones, r, blk.gsd_m) * (stones.rand(2) < F(0.3))
    lit = F(1.0) - F(0.35) * np.clip((stones.pu + stones.pv) / (r * F(1.4)), -1, 1)
    col = mix(col, C["rock_light"] * (lit * (F(0.85) + F(0.3) * stones.rand(3)))[..., None], boulder)
    rgb[mask] = col[mask]
    height[mask] = 0.5


def paint_landslide(blk: Block, f: Field, rgb, mask, height) -> None:
    """A landslide scar: raw soil and rubble streaked down the fall line, a shaded head scarp."""
    seed = f.seed
    mask = ragged_mask(blk, mask.astype(np.uint8), seed, reach_m=0.6)
    u, v = rotated(blk, f.angle_rad)  # u runs downhill
    streak = np.sin(v * F(2 * np.pi / 1.4) + blk.noise(3.0, seed) * F(9)) * F(lod(0.3, blk.gsd_m))
    streak = streak * blk.noise(1.5, seed + 4)  # the fall line shows in places, not as stripes
    col = mix(C["scar"], C["soil_red"], blk.noise(6.0, seed + 1) * F(0.6))
    col = col * (F(1) + F(0.12) * streak + blk.detail(0.05, seed + 2, 2) * F(0.45))[..., None]
    stones, _ = nearest_cells(blk, 0.6, 0.6, seed + 3, jitter=1.0)
    r = F(0.06) + F(0.16) * stones.rand(1)
    rubble = disc_edge(stones, r, blk.gsd_m) * (stones.rand(2) < F(0.45))
    col = mix(col, mix(C["rock"], C["soil_wet"], stones.rand(3)), rubble)
    top = float(np.max(shapely.get_coordinates(f.geom) @ [np.cos(f.angle_rad), np.sin(f.angle_rad)]))
    head = np.clip(F(1) - (F(top) - u) / F(1.5), 0, 1)
    col = col * (F(1) - F(0.45) * head)[..., None]
    rgb[mask] = col[mask]
    height[mask] = 0.0


def paint_burn_scar(blk: Block, f: Field, rgb, mask, height) -> None:
    """A grass or forest fire scar: black char and white ash in patches, scorched grass, tufts."""
    seed = f.seed
    mask = ragged_mask(blk, mask.astype(np.uint8), seed, reach_m=1.0)
    char = np.clip(blk.fbm(4.0, seed, 3) * F(1.8) - F(0.3), 0, 1)
    col = mix(C["scorched"], C["char"], char)
    ash = np.clip((blk.noise(1.2, seed + 1) - F(0.72)) * F(5), 0, 1) * char
    col = mix(col, C["ash_white"], ash * F(0.7))
    col = col * (F(1) + blk.detail(0.05, seed + 2, 2) * F(0.5))[..., None]
    tufts = np.clip((blk.noise(0.5, seed + 3) - F(0.8)) * F(5), 0, 1) * (F(1) - char)
    col = mix(col, grass(blk, seed + 4, dry=0.9), tufts)
    rgb[mask] = col[mask]
    height[mask] = 0.0


WILD_PAINTERS = {
    "shrub_meadow": paint_shrub_meadow, "dead_wood": paint_dead_wood, "rock": paint_rock,
    "landslide": paint_landslide, "burn_scar": paint_burn_scar,
}
