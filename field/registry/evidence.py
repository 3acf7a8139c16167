"""Verdicts as training evidence: confirmed outlines (labels) and false positives (negatives).

Only verdicts that meet the analyst's :class:`EvidenceRule` count: a status in
``positive`` or ``negative``, a visit date (always), a photo when
``require_photo``, a visit on or after ``visited_since``. Disputed targets
never count. A target's evidence is its latest effective verdict.

The outline of a positive is the latest sighting flown on or before the visit
(a flight after an eradication shows bare ground); negatives take every such
sighting (each is a place the model fired on). With ``inputs`` (the
orthomosaics of the dataset), only sightings of runs over those files count,
so each outline was drawn on the imagery it will label.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from poppyscan.detect.targets import STATUSES
from poppyscan.errors import ConfigError
from poppyscan.field.registry.gpkg import decode_geometry
from poppyscan.field.registry.refresh import target_verdicts
from poppyscan.field.registry.schema import connect
from poppyscan.field.registry.timefmt import iso_utc

__all__ = ["EvidenceRule", "VerdictFeatures", "verdict_features"]


@dataclass(frozen=True)
class EvidenceRule:
    """Which verdicts become labels (``positive``) and hard negatives (``negative``)."""

    positive: tuple[str, ...] = ("confirmed", "eradicated")
    negative: tuple[str, ...] = ("false_positive",)
    require_photo: bool = False
    visited_since: str | None = None  # ISO date; earlier visits do not count

    def __post_init__(self) -> None:
        object.__setattr__(self, "positive", tuple(self.positive))
        object.__setattr__(self, "negative", tuple(self.negative))
        bad = sorted(set(self.positive + self.negative) - (set(STATUSES) - {"pending"}))
        if bad:
            raise ConfigError(f"evidence statuses {', '.join(bad)} are invalid: use "
                              f"{', '.join(s for s in STATUSES if s != 'pending')}")
        if set(self.positive) & set(self.negative):
            raise ConfigError("a status cannot be both positive and negative evidence: "
                              f"{', '.join(sorted(set(self.positive) & set(self.negative)))}")
        if self.visited_since is not None:
            object.__setattr__(self, "visited_since",
                               iso_utc(self.visited_since, what="visited_since"))


@dataclass(frozen=True)
class VerdictFeatures:
    """Lon/lat (EPSG:4326) outlines of positives and negatives, with their target ids."""

    positives: np.ndarray
    positive_ids: tuple[str, ...]
    negatives: np.ndarray
    negative_ids: tuple[str, ...]
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> targets left out


def verdict_features(registry: str | os.PathLike, rule: EvidenceRule = EvidenceRule(), *,
                     inputs: Sequence[str | os.PathLike] | None = None) -> VerdictFeatures:
    """The evidence in ``registry`` under ``rule`` (see the module doc)."""
    pos, pos_ids, neg, neg_ids, rejected = [], [], [], [], Counter()
    with connect(registry, write=False) as con:
        runs = _runs_over(con, inputs)
        for target_id, state in con.execute("SELECT target_id, state FROM targets ORDER BY fid"):
            verdict = _evidence(con, target_id, state, rule, rejected)
            if verdict is None:
                continue
            outlines = [decode_geometry(g) for g, run in con.execute(
                "SELECT geom, run_id FROM sightings WHERE target_id = ? AND flown_at <= ? "
                "ORDER BY flown_at, fid", (target_id, verdict.visited_at))
                if runs is None or run in runs]
            if not outlines:
                rejected["no sighting before the visit in the given imagery"] += 1
            elif verdict.status in rule.positive:
                pos.append(outlines[-1])
                pos_ids.append(target_id)
            else:
                neg.extend(outlines)
                neg_ids.extend([target_id] * len(outlines))
    return VerdictFeatures(*_polygons(pos, pos_ids), *_polygons(neg, neg_ids), dict(rejected))


def _evidence(con, target_id: str, state: str, rule: EvidenceRule, rejected: Counter):
    """The target's latest effective verdict when it meets ``rule``; else None (reason counted)."""
    verdicts = target_verdicts(con, target_id)
    if not verdicts:
        return None
    latest = verdicts[-1]
    if latest.status not in rule.positive + rule.negative:
        return None
    reason = None
    if state == "disputed":
        reason = "disputed"
    elif not latest.visited_at:
        reason = "no visit date"
    elif rule.visited_since and latest.visited_at < rule.visited_since:
        reason = "visited before visited_since"
    elif rule.require_photo and not _photo(con, target_id, latest):
        reason = "no photo"
    if reason:
        rejected[reason] += 1
        return None
    return latest


def _photo(con, target_id: str, verdict) -> bool:
    row = con.execute("SELECT photo FROM verdicts WHERE target_id = ? AND status = ? AND "
                      "visited_at IS ? AND crew = ? ORDER BY fid DESC LIMIT 1",
                      (target_id, verdict.status, verdict.visited_at, verdict.crew)).fetchone()
    return bool(row and row[0])


def _runs_over(con, inputs) -> set[str] | None:
    """Runs that read one of ``inputs`` (same resolved path, or same name and size)."""
    if inputs is None:
        return None
    paths = {str(Path(p).resolve()) for p in inputs}
    sized = {(Path(p).name, Path(p).stat().st_size) for p in inputs if Path(p).is_file()}
    runs = set()
    for run_id, raw in con.execute("SELECT run_id, inputs FROM runs"):
        for record in json.loads(raw):
            path = str(record.get("path") or "")
            if (path and str(Path(path).resolve()) in paths) or \
                    (record.get("name"), record.get("bytes")) in sized:
                runs.add(run_id)
    return runs


def _polygons(geoms: list, ids: list[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """MultiPolygon outlines split into Polygons (what a LabelSet holds), ids repeated."""
    pairs = [(p, i) for g, i in zip(geoms, ids, strict=True) for p in getattr(g, "geoms", [g])]
    return np.array([p for p, _ in pairs], dtype=object), tuple(i for _, i in pairs)
