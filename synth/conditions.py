"""Flight conditions: sun, exposure, white balance, haze, clouds, blur, noise, photo seams.

A survey's conditions are drawn once from its seed (and the GSD: the photos'
footprints on the ground scale with flying height). Everything is evaluated at
global pixel or ground coordinates, so it is block independent.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from poppyscan.synth import noise
from poppyscan.synth.block import Block
from poppyscan.synth.palette import C

__all__ = ["Conditions", "sample_conditions", "check_overrides", "with_overrides", "radiometry",
           "to_u8", "sensor",
           "jpeg_roundtrip"]

F = np.float32
_PHOTO_PX = (3000, 4000)  # a typical drone photo, along x across track
LOW_SUN_SHARE = 0.3  # flights early or late in the day: long tree shadows over the open ground


@dataclass(frozen=True)
class Conditions:
    """How the survey was flown and processed; every field has a physical meaning."""

    sun_azimuth_deg: float  # clockwise from north
    sun_elevation_deg: float  # shadows are height / tan(elevation) long
    exposure: float  # global gain
    white_balance: tuple[float, float, float]  # per-channel gains
    haze: float  # 0..0.3: fraction of the haze colour mixed in
    cloud: float  # 0..0.35: darkening under scattered cloud shadows
    blur_px: float  # Gaussian sigma, ortho pixels (camera + resampling)
    noise_dn: float  # sensor noise, digital numbers
    jpeg_quality: int  # quality of the source photos' JPEG; 0 = none
    seam_gain: float  # spread of exposure between neighbouring photos
    vignette: float  # darkening at the edge of each photo's patch
    photo_m: tuple[float, float]  # a photo's patch in the mosaic, along x across track
    flight_angle_rad: float
    seed: int

    @property
    def shadow_strength(self) -> float:
        """How dark a shadow is: haze and cloud scatter light into them."""
        return float(np.clip(1.0 - 1.6 * self.haze - 0.8 * self.cloud, 0.4, 1.0))


def sample_conditions(seed: int, gsd_m: float, flight_angle_rad: float) -> Conditions:
    """Draw plausible survey conditions from ``seed`` (independent of the scene's draws)."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 100])
    azimuth, elevation = float(rng.uniform(95, 265)), float(rng.uniform(40, 72))
    if np.random.default_rng([seed & 0xFFFFFFFF, 103]).random() < LOW_SUN_SHARE:
        elevation = 18.0 + (elevation - 40.0) * 22.0 / 32.0  # early or late flights: 18-40 degrees
    return Conditions(
        sun_azimuth_deg=azimuth,
        sun_elevation_deg=elevation,
        exposure=float(rng.uniform(0.88, 1.14)),
        white_balance=tuple(float(v) for v in 1.0 + rng.normal(0, 0.035, 3)),
        haze=float(rng.uniform(0.0, 0.18) * (rng.random() < 0.7)),
        cloud=float(rng.uniform(0.1, 0.35) * (rng.random() < 0.3)),
        blur_px=float(rng.uniform(0.45, 1.1)),
        noise_dn=float(rng.uniform(1.0, 3.0)),
        jpeg_quality=int(rng.integers(78, 96)),
        seam_gain=float(rng.uniform(0.015, 0.06)),
        vignette=float(rng.uniform(0.0, 0.12)),
        photo_m=(float(_PHOTO_PX[0] * gsd_m * rng.uniform(0.15, 0.35)),
                 float(_PHOTO_PX[1] * gsd_m * rng.uniform(0.25, 0.4))),
        flight_angle_rad=float(flight_angle_rad),
        seed=int(rng.integers(2**31)),
    )


# Valid ranges of the overridable scalar conditions.
_RANGES = {
    "sun_azimuth_deg": (0.0, 360.0), "sun_elevation_deg": (10.0, 90.0), "exposure": (0.3, 3.0),
    "haze": (0.0, 0.6), "cloud": (0.0, 0.8), "blur_px": (0.0, 4.0), "noise_dn": (0.0, 20.0),
    "jpeg_quality": (0, 100), "seam_gain": (0.0, 0.3), "vignette": (0.0, 0.5),
}


def check_overrides(overrides: dict | None) -> None:
    """Raise ConfigError for unknown condition names or values out of range."""
    from poppyscan.errors import ConfigError

    names = sorted(f.name for f in dataclasses.fields(Conditions))
    bad = sorted(set(overrides or ()) - set(names))
    if bad:
        raise ConfigError(f"unknown condition(s) {bad}; valid: {names}")
    for name, value in (overrides or {}).items():
        lo, hi = _RANGES.get(name, (-np.inf, np.inf))
        if np.ndim(value) == 0 and not lo <= value <= hi:
            raise ConfigError(f"condition {name}={value} out of range {lo}-{hi}")


def with_overrides(cond: Conditions, overrides: dict | None) -> Conditions:
    """``cond`` with some fields replaced (see :func:`check_overrides`)."""
    check_overrides(overrides)
    return dataclasses.replace(cond, **overrides) if overrides else cond


def radiometry(blk: Block, cond: Conditions, rgb: np.ndarray) -> np.ndarray:
    """Exposure, white balance, photo seams and vignetting, cloud shadows and haze."""
    seed = cond.seed
    c, s = F(np.cos(cond.flight_angle_rad)), F(np.sin(cond.flight_angle_rad))
    along_m, across_m = cond.photo_m
    # Seamlines wander: the mosaicking picks low-contrast paths between photos.
    wig = (blk.noise(along_m / 2, seed) - F(0.5)) * F(0.3)
    a = (blk.X * c + blk.Y * s) / F(along_m) + wig
    b = (blk.Y * c - blk.X * s) / F(across_m) + wig
    ib = np.floor(b)
    a = a + F(0.5) * (ib.astype(np.int64) & 1).astype(F)  # photos of neighbouring strips are staggered
    ia = np.floor(a)
    h = noise.hash_u32(ia.astype(np.int64), ib.astype(np.int64), seed + 1)
    gain = F(1) + F(cond.seam_gain) * noise.signed(h)
    fa, fb = a - ia - F(0.5), b - ib - F(0.5)
    gain = gain * (F(1) - F(cond.vignette) * (fa * fa + fb * fb) * F(2))
    wb = np.asarray(cond.white_balance, F) * F(cond.exposure)
    tint = F(1) + F(cond.seam_gain * 0.4) * noise.signed(noise.rehash(h))
    rgb *= (gain * tint)[..., None] * wb
    rgb[..., 0] *= F(1) / tint  # the per-photo tint moves red against blue
    if cond.cloud > 0:
        shadow = np.clip((blk.fbm(80.0, seed + 2, 2) - F(0.45)) * F(5), 0, 1)
        rgb *= (F(1) - F(cond.cloud) * shadow)[..., None]
    if cond.haze > 0:
        amount = F(cond.haze) * (F(0.7) + F(0.6) * blk.noise(150.0, seed + 3))
        rgb += (C["haze"] - rgb) * amount[..., None]
    return rgb


def to_u8(rgb: np.ndarray) -> np.ndarray:
    """Float sRGB -> uint8 with a soft highlight shoulder, as camera JPEGs have."""
    x = np.maximum(rgb, F(0))
    x = np.where(x > F(0.8), F(0.8) + (x - F(0.8)) / (F(1) + (x - F(0.8)) * F(5)), x)
    return np.clip(x * F(255) + F(0.5), 0, 255).astype(np.uint8)


def sensor(blk: Block, cond: Conditions, img: np.ndarray) -> np.ndarray:
    """Blur (bit-exact uint8 Gaussian) and per-pixel sensor noise keyed on global pixels."""
    if cond.blur_px >= 0.3:
        k = 2 * int(np.ceil(3 * cond.blur_px)) + 1
        img = cv2.GaussianBlur(img, (k, k), cond.blur_px)
    if cond.noise_dn > 0:
        cols = np.arange(blk.col0, blk.col0 + blk.width)
        rows = np.arange(blk.row0, blk.row0 + blk.height)
        n = noise.pixel_noise(cols, rows, cond.seed + 4) + noise.pixel_noise(cols, rows, cond.seed + 5)
        img = np.clip(img.astype(np.int16) + np.round(n * F(cond.noise_dn * 1.2)).astype(np.int16)[..., None],
                      0, 255).astype(np.uint8)
    return img


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode as a camera JPEG (4:4:4, so 8x8 blocks stay independent)."""
    if quality <= 0:
        return img
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality),
              cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], params)
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
