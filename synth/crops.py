"""Painters for fields: poppy at its three stages, and the crops that look like it.

Each painter fills ``rgb`` (float32 sRGB) inside ``mask`` and sets ``height``
(metres, for cast shadows). Sizes are in ground metres; at coarse GSDs plants
turn into the texture and mean colour a camera would record (see
``block.cover``/``block.detail``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from poppyscan.synth.block import Block, cover, lod, ragged_mask
from poppyscan.synth.elements import Field
from poppyscan.synth.ground import grass, soil
from poppyscan.synth.palette import FLOWERS, PETAL_BLOTCH, PETALS, C, mix
from poppyscan.synth.plants import disc_plants, nearest_cells, plant_cells, rotated, star_plants
from poppyscan.synth.wildground import WILD_PAINTERS

__all__ = ["PAINTERS", "paint_field"]

F = np.float32
_PETAL_LIST = np.stack([PETALS[k] for k in ("white", "pink", "red", "purple")])


def _shade(t: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Brightness factor from ``lo`` (t=1, plant edge) to ``hi`` (t=0, top)."""
    return (F(hi) - F(hi - lo) * t)[..., None]


def _dots(blk: Block, angle: float, spacing_m: float, r_m: float, p: float, seed: int):
    """Small round things (petals, capsules): ``(coverage, norm. distance, per-dot random)``."""
    cells, _ = nearest_cells(blk, spacing_m, spacing_m, seed, angle_rad=angle + 0.7, jitter=1.0)
    cov, t, rnd = disc_plants(blk, cells, r_m, spread=0.4, fill_room=99.0)
    return cov * (cells.rand(5) < F(p)), t, rnd


def _poppy_grid(f: Field) -> tuple[float, float, float]:
    a = f.attrs
    if a["planting"] == "rows":
        return a["plant_m"], a["row_m"], 0.25
    return a["plant_m"], a["plant_m"], 0.9


def paint_poppy(blk: Block, f: Field, rgb, mask, height) -> None:
    """Opium poppy: glaucous rosettes on soil, or a bolted canopy with petals or capsules."""
    a, seed, angle = f.attrs, f.seed, f.angle_rad
    du, dv, jit = _poppy_grid(f)
    vig = a["vigour"]
    ground = soil(blk, seed + 1, moist=0.4)
    if a.get("soil_rgb") is not None:  # sown into real ground: its colour, the generator's texture
        ground = ground * (np.asarray(a["soil_rgb"], F) / C["soil_tilled"])
    if a["stage"] == "rosette":
        # Young rosettes, 10-20 cm across, glaucous, on tilled soil.
        cells, _ = nearest_cells(blk, du, dv, seed, angle_rad=angle, jitter=jit)
        cov, t, rnd = disc_plants(blk, cells, 0.05 + 0.05 * vig, missing=0.12, lobes=7,
                                  fill_room=99.0)
        leaf = mix(C["glaucous"], C["glaucous_light"], (F(1) - t) * F(0.6) + rnd * F(0.2))
        leaf = leaf * _shade(t, 0.8, 1.05)
        col = mix(ground, leaf, cov)
        weeds = np.clip((blk.noise(0.6, seed + 2) - F(0.78)) * F(4), 0, 1) * F(0.5)
        col = mix(col, C["weed"], weeds * (F(1) - cov))
        h = 0.1
    else:
        # Bolted plants, 0.6-1.2 m: overlapping glaucous foliage, shaded soil in the gaps.
        capsule = a["stage"] == "capsule"
        near, second = nearest_cells(blk, du, dv, seed, angle_rad=angle, jitter=jit)
        r = max(du, dv) * (0.5 if capsule else 0.62) * (0.85 + 0.3 * vig)
        cov, t, rnd = disc_plants(blk, near, r, spread=0.3, fill_room=99.0)
        cov = cov * (near.rand(6) > F(0.015))  # gaps where plants failed
        crease = np.exp(-(second - near.d) / F(0.015))  # leaves of neighbours overlap here
        leaf = mix(C["glaucous_dark"], C["glaucous_light"], (F(1) - t) * F(0.3) + rnd * F(0.35))
        texture = blk.detail(0.05, seed + 3, 2) * F(1.0) + blk.detail(0.2, seed + 6) * F(0.5)
        leaf = leaf * (_shade(t, 0.85, 1.02)[..., 0] * (F(1) - F(0.12) * crease) * (F(1) + texture))[..., None]
        if capsule:  # senescing leaves yellow in patches
            yellow = np.clip(blk.noise(1.5, seed + 4) * F(0.7) + F(0.15 + 0.3 * vig), 0, 1)
            leaf = mix(leaf, C["poppy_yellowing"] * (F(1) + texture)[..., None], yellow)
        col = mix(mix(ground, C["glaucous_dark"], F(0.3)) * F(0.55), leaf, cov)  # shaded, leaf litter
        if capsule:
            dots, t, rnd = _dots(blk, angle, 0.6 * du, 0.012 + 0.006 * vig, 0.8, seed + 5)
            cap = mix(C["capsule"], C["capsule_scored"], (rnd > F(0.7)) * F(0.45))
            col = mix(col, cap * _shade(t, 0.8, 1.1), dots)
        else:
            dots, t, rnd = _dots(blk, angle, 0.7 * du, 0.03 + 0.02 * vig, 0.35 + 0.3 * vig, seed + 5)
            col = mix(col, _petal_colours(a["petal_color"], rnd, t, blk), dots)
        h = 1.0
    col = _intercrop(blk, f, col, seed + 9)
    rgb[mask] = col[mask]
    height[mask] = h


