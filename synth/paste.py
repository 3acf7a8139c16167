"""Paste one synthetic poppy plot into a window of a real orthomosaic, matched to it.

The plot is painted by the generator's own painters (:mod:`poppyscan.synth.crops`)
on the host's pixel grid, then made to look like the host around it:

* **soil**: the plot's tilled soil takes the host ring's mean colour (0.85 as
  bright, the generator's clods and moisture as texture): plots are sown in
  the local soil;
* **brightness and colour**: the generator's open ground is painted on the
  same pixels; the ratio of the host's surroundings (a 0.5-3 m ring, canopy and
  blocked pixels left out) to it gives an exposure gain (damped: ``ratio**0.7``,
  0.6-1.6) and a weak white balance (``**0.3``, 0.85-1.15 per channel): the
  host's light, not its materials;
* **blur**: the camera blur (Gaussian sigma, :data:`~poppyscan.synth.host.BLUR_SIGMAS_PX`)
  whose fine-detail share on that synthetic ground is nearest the host ring's;
* **noise**: Gaussian noise of the host's own sigma (Immerkaer's estimate);
* **shadow**: plants over 0.3 m cast the plot's outline along the sun, a soft
  darkening of the host beside the plot (its ground truth stays the plot);
* **edge and canopy**: the plot's alpha is its rasterised polygon (pixel
  centres inside, as GDAL decides) feathered by 0.6 px over one pixel, and zero under the host's
  tree canopy, which stays in front.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from poppyscan.synth.block import Block
from poppyscan.synth.canopy import shadow_step
from poppyscan.synth.conditions import to_u8
from poppyscan.synth.crops import paint_field
from poppyscan.synth.elements import Field
from poppyscan.synth.ground import base_ground
from poppyscan.synth.host import BLUR_SIGMAS_PX, detail_share, noise_sigma

__all__ = ["EDGE_SIGMA_PX", "Pasted", "paste_plot", "reach_m"]

F = np.float32
EDGE_SIGMA_PX = 0.6
RING_M = (0.5, 3.0)
SHADOW_DARKEN = 0.45
TALL_M = 0.3
TILLED_DARKEN = 0.85  # freshly tilled soil against the surface around it


@dataclass(frozen=True)
class Pasted:
    """How one plot was matched to its host, and how much of it the host's canopy hides."""

    gain: float
    white_balance: tuple[float, float, float]
    blur_px: float
    noise_dn: float
    occluded_frac: float


def reach_m(sun: np.ndarray) -> float:
    """How far beyond its polygon a pasted plot may change the host: shadow of 1.2 m plants + feather."""
    return float(np.hypot(*shadow_step(sun)) * 1.2) + 0.3


def paste_plot(host: np.ndarray, valid: np.ndarray, canopy: np.ndarray, blocked: np.ndarray,
               blk: Block, field: Field, sun: np.ndarray, rng: np.random.Generator,
               *, shadows: bool = True) -> Pasted:
    """Paint ``field`` (local metres of ``blk``) into ``host`` (uint8 RGB view of ``blk``), in place.

    ``valid``, ``canopy`` and ``blocked`` are the host's masks over the same window.
    """
    mask = blk.fill(field.geom).astype(bool)
    ring = _ring(mask, blk.gsd_m) & valid & ~canopy & ~blocked
    reference = to_u8(base_ground(blk, field.seed + 17, np.ones(blk.shape, np.uint8), 0.4))
    gain, balance = _light(host, reference, ring)
    light = F(gain) * np.asarray(balance, F)
    if ring.sum() >= 50:  # tilled in the host's own soil: its ring colour, a little darker
        soil = host[ring].astype(F).mean(axis=0) / F(255) * F(TILLED_DARKEN) / light
        field = replace(field, attrs={**field.attrs, "soil_rgb": tuple(float(v) for v in soil)})
    rgb = np.zeros((*blk.shape, 3), F)
    height = np.zeros(blk.shape, F)
    paint_field(blk, field, rgb, mask, height)
    plot = to_u8(rgb * light)
    blur_px = _blur_like(host, reference, ring)
    noise_dn = min(noise_sigma(cv2.cvtColor(host, cv2.COLOR_RGB2GRAY)), 8.0)
    if shadows and float(height[mask].max(initial=0.0)) > TALL_M:
        _cast_shadow(host, mask, float(height[mask].max()), sun, blk.gsd_m, valid & ~canopy)
    # Blur the plot in place over the host, so no black from outside the plot bleeds in.
    seen = np.where(mask[..., None], plot, host)
    if blur_px > 0:
        seen = cv2.GaussianBlur(seen, (0, 0), blur_px)
    seen = seen.astype(F) + rng.normal(0.0, noise_dn, seen.shape).astype(F)
    alpha = cv2.GaussianBlur(mask.astype(F), (3, 3), EDGE_SIGMA_PX) * ~canopy * valid
    out = host.astype(F) * (F(1) - alpha[..., None]) + seen * alpha[..., None]
    changed = alpha > 0
    host[changed] = np.clip(np.round(out[changed]), 0, 255).astype(np.uint8)
    occluded = float((canopy & mask).sum() / max(mask.sum(), 1))
    return Pasted(round(gain, 3), tuple(round(float(b), 3) for b in balance), blur_px,
                  round(noise_dn, 2), round(occluded, 3))


