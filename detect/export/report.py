"""report.html: one self-contained page a team lead can open offline or print.

Images are inlined as base64; there is no external CSS, JS, font or tile
server, so the page works without a network and leaks nothing when opened.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from affine import Affine
from pyproj import CRS, Transformer

from poppyscan.atomic import atomic_write_text
from poppyscan.detect.export._imaging import display_uint8, hex_to_bgr
from poppyscan.detect.export._labels import conf_band, lat_lon_text, ordered_targets
from poppyscan.detect.targets import Target
from poppyscan.errors import ConfigError
from poppyscan.provenance import utc_now

__all__ = ["Overview", "draw_overview", "write_report_html"]

# (image H x W x C, affine transform of that image, its CRS: anything pyproj accepts)
Overview = tuple[np.ndarray, Affine, Any]

_MIME = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}


def write_report_html(
    path: str | os.PathLike,
    targets: Sequence[Target],
    *,
    mission: str,
    model_id: str,
    overview: Overview | list[tuple[str, Overview]] | None = None,
    coverage_area_km2: float | None = None,
    chips_processed: int | None = None,
    chips_skipped: int | None = None,
    figures: Mapping[str, Any] | None = None,
    thumbnail_root: str | os.PathLike | None = None,
    generated_at: str | None = None,
    overview_max_px: int = 1600,
    skipped: Sequence[Mapping[str, str]] = (),
    classes: Sequence[str] = (),
) -> Path:
    """Write the HTML report to ``path`` atomically.

    ``overview`` is ``(image, transform, crs)`` (or a list of ``(caption, overview)``,
    one per group of files lying far apart): an H x W x 3 (or 4, alpha
    ignored) array, e.g. an overview level of the orthomosaic read with
    rasterio and turned channels-last, with the affine transform of that array
    and the raster CRS. Targets are drawn on it numbered by rank.
    Thumbnails (``Target.thumbnail``) are read relative to ``thumbnail_root``
    (default: the report's folder) and inlined. ``figures`` adds rows to the
    summary (label -> value). ``skipped``: the input files left out of the run,
    each ``{"path", "reason"}``, listed under their own heading. ``classes``: the
    model's class names, which title the page (the targets' labels without them).
    """
    path = Path(path)
    ordered = ordered_targets(targets)
    root = Path(thumbnail_root) if thumbnail_root is not None else path.parent
    parts = [
        _head(f"poppyscan report: {mission}"),
        f"<h1>Suspected {_e(_looked_for(targets, classes))}: mission {_e(mission)}</h1>",
        '<p class="warn">Contains locations of people\'s fields. '
        "Share only with the teams that need it.</p>",
        _summary(
            ordered,
            mission=mission,
            model_id=model_id,
            coverage_area_km2=coverage_area_km2,
            chips_processed=chips_processed,
            chips_skipped=chips_skipped,
            figures=figures,
            generated_at=generated_at or utc_now(),
        ),
    ]
    if overview is not None:
        parts.append(_overviews(overview, ordered, overview_max_px))
    parts.append(_target_table(ordered, root))
    parts.append(_skipped(skipped))
    parts.append(_coverage(coverage_area_km2, chips_processed, chips_skipped))
    parts.append("</body></html>\n")
    return atomic_write_text(path, "\n".join(parts))


def draw_overview(
    overview: Overview, targets: Sequence[Target], *, max_px: int = 1600
) -> np.ndarray:
    """RGB uint8 copy of the overview, at most ``max_px`` wide/high, with rank markers drawn."""
    image, transform, crs = overview
    rgb = _as_rgb_uint8(image)
    h, w = rgb.shape[:2]
    scale = min(1.0, max_px / max(h, w))
    if scale < 1.0:
        new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
        rgb = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA)
        transform = transform @ Affine.scale(w / new_w, h / new_h)
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    to_map = Transformer.from_crs(CRS.from_epsg(4326), CRS.from_user_input(crs), always_xy=True)
    radius = max(9, round(max(bgr.shape[:2]) / 120))
    # Rank 1 drawn last so it stays on top where markers overlap.
    for t in sorted(targets, key=lambda t: -t.rank):
        x, y = to_map.transform(t.lon, t.lat)
        col, row = ~transform @ (x, y)
        if not (
            -radius <= col <= bgr.shape[1] + radius and -radius <= row <= bgr.shape[0] + radius
        ):
            continue  # off the overview (or not finite): nothing to draw
        centre = (int(round(col)), int(round(row)))
        cv2.circle(bgr, centre, radius, hex_to_bgr(conf_band(t.conf)[1]), -1, cv2.LINE_AA)
        cv2.circle(bgr, centre, radius, (0, 0, 0), 1, cv2.LINE_AA)
        label = str(t.rank)
        font_scale = radius / 14
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        origin = (centre[0] - tw // 2, centre[1] + th // 2)
        cv2.putText(
            bgr, label, origin, cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), 1, cv2.LINE_AA
        )
    return bgr[:, :, ::-1].copy()


def _as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ConfigError(
            f"overview image has shape {image.shape}: expected H x W x 3 (channels last; "
            "use rasterio.plot.reshape_as_image on a bands-first array)"
        )
    bands = image[:, :, :3] if image.shape[2] >= 3 else np.repeat(image, 3, axis=2)
    return np.moveaxis(display_uint8(np.moveaxis(bands, -1, 0)), 0, -1)


def _summary(
    targets,
    *,
    mission,
    model_id,
    coverage_area_km2,
    chips_processed,
    chips_skipped,
    figures,
    generated_at,
) -> str:
    bands = [conf_band(t.conf)[0] for t in targets]
    rows: list[tuple[str, Any]] = [
        ("Mission", mission),
        ("Targets", len(targets)),
        (
            "High / medium / low confidence",
            f"{bands.count('high')} / {bands.count('medium')} / {bands.count('low')}",
        ),
        ("Total plot area", f"{sum(t.area_m2 for t in targets):,.0f} m2"),
        ("Area searched", _km2(coverage_area_km2)),
        ("Chips processed / skipped", f"{_count(chips_processed)} / {_count(chips_skipped)}"),
        ("Model", model_id),
        ("Generated (UTC)", generated_at),
    ]
    rows += list((figures or {}).items())
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<h2>Summary</h2><table class="summary">{body}</table>'


def _target_table(targets: Sequence[Target], root: Path) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "Rank",
            "Target",
            "Confidence",
            "Area (m2)",
            "Lat",
            "Lon",
            "Status",
            "Sources",
            "Thumbnail",
        )
    )
    rows = []
    for t in targets:
        lat, lon = lat_lon_text(t.lat, t.lon)
        colour = conf_band(t.conf)[1]
        cells = [
            _e(t.rank),
            f'<span class="dot" style="background:{colour}"></span>{_e(t.target_id)}'
            + (f'<br><small>run id {_e(t.run_target_id)}</small>' if t.run_target_id else ""),
            f"{t.conf * 100:.0f}&nbsp;%",
            f"{t.area_m2:,.0f}",
            f'<a href="geo:{lat},{lon}">{lat}</a>',
            f'<a href="geo:{lat},{lon}">{lon}</a>',
            _e(t.status),
            _e("; ".join(t.sources)),
            _thumbnail_img(t, root),
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    if not rows:
        return "<h2>Targets</h2><p>No targets above the thresholds.</p>"
    return f'<h2>Targets</h2><table class="targets"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _thumbnail_img(t: Target, root: Path) -> str:
    if not t.thumbnail:
        return "&ndash;"
    file = root / t.thumbnail
    mime = _MIME.get(file.suffix.lower())
    if mime is None or not file.is_file():
        return f"missing: {_e(t.thumbnail)}"
    data = base64.b64encode(file.read_bytes()).decode("ascii")
    return f'<img class="thumb" alt="{_e(t.target_id)}" src="data:{mime};base64,{data}">'


def _overviews(overview, targets: Sequence[Target], max_px: int) -> str:
    """One figure, or one per group of files lying far apart (``[(caption, overview)]``)."""
    groups = overview if isinstance(overview, list) else [("", overview)]
    parts = ["<h2>Overview</h2>"]
    if len(groups) > 1:
        parts.append(f'<p class="warn">The orthomosaics lie in {len(groups)} areas far apart; '
                     "each is drawn on its own map below.</p>")
    for caption, view in groups:
        jpeg = _jpeg(draw_overview(view, targets, max_px=max_px))
        parts.append(
            f'<figure><img class="overview" alt="overview with targets numbered by rank" '
            f'src="{jpeg}"><figcaption>{_e(caption) + ": " if len(groups) > 1 else ""}'
            "Markers are numbered by rank; colour = confidence "
            "(red &ge; 80&nbsp;%, orange &ge; 50&nbsp;%, yellow below).</figcaption></figure>")
    return "".join(parts)


def _skipped(skipped: Sequence[Mapping[str, str]]) -> str:
    if not skipped:
        return ""
    rows = "".join(f"<tr><td>{_e(s['path'])}</td><td>{_e(s['reason'])}</td></tr>" for s in skipped)
    return (f"<h2>Files skipped ({len(skipped)})</h2><p>Unusable inputs left out of this run "
            "(--skip-unusable): nothing was searched in them.</p>"
            f'<table class="summary"><thead><tr><th>File</th><th>Why</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def _coverage(coverage_area_km2, chips_processed, chips_skipped) -> str:
    done, skipped = chips_processed or 0, chips_skipped or 0
    share = f"{done / (done + skipped) * 100:.1f}&nbsp;%" if done + skipped else "&ndash;"
    return (
        '<h2>Coverage</h2><table class="summary">'
        f"<tr><th>Area searched</th><td>{_e(_km2(coverage_area_km2))}</td></tr>"
        f"<tr><th>Chips processed</th><td>{_e(_count(chips_processed))}</td></tr>"
        f"<tr><th>Chips skipped (nodata)</th><td>{_e(_count(chips_skipped))}</td></tr>"
        f"<tr><th>Share of chips processed</th><td>{share}</td></tr></table>"
        "<p>No target outside the searched area does not mean there is nothing there.</p>"
    )


def _jpeg(rgb: np.ndarray, quality: int = 85) -> str:
    ok, buf = cv2.imencode(
        ".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise ConfigError("overview image could not be encoded as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _head(title: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
    )


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _km2(value: float | None) -> str:
    return "not recorded" if value is None else f"{value:,.3f} km2"


def _count(value: int | None) -> str:
    return "not recorded" if value is None else f"{value:,d}"


_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1400px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.5em;border-bottom:1px solid #ccc}
.warn{background:#fff3cd;border:1px solid #e0c060;padding:.5em}
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:middle}
table.targets td:nth-child(1),table.targets td:nth-child(3),table.targets td:nth-child(4){text-align:right}
.summary th{background:#f4f4f4}
img.overview{max-width:100%;height:auto;border:1px solid #999}
img.thumb{width:128px;height:auto;display:block}
.dot{display:inline-block;width:.8em;height:.8em;border-radius:50%;margin-right:.4em;border:1px solid #333}
@media print{img.thumb{width:96px}}
"""


def _looked_for(targets: Sequence[Target], classes: Sequence[str] = ()) -> str:
    """``poppy plots`` or ``tree, shrub targets``: what the model looks for, by its class names.

    From the model's classes when known, so a run without targets keeps its title.
    """
    labels = sorted(set(classes) or {t.label for t in targets})
    if labels == ["poppy"]:
        return "poppy plots"
    return f"{', '.join(labels)} targets" if labels else "targets"