def _petal_colours(name: str, rnd: np.ndarray, t: np.ndarray, blk: Block) -> np.ndarray:
    if name == "mixed":
        col = _PETAL_LIST[np.minimum((rnd * F(4)).astype(np.intp), 3)]
    else:
        col = np.broadcast_to(PETALS[name], rnd.shape + (3,))
    col = col * _shade(t, 0.85, 1.05)
    # The dark basal blotch shows only where a petal spans several pixels.
    blotch = (t < F(0.3)) * F(lod(0.02, blk.gsd_m))
    return mix(col, PETAL_BLOTCH, blotch * F(0.8))


def _intercrop(blk: Block, f: Field, col: np.ndarray, seed: int) -> np.ndarray:
    """Poppy sown with another crop: every third row, or scattered plants when broadcast."""
    crop = f.attrs.get("intercrop")
    if not crop:
        return col
    rows = f.attrs["planting"] == "rows"
    dv = f.attrs["row_m"] * 3 if rows else 0.9
    cells = plant_cells(blk, f.angle_rad, 0.3 if crop == "maize" else 0.45, dv, seed, jitter=0.3 if rows else 0.8)
    if crop == "maize":
        cov, along, _, _ = star_plants(blk, cells, 0.35, 0.07, 8)
        plant = C["maize"] * (F(0.8) + F(0.35) * along)[..., None]
    else:
        r = 0.2 if crop == "cabbage" else 0.13
        cov, t, rnd = disc_plants(blk, cells, r, fill_room=0.9)
        a, b = (C["cabbage"], C["cabbage_head"]) if crop == "cabbage" else (C["mustard"], C["lettuce"])
        plant = mix(a, b, (F(1) - t) * F(0.5)) * _shade(t, 0.75, 1.05)
    return mix(col, plant, cov)


