"""Render one block of the survey: paint what intersects it, then apply the flight conditions.

Only features whose extent meets the block (found with STRtrees, or a grid
index for the many crowns) are touched.
The block is rendered with a halo (``halo_px``) so blurs and masks near its
edge see the same neighbourhood as in any other block; the halo is cropped
before the camera JPEG, which runs on 8x8 blocks aligned to the global grid.
"""

from __future__ import annotations

import numpy as np
import shapely

from poppyscan.synth.block import Block
from poppyscan.synth.boxindex import BoxIndex
from poppyscan.synth.canopy import (
    crown_extent_boxes,
    paint_crowns,
    paint_roof,
    paint_shadows,
    roof_shadow,
    sun_vector,
)
from poppyscan.synth.conditions import Conditions, jpeg_roundtrip, radiometry, sensor, to_u8
from poppyscan.synth.crops import paint_field
from poppyscan.synth.elements import LINE_KINDS, Scene
from poppyscan.synth.ground import base_ground, paint_line, relief, terraces
from poppyscan.synth.palette import C, mix

__all__ = ["SceneIndex", "render_block", "halo_px"]

F = np.float32


def halo_px(blur_px: float) -> int:
    """Pixels a block needs around it: the widest chain of blurs that feed a pixel.

    Ragged field edges (Gaussian radius <= 9 px) then the camera blur
    (radius 3 sigma), plus one pixel for the relief gradient.
    """
    return 10 + int(np.ceil(3 * max(blur_px, 0.0)))


class SceneIndex:
    """A scene with its spatial indexes, ready to render under ``cond``."""

    def __init__(self, scene: Scene, cond: Conditions, gsd_m: float) -> None:
        self.scene = scene
        self.cond = cond
        self.gsd_m = gsd_m
        self.halo_px = halo_px(cond.blur_px)
        self.sun = sun_vector(cond.sun_azimuth_deg, cond.sun_elevation_deg)
        self.fields = shapely.STRtree([f.geom for f in scene.fields])
        self.line_polys = scene.lines.polygons()
        self.lines = shapely.STRtree(self.line_polys)
        self.roofs = shapely.STRtree([r.geom for r in scene.roofs])
        self.roof_shadows = [roof_shadow(r, self.sun) for r in scene.roofs]
        self.roof_shadow_tree = shapely.STRtree(self.roof_shadows)
        self.crowns = BoxIndex(*crown_extent_boxes(scene.crowns, self.sun))
        for geom in (scene.footprint, scene.clearings, scene.terraces):
            shapely.prepare(geom)

    def query(self, tree: shapely.STRtree, box) -> np.ndarray:
        """Indexes meeting ``box``, in ascending order (the global painting order)."""
        return np.sort(tree.query(box))


def render_block(index: SceneIndex, row0: int, col0: int, height: int, width: int) -> np.ndarray:
    """RGBA uint8 ``(height, width, 4)`` of a window of the survey; alpha = footprint."""
    scene = index.scene
    inner = Block(row0, col0, height, width, index.gsd_m, scene.height_m)
    out = np.zeros((height, width, 4), np.uint8)
    if not scene.footprint.intersects(inner.box()):
        return out
    pad = index.halo_px
    blk = Block(row0 - pad, col0 - pad, height + 2 * pad, width + 2 * pad, index.gsd_m,
                scene.height_m)
    rgb, _ = _paint(index, blk)
    img = sensor(blk, index.cond, to_u8(radiometry(blk, index.cond, rgb)))
    img = img[pad:pad + height, pad:pad + width]
    alpha = inner.fill(scene.footprint, 255)
    img = jpeg_roundtrip(np.ascontiguousarray(img), index.cond.jpeg_quality)
    # Outside the footprint there is no photo: black, as photogrammetry tools write it.
    out[..., :3] = np.where(alpha[..., None] > 0, img, 0)
    out[..., 3] = alpha
    return out


def _paint(index: SceneIndex, blk: Block) -> tuple[np.ndarray, np.ndarray]:
    """The scene's reflectance (float sRGB) and surface height (metres) over ``blk``."""
    scene, sun = index.scene, index.sun
    box = blk.box()
    open_mask = np.zeros(blk.shape, np.uint8)
    if scene.clearings.intersects(box):
        blk.fill(scene.clearings, 1, open_mask)
    rgb = base_ground(blk, scene.seed, open_mask, scene.dryness)
    height = np.zeros(blk.shape, F)

    for i in index.query(index.fields, box):
        f = scene.fields[i]
        win = blk.window_of(f.geom.bounds, pad_m=0.6)
        if win is None:
            continue
        r0, r1, c0, c1 = win
        sub = blk.sub(r0, r1, c0, c1)
        mask = sub.fill(f.geom)
        if mask.any():
            paint_field(sub, f, rgb[r0:r1, c0:c1], mask, height[r0:r1, c0:c1])

    shade, dem = relief(blk, scene.terrain, sun)
    if scene.terraces.intersects(box):
        zone = blk.fill(scene.terraces).astype(bool)
        cov, face = terraces(blk, scene.terrain, dem, sun)
        on = zone & (cov > F(0.002))
        riser = mix(rgb[on] * face[on, None], C["grass"] * face[on, None], F(0.35))
        rgb[on] = mix(rgb[on], riser, cov[on])

    line_idx = index.query(index.lines, box)
    for kind in range(len(LINE_KINDS)):
        for i in line_idx[scene.lines.kind[line_idx] == kind]:
            win = blk.window_of(index.line_polys[i].bounds, pad_m=0.3)
            if win is None:
                continue
            r0, r1, c0, c1 = win
            sub = blk.sub(r0, r1, c0, c1)
            mask = sub.fill(index.line_polys[i])
            if mask.any():
                paint_line(sub, scene.lines, i, rgb[r0:r1, c0:c1], mask)
                height[r0:r1, c0:c1][mask.astype(bool)] = 0.0
    rgb *= shade[..., None]

    for i in index.query(index.roofs, box):
        roof = scene.roofs[i]
        win = blk.window_of(roof.geom.bounds)
        if win is None:
            continue
        r0, r1, c0, c1 = win
        sub = blk.sub(r0, r1, c0, c1)
        paint_roof(sub, roof, rgb[r0:r1, c0:c1], sub.fill(roof.geom), height[r0:r1, c0:c1], sun)

    crowns = index.crowns.query(blk.bounds_m)
    paint_crowns(blk, scene.crowns, crowns, rgb, height, sun)
    roofs = index.query(index.roof_shadow_tree, box)
    paint_shadows(blk, scene.crowns, crowns, [index.roof_shadows[i] for i in roofs],
                  [scene.roofs[i].height_m for i in roofs], rgb, height, sun,
                  index.cond.shadow_strength)
    return rgb, height
