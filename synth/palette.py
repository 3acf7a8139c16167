"""Reflectance-like colours (sRGB, 0..1) of everything the generator paints.

Chosen from drone orthomosaics of upland farmland: the point of the palette is
the *relations* (glaucous poppy is bluer and paler than grass; cabbage and
garlic are as glaucous as poppy; canopy is darker than crops), not exact values.
"""

from __future__ import annotations

import numpy as np

__all__ = ["rgb", "mix", "C", "CANOPY", "PETALS", "PETAL_BLOTCH", "FLOWERS"]


def rgb(r: int, g: int, b: int) -> np.ndarray:
    return np.array([r, g, b], np.float32) / np.float32(255.0)


def mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``a`` where ``t`` is 0, ``b`` where it is 1; colours ``(3,)`` or ``(..., 3)``, ``t`` ``(...)``."""
    t = np.asarray(t, np.float32)
    if np.ndim(a) == 1 and np.ndim(b) == 1:  # two plain colours: one pass fewer
        out = np.multiply.outer(t, np.subtract(b, a, dtype=np.float32))
    else:
        out = np.empty(np.broadcast_shapes(np.shape(a), np.shape(b), t.shape + (1,)), np.float32)
        np.subtract(b, a, out=out)
        out *= t[..., None]
    out += a
    return out


C = {
    # soils
    "soil_red": rgb(150, 104, 78), "soil_brown": rgb(128, 103, 80), "soil_pale": rgb(176, 156, 128),
    "soil_wet": rgb(96, 78, 62), "soil_tilled": rgb(122, 95, 74), "litter": rgb(82, 70, 52),
    "ash": rgb(70, 66, 62), "char": rgb(28, 26, 25),
    # grasses and weeds
    "grass": rgb(104, 120, 70), "grass_lush": rgb(86, 116, 60), "grass_dry": rgb(160, 148, 104),
    "straw": rgb(184, 168, 118), "weed": rgb(86, 128, 56), "understory": rgb(52, 76, 40),
    # poppy
    "glaucous": rgb(128, 150, 134), "glaucous_light": rgb(164, 180, 166),
    "glaucous_dark": rgb(92, 110, 98), "poppy_yellowing": rgb(168, 168, 104),
    "capsule": rgb(182, 194, 162), "capsule_scored": rgb(128, 104, 78),
    # crops
    "cabbage": rgb(126, 160, 142), "cabbage_head": rgb(176, 198, 160), "mustard": rgb(96, 146, 58),
    "lettuce": rgb(150, 190, 92), "garlic": rgb(98, 140, 124), "maize": rgb(84, 124, 48),
    "maize_tassel": rgb(186, 160, 102), "tea": rgb(52, 88, 38), "tea_flush": rgb(126, 162, 66),
    "banana": rgb(108, 142, 58), "banana_dead": rgb(146, 118, 74), "shrub": rgb(66, 102, 48),
    # water, roads, roofs
    "water": rgb(58, 72, 64), "water_sky": rgb(120, 138, 146), "foam": rgb(210, 214, 208),
    "rock": rgb(142, 138, 128), "road": rgb(168, 144, 112), "rut": rgb(118, 98, 78),
    "metal": rgb(176, 178, 174), "rust": rgb(150, 96, 66), "thatch": rgb(156, 132, 88),
    "tarp": rgb(46, 92, 168),
    # uncultivated ground: sagebrush, dead wood, rock, landslide and burn scars
    "sage": rgb(124, 136, 114), "sage_light": rgb(166, 172, 150), "deadwood": rgb(168, 160, 146),
    "deadwood_dark": rgb(104, 94, 80), "rock_light": rgb(190, 186, 176), "crack": rgb(56, 52, 48),
    "lichen": rgb(156, 152, 112), "scar": rgb(178, 148, 112), "scorched": rgb(92, 78, 60),
    "ash_white": rgb(196, 194, 188),
    # shadows: skylight is bluish
    "shade": rgb(92, 104, 128), "haze": rgb(196, 204, 214),
}

# Tree crown tones: evergreen broadleaf, pine, bamboo, new flush, dry season.
CANOPY = np.stack([
    rgb(62, 98, 46), rgb(80, 118, 56), rgb(104, 134, 60), rgb(86, 104, 58),
    rgb(62, 94, 62), rgb(110, 140, 76), rgb(96, 104, 66), rgb(80, 98, 70),
])

# Opium poppy petals: white, pink, red, purple (mauve); the dark basal blotch is separate.
PETALS = {
    "white": rgb(236, 232, 226), "pink": rgb(226, 140, 172), "red": rgb(196, 36, 44),
    "purple": rgb(150, 82, 150),
}
PETAL_BLOTCH = rgb(62, 30, 52)

# Ornamental and wild flowers (distractors).
FLOWERS = {
    "magenta": rgb(200, 40, 140), "pink": rgb(232, 150, 180), "white": rgb(236, 236, 228),
    "yellow": rgb(236, 204, 48), "orange": rgb(232, 128, 40), "purple": rgb(128, 84, 170),
    "red": rgb(200, 48, 40),
}