def paint_vegetable(blk: Block, f: Field, rgb, mask, height) -> None:
    """Beds with furrows; cabbage and garlic are as glaucous as poppy."""
    a, seed = f.attrs, f.seed
    u, v = rotated(blk, f.angle_rad)
    bed = F(a["bed_m"])
    frac = v / bed - np.floor(v / bed)
    furrow = np.clip((frac - F(1 - 0.3 / a["bed_m"])) * F(a["bed_m"] / 0.06), 0, 1)
    ground = soil(blk, seed, moist=0.5)
    variant = a["variant"]
    spec = {  # lines per bed, spacing along, radius, colours
        "cabbage": (2, 0.45, 0.2, C["cabbage"], C["cabbage_head"]),
        "mustard": (3, 0.25, 0.12, C["mustard"], C["lettuce"]),
        "lettuce": (3, 0.3, 0.12, C["lettuce"], C["lettuce"] * F(1.1)),
        "garlic": (6, 0.12, 0.06, C["garlic"], C["glaucous_dark"]),
    }[variant]
    n_lines, du, r, col_a, col_b = spec
    dv = a["bed_m"] / (n_lines + 1)  # the furrow takes about one line's width
    cells = plant_cells(blk, f.angle_rad, du, dv, seed + 1, jitter=0.2, stagger=True, uv=(u, v))
    cov, t, rnd = disc_plants(blk, cells, r, missing=0.06, lobes=0 if variant == "garlic" else 9)
    plant = mix(col_a, col_b, (F(1) - t) * F(0.7 if variant == "cabbage" else 0.3) + rnd * F(0.15))
    plant = plant * _shade(t, 0.75, 1.05) * (F(1) + blk.detail(0.04, seed + 2) * F(0.4))[..., None]
    if variant == "garlic":  # strap leaves: streaks along the line
        plant = plant * (F(1) + F(0.25) * np.sin(u * F(2 * np.pi / 0.03)) * F(lod(0.03, blk.gsd_m)))[..., None]
    col = mix(ground, plant, cov * (F(1) - furrow))
    col = mix(col, C["soil_wet"] * F(0.9), furrow * F(0.6))
    rgb[mask] = col[mask]
    height[mask] = 0.3


def paint_maize(blk: Block, f: Field, rgb, mask, height) -> None:
    """Maize rows 65-90 cm apart: strap leaves, shaded inter-rows, tassels when mature."""
    a, seed = f.attrs, f.seed
    variant = a["variant"]
    length = {"young": 0.22, "tall": 0.42, "tasselled": 0.45}[variant]
    u, v = rotated(blk, f.angle_rad)
    ground = soil(blk, seed, moist=0.2) * F(0.8 if variant == "young" else 0.45)
    col = ground
    cov_all = np.zeros(blk.shape, F)
    for off in ((0, 0), (1, 0)):  # leaves reach into the next plant's cell along the row
        cells = plant_cells(blk, f.angle_rad, 0.25, a["row_m"], seed + 1, jitter=0.3, offset=off,
                            uv=(u, v))
        cov, along, _, _ = star_plants(blk, cells, length, 0.08, 9)
        leaf = mix(C["maize"], C["grass_lush"], cells.rand(3) * F(0.5))
        leaf = leaf * (F(1.15) - F(0.35) * along)[..., None]
        col = mix(col, leaf, cov * (F(1) - cov_all * F(0.5)))
        cov_all = np.maximum(cov_all, cov)
        if variant == "tasselled" and off == (0, 0):
            tassel = cover(cells.d, F(0.05), blk.gsd_m)
            col = mix(col, C["maize_tassel"], tassel)
    col = col * (F(1) + blk.detail(0.05, seed + 4) * F(0.3))[..., None]
    rgb[mask] = col[mask]
    height[mask] = {"young": 0.4, "tall": 2.0, "tasselled": 2.3}[variant]


