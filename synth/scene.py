"""Lay out a synthetic survey's vector scene from its seed: everything placed up front.

Coordinates are *local* metres: x east from the raster's left edge, y north from
its bottom edge (see :mod:`poppyscan.synth.elements`). The scene depends only on
the seed, the ground extent and the layout options, never on the GSD or the
block size, so the same seed at 2 cm and at 8 cm shows the same fields.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from poppyscan.synth import layout, trees
from poppyscan.synth.elements import STAGES, Scene, Terrain, component_rng

__all__ = ["build_scene"]

WILD_DENSITY_PER_HA = 4.0  # shrub meadow, dead wood, rock, landslide and burn scars


def build_scene(
    seed: int,
    width_m: float,
    height_m: float,
    *,
    stages: Sequence[str] = STAGES,
    plot_density_per_ha: float = 3.0,
    distractor_density_per_ha: float = 6.0,
    roof_density_per_ha: float = 0.4,
    forest_cover: float | None = None,
) -> Scene:
    """Lay out a whole survey from ``seed``: cheap, vector only, no pixels."""

    rng = component_rng(seed, 0)
    if forest_cover is None:
        forest_cover = float(rng.uniform(0.35, 0.6))
    dryness = float(rng.uniform(0.2, 0.75))
    footprint, flight_angle = layout.make_footprint(component_rng(seed, 1), width_m, height_m)
    clearings = layout.make_clearings(component_rng(seed, 2), footprint, forest_cover)
    terrain = Terrain(
        seed=int(rng.integers(2**31)),
        relief_m=float(rng.uniform(8, 25)),
        tilt=tuple(float(v) for v in rng.normal(0.0, 0.3, 2)),
        terrace_step_m=float(rng.uniform(1.2, 2.2)),
    )
    terraces = layout.pick_terraces(component_rng(seed, 3), clearings)
    lines = layout.make_lines(component_rng(seed, 4), width_m, height_m, clearings)
    occupied = layout.Occupancy(lines.polygons())
    area_ha = footprint.area / 1e4
    fields = layout.place_plots(component_rng(seed, 5), footprint, clearings, occupied,
                                count=_count(rng, plot_density_per_ha * area_ha), stages=stages)
    roofs = layout.place_roofs(component_rng(seed, 8), footprint, clearings, lines, occupied,
                               count=_count(rng, roof_density_per_ha * area_ha))
    fields += layout.place_distractors(component_rng(seed, 6), footprint, clearings, occupied,
                                       count=_count(rng, distractor_density_per_ha * area_ha))
    fields += layout.place_background(component_rng(seed, 7), footprint, clearings, occupied,
                                      count=_count(rng, 5.0 * area_ha))
    wild = component_rng(seed, 10)
    fields += layout.place_wild_ground(wild, footprint, clearings, occupied,
                                       count=_count(wild, WILD_DENSITY_PER_HA * area_ha))
    crowns = trees.make_crowns(component_rng(seed, 9), width_m, height_m, clearings, fields,
                               lines, roofs)
    return Scene(seed, width_m, height_m, flight_angle, footprint, clearings, terraces, terrain,
                 fields, lines, roofs, crowns, dryness)


def _count(rng: np.random.Generator, expected: float) -> int:
    """Round ``expected`` up or down at random so small surveys still get their share."""
    base = int(np.floor(expected))
    return base + int(rng.random() < expected - base)
