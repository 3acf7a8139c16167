"""Office triage of a detection run: keep, reject or leave unsure each target before crews walk.

Most false targets are recognised from their thumbnail in seconds. A review
works on a published run folder (``poppyscan detect --out RUN_DIR``):

* On first opening, the run as published is copied to ``RUN_DIR/review/original/``
  (run.json, the GeoJSONs, coverage, thumbnails), and each target gets two
  views from its orthomosaic (``review/zoom/<id>-near.jpg``: the target and
  2 m around it; ``-far.jpg``: 40 m of context), the run's thumbnail when the
  orthomosaic has moved.
* Decisions (``keep``, ``reject``, ``unsure``) go to ``RUN_DIR/review.json`` at
  once, atomically; undecided targets count as unsure.
* :meth:`Review.apply` republishes the field outputs without the rejected
  targets through the run's :class:`~poppyscan.output_folder.OutputFolder`
  (staging, then rename; ``run.json`` last), so the folder stays complete and
  :func:`~poppyscan.output_folder.verify_outputs` passes. Kept targets keep
  their ids (crews and the registry know them by id) and are ranked 1..n in
  their old order. It also writes ``RUN_DIR/rejected.geojson`` (the rejected
  outlines: hard negatives for ``dataset build --hard-negatives``) and, with a
  registry, records the original run there and each rejection as a verdict
  ``false_positive`` of crew ``office`` (a thumbnail review, not a field visit;
  a later rejection undone stays in the registry's history).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from poppyscan.atomic import atomic_write_text
from poppyscan.detect.export import write_thumbnail
from poppyscan.detect.export._rfc7946 import dumps, feature, feature_collection
from poppyscan.detect.export.manifest import MANIFEST, read_run
from poppyscan.detect.republish import read_targets, republish
from poppyscan.detect.targets import Target
from poppyscan.errors import ConfigError, OutputError, RasterError
from poppyscan.output_folder import verify_outputs
from poppyscan.provenance import utc_now

__all__ = ["DECISIONS", "REJECTED", "REVIEW_FILE", "Applied", "Review"]

DECISIONS = ("keep", "reject", "unsure")
REVIEW_FILE, REJECTED, REVIEW_DIR = "review.json", "rejected.geojson", "review"
SNAPSHOT = ("run.json", "targets.geojson", "plots.geojson", "coverage.geojson", "thumbs")
NEAR_PAD_M, FAR_PAD_M, VIEW_PX = 2.0, 40.0, 320
OFFICE_CREW = "office"


@dataclass(frozen=True)
class Applied:
    """What :meth:`Review.apply` published."""

    kept: int
    rejected: int
    unsure: int
    rejected_path: Path
    verdicts_applied: int | None = None  # into the registry; None without one


class Review:
    """The review of one run folder: its targets as published first, and the decisions so far."""

    def __init__(self, run_dir: Path, targets: list[Target], manifest: dict,
                 decisions: dict[str, dict]) -> None:
        self.run_dir = run_dir
        self.targets = targets  # as first published, in rank order
        self.manifest = manifest  # run.json as first published
        self.decisions = decisions  # target id -> {"decision", "at"}

    @classmethod
    def open(cls, run_dir: str | os.PathLike) -> Review:
        """Open (or start) the review of ``run_dir``, a complete published run folder."""
        run_dir = Path(run_dir)
        original = run_dir / REVIEW_DIR / "original"
        if not (original / MANIFEST).is_file():
            read_run(run_dir)  # a damaged run.json: one line naming it, before any check reads it
            problems = verify_outputs(run_dir, MANIFEST)
            if problems:
                raise OutputError(f"{run_dir}: not a complete run folder to review ({problems[0]})")
            _snapshot(run_dir, original)
        manifest = read_run(original)
        targets = read_targets(original / "plots.geojson")
        decisions = _read_decisions(run_dir / REVIEW_FILE)
        review = cls(run_dir, targets, manifest, decisions)
        review._make_views()
        return review

    def view(self, target_id: str, zoom: str) -> Path:
        """The JPEG of target ``target_id`` at ``zoom`` ``near`` or ``far``."""
        if zoom not in ("near", "far") or target_id not in {t.target_id for t in self.targets}:
            raise ConfigError(f"no view {zoom!r} of target {target_id!r} in {self.run_dir}")
        return self.run_dir / REVIEW_DIR / "zoom" / f"{target_id}-{zoom}.jpg"

    def decide(self, target_id: str, decision: str) -> None:
        """Record ``decision`` (keep, reject, unsure) for ``target_id`` in review.json now."""
        if decision not in DECISIONS:
            raise ConfigError(f"decision {decision!r} is not one of {', '.join(DECISIONS)}")
        if target_id not in {t.target_id for t in self.targets}:
            raise ConfigError(f"{self.run_dir}: no target {target_id!r} in this run")
        self.decisions[target_id] = {"decision": decision, "at": utc_now()}
        atomic_write_text(self.run_dir / REVIEW_FILE, json.dumps(
            {"run_id": (self.manifest.get("extra") or {}).get("run_id"), "decisions": self.decisions},
            indent=2, sort_keys=True) + "\n")

    def decision(self, target_id: str) -> str | None:
        entry = self.decisions.get(target_id)
        return entry["decision"] if entry else None

    def counts(self) -> dict[str, int]:
        """Targets per decision (``undecided`` for those without one)."""
        counts = Counter(self.decision(t.target_id) or "undecided" for t in self.targets)
        return {k: counts.get(k, 0) for k in (*DECISIONS, "undecided")}

    def apply(self, registry: str | os.PathLike | None = None) -> Applied:
        """Republish the field outputs without the rejected targets; write rejected.geojson."""
        rejected = [t for t in self.targets if self.decision(t.target_id) == "reject"]
        kept = [dataclasses.replace(t, rank=i) for i, t in enumerate(
            (t for t in self.targets if self.decision(t.target_id) != "reject"), start=1)]
        self._publish(kept, len(rejected))
        path = self.run_dir / REJECTED
        atomic_write_text(path, dumps(feature_collection([
            feature(t.target_id, t.polygon, {"target_id": t.target_id, "conf": t.conf,
                                             "area_m2": t.area_m2, "rejected_at":
                                             self.decisions[t.target_id]["at"]})
            for t in rejected])))
        verdicts = None if registry is None else self._to_registry(registry, rejected)
        unsure = sum(self.decision(t.target_id) in (None, "unsure") for t in self.targets)
        return Applied(len(kept), len(rejected), unsure, path, verdicts)

    def _publish(self, kept: list[Target], n_rejected: int) -> None:
        republish(self.run_dir, kept, self.manifest, source=self.run_dir / REVIEW_DIR / "original",
                  thumbs={t.target_id: t.thumbnail for t in kept if t.thumbnail},
                  extra={"review": {"reviewed_at": utc_now(), "kept": len(kept),
                                    "rejected": n_rejected, "targets_before": len(self.targets)}})

    def _to_registry(self, registry: str | os.PathLike, rejected: list[Target]) -> int:
        """Record the run as first published; each rejection becomes an office verdict."""
        from poppyscan.field.registry import VerdictRow, connect, record_run, record_verdicts

        original = self.run_dir / REVIEW_DIR / "original"
        run_id = record_run(registry, original).run_id
        with connect(registry, write=False) as con:
            ids = dict(con.execute("SELECT run_target_id, target_id FROM sightings WHERE run_id = ?",
                                   (run_id,)).fetchall())
        if not rejected:
            return 0
        rows = [VerdictRow(ids[t.run_target_id or t.target_id], "false_positive",
                           self.decisions[t.target_id]["at"], OFFICE_CREW,
                           f"rejected in office triage of run {run_id} "
                           f"({t.run_target_id or t.target_id}), from the thumbnail", "",
                           where=f"review of {self.run_dir.name}, {t.target_id}")
                for t in rejected]
        return record_verdicts(registry, rows, source=str(self.run_dir / REVIEW_FILE)).applied

    def _make_views(self) -> None:
        """Near and far views of each target from its orthomosaic (once; the run's thumbnail if gone)."""
        zoom = self.run_dir / REVIEW_DIR / "zoom"
        sources = {label: Path(path) for path, label in
                   ((self.manifest.get("extra") or {}).get("sources") or {}).items()}
        original = self.run_dir / REVIEW_DIR / "original"
        for t in self.targets:
            for name, pad_m in (("near", NEAR_PAD_M), ("far", FAR_PAD_M)):
                out = zoom / f"{t.target_id}-{name}.jpg"
                if out.is_file():
                    continue
                raster = sources.get(t.sources[0]) if t.sources else None
                try:
                    if raster is None or not raster.is_file():
                        raise RasterError(f"{raster}: gone")
                    write_thumbnail(raster, t.polygon, out, polygon_crs="EPSG:4326", pad_m=pad_m,
                                    size_px=VIEW_PX, line_px=1 if name == "near" else 2)
                except RasterError:
                    out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(original / (t.thumbnail or ""), out)


def _read_decisions(path: Path) -> dict[str, dict]:
    """review.json's decisions (none yet without one); ConfigError naming a damaged file."""
    if not path.is_file():
        return {}
    try:
        decisions = json.loads(path.read_bytes())["decisions"]
        if all(isinstance(d, dict) and d.get("decision") in DECISIONS
               and isinstance(d.get("at"), str) for d in decisions.values()):
            return decisions
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    raise ConfigError(f"{path}: damaged (not the decisions poppyscan review writes); move it "
                      "away to start the review again")


def _snapshot(run_dir: Path, original: Path) -> None:
    """Copy the published outputs the review rewrites, run.json last (it marks the copy complete)."""
    original.mkdir(parents=True, exist_ok=True)
    for name in SNAPSHOT[1:]:
        src = run_dir / name
        if src.is_dir():
            shutil.copytree(src, original / name, dirs_exist_ok=True)
        elif src.is_file():
            shutil.copy2(src, original / name)
    shutil.copy2(run_dir / MANIFEST, original / MANIFEST)