def paint_tea(blk: Block, f: Field, rgb, mask, height) -> None:
    """Clipped tea hedges along gently curving rows, dark glossy green, bright new flush."""
    a, seed = f.attrs, f.seed
    u, v = rotated(blk, f.angle_rad)
    row = F(a["row_m"])
    v = v + F(1.2) * (blk.noise(12.0, seed) - F(0.5)) * row  # rows follow the contour
    frac = v / row - np.floor(v / row) - F(0.5)  # -0.5..0.5 across a hedge and its gap
    half = F(0.37)
    cov = np.clip((half - np.abs(frac)) * row / F(blk.gsd_m) + F(0.5), 0, 1)
    dome = np.clip(frac / half, -1, 1)
    lit = F(0.85) + F(0.3) * dome * F(np.sign(np.cos(f.angle_rad)) or 1.0)
    leaves = blk.detail(0.04, seed + 1, 2) * F(1.2) + blk.detail(0.3, seed + 2) * F(0.4)
    flush = np.clip((blk.noise(0.12, seed + 3) - F(0.7)) * F(3), 0, 1) * F(lod(0.12, blk.gsd_m) * 0.7 + 0.3)
    hedge = mix(C["tea"], C["tea_flush"], flush * F(0.8)) * (lit * (F(1) + leaves))[..., None]
    col = mix(soil(blk, seed + 4) * F(0.4), hedge, cov)
    rgb[mask] = col[mask]
    height[mask] = 1.0


def paint_banana(blk: Block, f: Field, rgb, mask, height) -> None:
    """Banana stools ~3 m apart: huge paddle leaves with midribs, torn and dead leaves."""
    a, seed = f.attrs, f.seed
    sp = a["spacing_m"]
    u, v = rotated(blk, f.angle_rad)
    col = grass(blk, seed, dry=0.2) * F(0.5)
    best = np.full(blk.shape, -1.0, F)
    for off in ((0, 0), (1, 0), (0, 1), (1, 1)):
        cells = plant_cells(blk, f.angle_rad, sp, sp, seed + 1, jitter=0.3, offset=off, uv=(u, v))
        cov, along, across, rnd = star_plants(blk, cells, 0.62 * sp, 0.65, 7)
        z = cells.rand(6)  # taller stools overlap shorter ones
        top = (cov > F(0.5)) & (z > best)
        dead = (rnd < F(0.18)) * F(1.0)  # old leaves hang brown
        leaf = mix(mix(C["banana"], C["grass_lush"], rnd * F(0.6)), C["banana_dead"], dead)
        # Leaves tear between their veins, and their two halves tilt differently to the sun.
        torn = F(1) - F(0.4) * (blk.noise(0.06, seed + 2) > F(0.78)) * F(lod(0.06, blk.gsd_m))
        midrib = (np.abs(across) < F(0.07)) * F(0.2 * lod(0.04, blk.gsd_m))
        side = F(1) + F(0.12) * np.sign(across)
        leaf = leaf * ((F(0.75) + F(0.4) * (F(1) - along)) * torn * side + midrib)[..., None]
        col = np.where(top[..., None], mix(col, leaf, cov), col)
        best = np.where(top, z, best)
    rgb[mask] = col[mask]
    height[mask] = 3.5


def paint_flowering_shrub(blk: Block, f: Field, rgb, mask, height) -> None:
    """Bougainvillea, lantana and the like: bushy clumps smothered in colour."""
    seed = f.seed
    mask = ragged_mask(blk, mask.astype(np.uint8), seed, reach_m=0.3)
    near, second = nearest_cells(blk, 0.6, 0.6, seed, jitter=1.0)
    cov, t, rnd = disc_plants(blk, near, 0.42, fill_room=99.0)
    crease = np.exp(-(second - near.d) / F(0.03))
    bush = C["shrub"] * (_shade(t, 0.6, 1.1)[..., 0] * (F(1) - F(0.4) * crease)
                         * (F(1) + blk.detail(0.05, seed + 1, 2)))[..., None]
    col = mix(C["shrub"] * F(0.4), bush, cov)
    bloom = np.clip(blk.noise(0.8, seed + 3) * F(1.5), 0, 1)  # flowers come in masses
    dots, t2, rnd2 = _dots(blk, f.angle_rad, 0.09, 0.04, 0.85, seed + 2)
    flower = FLOWERS[f.attrs["variant"]] * (F(0.8) + F(0.3) * rnd2)[..., None]
    col = mix(col, flower, dots * cov * bloom)
    rgb[mask] = col[mask]
    height[mask] = 1.8


