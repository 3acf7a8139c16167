"""Held-out scores as the demo model's card and table show them, and what false targets lie on.

One row per GSD group (:func:`heldout_row`), a Markdown table of them
(:func:`heldout_markdown`), and each false target of the headline size with what
it lies on (:func:`held_out_false_targets`, counted by :func:`lie_on_counts`).

>>> lie_on_counts([("open ground", None), ("maize", None), ("maize", None)])
{'maize': 2, 'open ground': 1}
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely

__all__ = ["OPEN_GROUND", "ON_A_PLOT", "held_out_false_targets", "heldout_markdown",
           "heldout_row", "lie_on", "lie_on_counts", "read_lookalikes"]

ON_A_PLOT = "a plot (loose or second box)"
OPEN_GROUND = "open ground"


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def heldout_row(report: Any) -> dict[str, Any]:
    """The card's row of an evaluation report (``train.evaluate``): counts, recall, precision."""
    big, small, score = report.score_min_area, report.recall_by_size["<20"], report.score
    return {
        "area_km2": _round(score.area_km2), "plots": score.n_plots,
        "targets": score.n_targets, "recall": _round(score.recall),
        "precision": _round(score.precision), "false_per_km2": _round(score.false_per_km2, 1),
        "plots_ge20": big.n_plots, "recall_ge20": _round(big.recall),
        "precision_ge20": _round(big.precision),
        "plots_lt20": small["plots"], "recall_lt20": small["recall"],
        "recall_by_stage": {k: v["recall"] for k, v in report.recall_by_stage.items()},
    }


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.1f}" if value >= 10 else f"{value:.3f}"
    return str(value)


def heldout_markdown(rows: dict[str, dict], model_id: str) -> str:
    """The held-out table: one line per GSD group and ``all``, then time and what lies under."""
    stages = sorted({s for r in rows.values() for s in r["recall_by_stage"]})
    head = ["GSD", "surveys", "km2", "plots >=20 m2", "recall >=20", "precision >=20",
            "plots <20 m2", "recall <20", "false/km2", *[f"recall {s}" for s in stages]]
    lines = [f"Held-out surveys, {model_id}:", "| " + " | ".join(head) + " |",
             "|" + " --- |" * len(head)]
    for name, r in rows.items():
        cells = [name, r["surveys"], r["area_km2"], r["plots_ge20"], r["recall_ge20"],
                 r["precision_ge20"], r["plots_lt20"], r["recall_lt20"],
                 None if r["false_per_km2"] is None else round(r["false_per_km2"], 1),
                 *[r["recall_by_stage"].get(s) for s in stages]]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines.append(f"CPU detection time: {rows['all']['cpu_s_per_km2']} s per km2 (this machine)")
    lie_on_all = rows["all"].get("false_ge20_lie_on", {})
    lines.append("False targets >= 20 m2 lie on: "
                 + (", ".join(f"{what} {n}" for what, n in lie_on_all.items()) or "none"))
    return "\n".join(lines)


def lie_on_counts(false_targets: Sequence[tuple[str, object]]) -> dict[str, int]:
    """How many false targets lie on each thing, most common first (then by name)."""
    counts: dict[str, int] = {}
    for what, _ in false_targets:
        counts[what] = counts.get(what, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def read_lookalikes(surveys: Sequence[Path], crs: Any) -> tuple[np.ndarray, np.ndarray]:
    """The generator's look-alikes of ``surveys`` (``distractors.geojson``) in ``crs``, and kinds."""
    import pyogrio

    from poppyscan.tiles.geometry import reproject_geometry

    looks, kinds = [], []
    for survey in surveys:
        meta, _, wkb, fields = pyogrio.raw.read(Path(survey).parent / "distractors.geojson")
        looks.append(reproject_geometry(shapely.from_wkb(wkb), meta["crs"], crs))
        kinds.append(fields[list(meta["fields"]).index("kind")])
    if not looks:
        return np.array([], dtype=object), np.array([], dtype=object)
    return np.concatenate(looks), np.concatenate(kinds)


def lie_on(polygon: shapely.Geometry, plots: np.ndarray, looks: np.ndarray,
           kinds: np.ndarray) -> str:
    """A plot (touched, not matched), the look-alike it overlaps most, or open ground."""
    if len(plots) and shapely.intersects(plots, polygon).any():
        return ON_A_PLOT
    over = shapely.area(shapely.intersection(looks, polygon)) if len(looks) else np.zeros(0)
    if over.max(initial=0.0) > 0:
        return str(kinds[int(over.argmax())])
    return OPEN_GROUND


def held_out_false_targets(bundle: Any, result: Any, truth: Any, surveys: Sequence[Path],
                           conf: float | None = None) -> list[tuple[str, Any]]:
    """The false targets that count against precision >= the card's headline area, each with
    what it lies on (:func:`lie_on`), most confident first.

    Targets and matching as the scores make them: the card's conf (or ``conf``) and
    merge rule, one to one at the default IoU against the plots the run covered.
    """
    from poppyscan.train.scoring import (
        DEFAULT_MATCH_IOU,
        covered_plots,
        match_targets,
        targets_at,
    )

    min_area_m2 = float(bundle.card.get("headline_min_area_m2", 20.0))
    targets = targets_at(result.detections, bundle.conf if conf is None else conf,
                         bundle.merge_settings())
    polygons = np.array([t.polygon for t in targets], dtype=object)
    matched = match_targets(polygons, [t.conf for t in targets],
                            truth.geometries[covered_plots(truth, result.coverage)],
                            match_iou=DEFAULT_MATCH_IOU)
    looks, kinds = read_lookalikes(surveys, result.crs)
    found = [(lie_on(polygon, truth.geometries, looks, kinds), targets[i])
             for i, polygon in enumerate(polygons)
             if i not in matched and polygon.area >= min_area_m2]
    return sorted(found, key=lambda item: -item[1].conf)