def _ring(mask: np.ndarray, gsd_m: float) -> np.ndarray:
    inner, outer = (max(1, round(m / gsd_m)) for m in RING_M)
    grow = mask.astype(np.uint8)
    near = cv2.dilate(grow, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * inner + 1,) * 2))
    far = cv2.dilate(grow, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * outer + 1,) * 2))
    return (far > 0) & (near == 0)


def _light(host: np.ndarray, reference: np.ndarray, ring: np.ndarray) -> tuple[float, tuple]:
    """Exposure gain and white balance taking the generator's light to the host's."""
    if ring.sum() < 50:
        return 1.0, (1.0, 1.0, 1.0)
    ratio = host[ring].astype(np.float64).mean(axis=0) / np.maximum(
        reference[ring].astype(np.float64).mean(axis=0), 1.0)
    gain = float(np.clip(ratio.mean() ** 0.7, 0.6, 1.6))
    balance = np.clip((ratio / ratio.mean()) ** 0.3, 0.85, 1.15)
    return gain, tuple(float(b) for b in balance)


def _blur_like(host: np.ndarray, reference: np.ndarray, ring: np.ndarray) -> float:
    """The blur sigma (px) that gives the synthetic ground the host ring's fine-detail share."""
    if ring.sum() < 200:
        return 0.6
    target = detail_share(cv2.cvtColor(host, cv2.COLOR_RGB2GRAY), ring)
    grey = cv2.cvtColor(reference, cv2.COLOR_RGB2GRAY)
    shares = [detail_share(grey if s == 0 else cv2.GaussianBlur(grey, (0, 0), s), ring)
              for s in BLUR_SIGMAS_PX]
    return float(BLUR_SIGMAS_PX[int(np.nanargmin(np.abs(np.array(shares) - target)))])


def _cast_shadow(host: np.ndarray, mask: np.ndarray, height_m: float, sun: np.ndarray,
                 gsd_m: float, receives: np.ndarray) -> None:
    """Darken the host where the plot's plants throw their shadow, with a soft edge."""
    east, north = shadow_step(sun) * height_m / gsd_m
    shift = np.float32([[1, 0, east], [0, 1, -north]])
    cast = cv2.warpAffine(mask.astype(F), shift, mask.shape[::-1], flags=cv2.INTER_LINEAR)
    sigma = max(0.8, 0.15 / gsd_m)
    soft = cv2.GaussianBlur(np.clip(cast, 0, 1), (0, 0), sigma) * ~mask * receives
    dark = F(1) - F(SHADOW_DARKEN) * soft
    on = soft > F(0.004)
    host[on] = np.clip(np.round(host[on].astype(F) * dark[on, None]), 0, 255).astype(np.uint8)