def paint_wildflower(blk: Block, f: Field, rgb, mask, height) -> None:
    """A meadow of small flowers in one to three colours."""
    a, seed = f.attrs, f.seed
    mask = ragged_mask(blk, mask.astype(np.uint8), seed, reach_m=0.4)
    col = grass(blk, seed, dry=0.1)
    colours = np.stack([FLOWERS[c] for c in a["variant"].split("+")])
    patchy = np.clip(blk.noise(3.0, seed + 1) * F(1.5) - F(0.1), 0, 1)
    dots, t, rnd = _dots(blk, f.angle_rad, 0.05, 0.022, a["density"], seed + 2)
    pick = colours[np.minimum((rnd * F(len(colours))).astype(np.intp), len(colours) - 1)]
    col = mix(col, pick * _shade(t, 0.85, 1.05), dots * patchy)
    rgb[mask] = col[mask]
    height[mask] = 0.4


def paint_fallow(blk: Block, f: Field, rgb, mask, height) -> None:
    """Ploughed or hoed soil with furrows and sparse weeds."""
    u, v = rotated(blk, f.angle_rad)
    row = F(f.attrs["row_m"])
    ridge = np.cos(v * F(2 * np.pi) / row) * F(lod(float(row) / 2, blk.gsd_m))
    col = soil(blk, f.seed, moist=0.2) * (F(1) + F(0.12) * ridge)[..., None]
    weeds = np.clip((blk.noise(0.5, f.seed + 1) - F(0.75)) * F(4), 0, 1)
    rgb[mask] = mix(col, C["weed"], weeds * F(0.6))[mask]
    height[mask] = 0.0


def paint_pasture(blk: Block, f: Field, rgb, mask, height) -> None:
    """Grazed grass, drier than the surrounding sward."""
    rgb[mask] = grass(blk, f.seed, dry=0.45)[mask]
    height[mask] = 0.2


def paint_burnt(blk: Block, f: Field, rgb, mask, height) -> None:
    """A burnt swidden: ash, charcoal, charred logs, unburnt tufts."""
    mask = ragged_mask(blk, mask.astype(np.uint8), f.seed, reach_m=0.6)
    ash = mix(C["ash"], C["char"], blk.fbm(1.0, f.seed, 3) * F(1.2))
    u, v = rotated(blk, f.angle_rad + 0.4)
    logs = (np.abs(np.sin(v * F(0.9)) ) < F(0.04)) * (blk.noise(2.0, f.seed + 1) > F(0.65))
    col = mix(ash, C["char"], logs * F(0.9))
    col = mix(col, C["soil_pale"], np.clip((blk.noise(2.5, f.seed + 2) - F(0.7)) * F(3), 0, 1) * F(0.6))
    rgb[mask] = col[mask]
    height[mask] = 0.0


def paint_stubble(blk: Block, f: Field, rgb, mask, height) -> None:
    """Harvested rice or maize: straw tufts in rows on dry soil."""
    u, v = rotated(blk, f.angle_rad)
    cells = plant_cells(blk, f.angle_rad, 0.22, f.attrs["row_m"], f.seed, jitter=0.2, uv=(u, v))
    cov, t, rnd = disc_plants(blk, cells, 0.06)
    col = mix(soil(blk, f.seed + 1, moist=0.0, tone="soil_pale"), C["straw"] * (F(0.85) + F(0.3) * rnd)[..., None], cov)
    rgb[mask] = col[mask]
    height[mask] = 0.1


PAINTERS: dict[str, Callable] = {
    "poppy": paint_poppy, "vegetable": paint_vegetable, "maize": paint_maize, "tea": paint_tea,
    "banana": paint_banana, "flowering_shrub": paint_flowering_shrub,
    "wildflower": paint_wildflower, "fallow": paint_fallow, "pasture": paint_pasture,
    "burnt": paint_burnt, "stubble": paint_stubble, **WILD_PAINTERS,
}


def paint_field(blk: Block, f: Field, rgb, mask, height) -> None:
    """Paint ``f`` into the block-relative views ``rgb``/``height`` where ``mask``."""
    PAINTERS[f.kind](blk, f, rgb, mask.astype(bool), height)
