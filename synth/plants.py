"""Plants on a jittered lattice: rows or broadcast, one plant per cell.

Each pixel finds the plant of its own cell (or the few nearest cells for
plants larger than a cell) by hashing the cell's integer coordinates: no
plant list is ever stored, and plants sit at the same ground position in every
block and at every GSD.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from poppyscan.synth.block import Block, cover, lod
from poppyscan.synth.noise import hash_u32, rehash, signed, unit

__all__ = ["Cells", "plant_cells", "nearest_cells", "rotated", "disc_plants", "star_plants"]

F = np.float32


def rotated(blk: Block, angle_rad: float) -> tuple[np.ndarray, np.ndarray]:
    """Ground coordinates along (u) and across (v) a direction ``angle_rad`` from east."""
    c, s = F(np.cos(angle_rad)), F(np.sin(angle_rad))
    return blk.X * c + blk.Y * s, blk.Y * c - blk.X * s


@dataclass
class Cells:
    """Per pixel: offset (metres) to its cell's plant, that plant's hash and room to grow."""

    pu: np.ndarray
    pv: np.ndarray
    d: np.ndarray
    room: np.ndarray  # radius that keeps the plant inside its cell
    h: np.ndarray  # uint32, one per plant

    def rand(self, k: int) -> np.ndarray:
        """The plant's ``k``-th uniform random number in [0, 1)."""
        h = self.h
        for _ in range(k):
            h = rehash(h)
        return unit(h)


def plant_cells(blk: Block, angle_rad: float, du_m: float, dv_m: float, seed: int, *,
                jitter: float = 0.3, stagger: bool = False, offset: tuple[int, int] = (0, 0),
                uv: tuple[np.ndarray, np.ndarray] | None = None) -> Cells:
    """Plants every ``du_m`` along rows ``dv_m`` apart, jittered by ``jitter`` of a cell.

    ``offset`` picks a neighbouring cell (-1/+1 towards the nearer side) for
    plants that reach beyond their own cell; ``uv`` reuses :func:`rotated`.
    """
    u, v = uv if uv is not None else rotated(blk, angle_rad)
    gv = v / F(dv_m)
    iv = np.floor(gv)
    if offset[1]:
        iv = iv + np.where(gv - iv < 0.5, F(-1.0), F(1.0))
    gu = u / F(du_m)
    if stagger:
        gu = gu + F(0.5) * (iv.astype(np.int64) & 1).astype(F)
    iu = np.floor(gu)
    if offset[0]:
        iu = iu + np.where(gu - iu < 0.5, F(-1.0), F(1.0))
    h = hash_u32(iu.astype(np.int64), iv.astype(np.int64), seed)
    h1 = rehash(h)
    ju = signed(h) * F(jitter / 2)
    jv = signed(h1) * F(jitter / 2)
    pu = (gu - iu - F(0.5) - ju) * F(du_m)
    pv = (gv - iv - F(0.5) - jv) * F(dv_m)
    room = np.minimum((F(0.5) - np.abs(ju)) * F(du_m), (F(0.5) - np.abs(jv)) * F(dv_m))
    return Cells(pu, pv, np.sqrt(pu * pu + pv * pv), room, rehash(h1))


def disc_plants(blk: Block, cells: Cells, r_m: float, *, spread: float = 0.35,
                missing: float = 0.0, lobes: int = 0, fill_room: float = 1.0
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Round plants: returns ``(coverage, radius-normalised distance, per-plant random)``.

    Radii vary by ``spread`` around ``r_m`` and never leave the cell; ``lobes``
    scallops the outline (rosette leaves) where the pixels can show it.
    """
    g = blk.gsd_m
    r = F(r_m) * (F(1.0 - spread) + F(2 * spread) * cells.rand(1))
    r = np.minimum(r, cells.room * F(fill_room))
    if missing:
        r = np.where(cells.rand(2) < missing, F(0.0), r)
    d = cells.d
    if lobes and lod(r_m * 0.5, g) > 0:
        ang = np.arctan2(cells.pv, cells.pu)
        scallop = F(0.8) + F(0.2) * np.cos(F(lobes) * ang + F(6.283) * cells.rand(3))
        d = d / scallop
    cov = cover(d, r, g)
    return cov, np.minimum(d / np.maximum(r, F(1e-3)), F(1.0)), cells.rand(4)


def star_plants(blk: Block, cells: Cells, length_m: float, width_m: float, n_leaves: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Plants of strap leaves radiating from a centre (maize, banana).

    Each plant has ``n_leaves`` give or take two, each leaf its own length.
    Returns coverage, position along the leaf (0..1), signed offset across it
    (-1..1) and a random number per leaf.
    """
    g = blk.gsd_m
    n = F(n_leaves - 2) + np.floor(cells.rand(3) * F(5))
    step = F(2 * np.pi) / n
    a = np.arctan2(cells.pv, cells.pu) + F(np.pi)
    k = np.round(a / step)
    da = a - step * k
    leaf = unit(rehash(cells.h ^ (k.astype(np.uint32) * np.uint32(0x9E3779B1))))
    length = F(length_m) * (F(0.6) + F(0.3) * cells.rand(1) + F(0.4) * leaf)
    along = np.minimum(cells.d / length, F(1.0))
    half_w = F(width_m / 2) * np.sin(F(np.pi) * np.clip(along * F(0.9) + F(0.1), 0, 1))
    across = da * cells.d
    cov = np.clip((half_w - np.abs(across)) / F(g) + F(0.5), 0.0, 1.0) * (cells.d < length)
    return cov.astype(F), along, np.clip(across / (half_w + F(1e-4)), -1, 1), leaf


def nearest_cells(blk: Block, du_m: float, dv_m: float, seed: int, *, angle_rad: float = 0.0,
                  uv: tuple[np.ndarray, np.ndarray] | None = None, jitter: float = 0.9
                  ) -> tuple[Cells, np.ndarray]:
    """The nearest of the four surrounding cells' points (cellular / Worley noise).

    For plants that overlap their neighbours (a closing canopy) and for leaf
    clumps. Returns that cell and the distance to the second nearest point,
    whose gap to the nearest marks the creases between plants.
    """
    if uv is None:
        uv = rotated(blk, angle_rad)
    best = second = None
    for off in ((0, 0), (1, 0), (0, 1), (1, 1)):
        c = plant_cells(blk, angle_rad, du_m, dv_m, seed, jitter=jitter, offset=off, uv=uv)
        if best is None:
            best, second = c, np.full(c.d.shape, np.inf, F)
            continue
        closer = c.d < best.d
        second = np.where(closer, best.d, np.minimum(second, c.d))
        best = Cells(*(np.where(closer, new, old) for new, old in
                       zip((c.pu, c.pv, c.d, c.room, c.h), (best.pu, best.pv, best.d, best.room, best.h), strict=True)))
    return best, second
