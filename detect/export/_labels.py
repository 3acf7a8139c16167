"""Text and colours shared by the target exporters (ASCII only: GPS units mangle the rest)."""

from __future__ import annotations

from collections.abc import Sequence

from poppyscan.detect.targets import Target
from poppyscan.errors import ConfigError

__all__ = ["PRIORITIES", "PRIORITY_COLOURS", "conf_band", "lat_lon_text", "ordered_targets",
           "target_description", "target_name", "target_priority", "target_title"]

# (lowest conf, band, simplestyle colour): red = visit first, then orange, then yellow.
CONF_BANDS: tuple[tuple[float, str, str], ...] = (
    (0.8, "high", "#e31a1c"),
    (0.5, "medium", "#ff7f00"),
    (0.0, "low", "#ffd92f"),
)
# A crew's order of urgency; symbols and styles in every output follow it (and the bands' colours).
PRIORITIES: tuple[str, ...] = tuple(band for _, band, _ in CONF_BANDS)
PRIORITY_COLOURS: dict[str, str] = {band: colour for _, band, colour in CONF_BANDS}


def conf_band(conf: float) -> tuple[str, str]:
    """``(band, colour)`` for a confidence: ``conf_band(0.9) == ("high", "#e31a1c")``."""
    for lowest, band, colour in CONF_BANDS:
        if conf >= lowest:
            return band, colour
    return CONF_BANDS[-1][1], CONF_BANDS[-1][2]


def lat_lon_text(lat: float, lon: float) -> tuple[str, str]:
    """Latitude and longitude as people read them, 6 decimals (about 0.1 m).

    Rounded from the 7 decimals the GeoJSON and the registry store, so every
    page prints the same digits whichever of them it read:
    ``lat_lon_text(18.1234567, 102.5) == ("18.123457", "102.500000")``.
    """
    return f"{round(lat, 7):.6f}", f"{round(lon, 7):.6f}"


def target_name(t: Target) -> str:
    """Short label, id first so a GPS list sorts and reads by id: ``M1-0001 poppy? 87%``."""
    return f"{t.target_id} {t.label}? {round(t.conf * 100):d}%"


def target_title(t: Target) -> str:
    """One-line title: ``M1-0001 (rank 1): poppy? 87%, 412 m2``."""
    return f"{t.target_id} (rank {t.rank}): {t.label}? {round(t.conf * 100):d}%, {t.area_m2:.0f} m2"


def target_priority(conf: float, state: str = "") -> str:
    """``high`` for replants and plots confirmed standing, else the confidence band."""
    return "high" if state in ("replant", "confirmed") else conf_band(conf)[0]


def target_description(target_id: str, conf: float, area_m2: float, *, priority: str,
                       more: Sequence[str] = ()) -> str:
    """What a crew reads at a target in every output, one fact a line; ``more``: lines after.

    No status word (confirmed, eradicated...): field import reads one a crew adds as the
    verdict. ``target_description("M1-0001", 0.91, 1250.4, priority="high")`` is
    ``"Target M1-0001, high priority\nConfidence 91%, area 1250 m2"``.
    """
    return "\n".join([f"Target {target_id}, {priority} priority",
                      f"Confidence {round(conf * 100):d}%, area {area_m2:.0f} m2", *more])


def ordered_targets(targets: Sequence[Target]) -> list[Target]:
    """Targets sorted by rank (then id); raise ConfigError on a non-Target or a repeated id."""
    seen: set[str] = set()
    for t in targets:
        if not isinstance(t, Target):
            raise ConfigError(f"expected detect.targets.Target, got {type(t).__name__}")
        if t.target_id in seen:
            raise ConfigError(f"target id {t.target_id!r} appears twice: ids must be unique")
        seen.add(t.target_id)
    return sorted(targets, key=lambda t: (t.rank, t.target_id))
