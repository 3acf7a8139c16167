"""Seeded procedural noise evaluated at ground coordinates (metres).

Everything here is a pure function of global coordinates and a seed, so a
pixel's value does not depend on which block it was rendered in, nor on the
GSD beyond where its centre falls. Lattice values come from an integer hash
(no state, no tables); interpolation is separable along the pixel axes, so a
block costs a few array operations per octave.
"""

from __future__ import annotations

import numpy as np

__all__ = ["hash_u32", "rehash", "unit", "signed", "value_noise", "fbm", "pixel_noise"]

_M1 = np.uint32(0x9E3779B1)
_M2 = np.uint32(0x85EBCA77)
_M3 = np.uint32(0xC2B2AE3D)
_M4 = np.uint32(0x27D4EB2F)
_INV24 = np.float32(1.0 / (1 << 24))


def hash_u32(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """Well-mixed uint32 hash of integer lattice coordinates (broadcasting)."""
    # Casting int64 -> uint32 wraps modulo 2**32, which is all a hash needs.
    hx = np.asarray(ix).astype(np.uint32) * _M1
    hy = np.asarray(iy).astype(np.uint32) * _M2
    return rehash(hx ^ hy ^ np.uint32(seed & 0xFFFFFFFF))


def rehash(h: np.ndarray) -> np.ndarray:
    """Another independent-looking uint32 from a uint32 (murmur3 finaliser)."""
    h = h ^ (h >> np.uint32(16))
    h = h * _M3
    h ^= h >> np.uint32(13)
    h *= _M4
    h ^= h >> np.uint32(16)
    return h


def unit(h: np.ndarray) -> np.ndarray:
    """Map uint32 hashes to float32 in [0, 1)."""
    return (h >> np.uint32(8)).astype(np.float32) * _INV24


def signed(h: np.ndarray) -> np.ndarray:
    """Map uint32 hashes to float32 in [-1, 1)."""
    return unit(h) * np.float32(2.0) - np.float32(1.0)


def _axis_weights(coords_m: np.ndarray, cell_m: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Lattice index (relative to the first), smoothstep weight, first lattice index."""
    g = np.asarray(coords_m, dtype=np.float64) / cell_m
    i0 = np.floor(g)
    f = (g - i0).astype(np.float32)
    f = f * f * (np.float32(3.0) - np.float32(2.0) * f)
    first = int(i0.min())
    return (i0 - first).astype(np.intp), f, first


def value_noise(xs_m: np.ndarray, ys_m: np.ndarray, cell_m: float, seed: int) -> np.ndarray:
    """Smooth value noise in [0, 1) on the grid ``ys_m`` x ``xs_m`` (1-D pixel centres, metres).

    Returns a float32 array of shape ``(len(ys_m), len(xs_m))``; ``cell_m`` is the
    lattice spacing, the scale of the features.
    """
    ix, fx, x0 = _axis_weights(xs_m, cell_m)
    iy, fy, y0 = _axis_weights(ys_m, cell_m)
    lat_x = np.arange(x0, x0 + int(ix.max()) + 2, dtype=np.int64)
    lat_y = np.arange(y0, y0 + int(iy.max()) + 2, dtype=np.int64)
    lattice = unit(hash_u32(lat_x[None, :], lat_y[:, None], seed))
    # Interpolate along x on the few lattice rows, then along y on the full grid.
    rows = lattice[:, ix] * (np.float32(1.0) - fx) + lattice[:, ix + 1] * fx
    fy = fy[:, None]
    return rows[iy] * (np.float32(1.0) - fy) + rows[iy + 1] * fy


def fbm(
    xs_m: np.ndarray, ys_m: np.ndarray, cell_m: float, seed: int, *, octaves: int = 3,
    gain: float = 0.5,
) -> np.ndarray:
    """Fractal sum of ``octaves`` value noises, halving the scale each time; mean ~0.5, in [0, 1)."""
    total = np.zeros((len(ys_m), len(xs_m)), dtype=np.float32)
    amp, norm = 1.0, 0.0
    for k in range(octaves):
        total += np.float32(amp) * value_noise(xs_m, ys_m, cell_m / (2**k), seed + 7919 * k)
        norm += amp
        amp *= gain
    total *= np.float32(1.0 / norm)
    return total


def pixel_noise(cols: np.ndarray, rows: np.ndarray, seed: int) -> np.ndarray:
    """Independent per-pixel noise in [-1, 1) keyed on global pixel indexes (sensor noise)."""
    return signed(hash_u32(np.asarray(cols)[None, :], np.asarray(rows)[:, None], seed))
