"""A published run folder, read back and published again with changed targets.

Two things rewrite a run's outputs after detection: office review drops the
rejected targets (:mod:`poppyscan.field.review`), and a mission registry gives
each target the registry's id (:func:`name_targets`). Both go through
:func:`republish`: the same writers, staging folder and ``run.json`` last as
the first publication, so :func:`~poppyscan.output_folder.verify_outputs`
still passes.

``detect`` never reads a registry: the names come in as a plain mapping from
the run's own ids, supplied by whoever matched the run (the API or the CLI).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import shapely
from shapely.geometry import shape

from poppyscan.atomic import atomic_write_text
from poppyscan.detect.export import write_all
from poppyscan.detect.export.manifest import file_record, read_run
from poppyscan.detect.run import MANIFEST, OUTPUTS
from poppyscan.detect.targets import Target
from poppyscan.errors import ConfigError, OutputError
from poppyscan.output_folder import OutputFolder, verify_outputs

__all__ = ["name_targets", "read_coverage", "read_targets", "republish", "run_overview"]


def read_targets(plots_geojson: Path) -> list[Target]:
    """A run's targets back from its plots.geojson (every Target field is a property), by rank."""
    features = json.loads(Path(plots_geojson).read_text())["features"]
    fields = {f.name for f in dataclasses.fields(Target)} - {"polygon"}
    targets = []
    for f in features:
        props = {k: v for k, v in f["properties"].items() if k in fields}
        props["sources"] = tuple(s for s in (props.get("sources") or "").split(";") if s)
        targets.append(Target(polygon=shape(f["geometry"]), **props))
    return sorted(targets, key=lambda t: t.rank)


def read_coverage(path: Path):
    """``(coverage, crs)`` of a run's coverage.geojson, or None without one."""
    if not path.is_file():
        return None
    geoms = [shape(f["geometry"]) for f in json.loads(path.read_text())["features"]]
    return shapely.union_all(geoms) if geoms else shapely.MultiPolygon(), "EPSG:4326"


def run_overview(manifest: dict):
    """The report's mission overview, when the run's orthomosaics are still where they were."""
    from poppyscan.detect.export.overview import mission_overviews
    from poppyscan.tiles import inspect_raster

    paths = [Path(i["path"]) for i in manifest.get("inputs", [])]
    if not paths or not all(p.is_file() for p in paths):
        return None
    infos = [inspect_raster(p) for p in paths]
    labels = (manifest.get("extra") or {}).get("sources")
    return mission_overviews(infos, infos[0].crs, labels=labels)


def republish(run_dir: Path, targets: Sequence[Target], manifest: dict, *, source: Path,
              thumbs: Mapping[str, str], extra: Mapping) -> None:
    """Publish ``targets`` into ``run_dir`` again, with ``manifest`` (run.json) updated.

    ``thumbs``: new target id -> its thumbnail's path relative to ``source`` (a
    copy of the run, or the run folder itself); each is copied to
    ``thumbs/<id>.jpg``. ``extra`` is merged into run.json's ``extra``.
    """
    folder = OutputFolder(run_dir, OUTPUTS, manifest=MANIFEST)
    counts = manifest.get("counts", {})
    with folder.open():
        staging = folder.staging()
        (staging / "thumbs").mkdir()
        placed = []
        for t in targets:
            old, rel = thumbs.get(t.target_id), None
            if old and (source / old).is_file():
                rel = f"thumbs/{t.target_id}.jpg"
                shutil.copy2(source / old, staging / rel)
            placed.append(dataclasses.replace(t, thumbnail=rel))
        written = write_all(
            staging, placed, mission=manifest.get("settings", {}).get("mission") or
            (placed[0].mission if placed else ""), model_id=manifest["model"]["model_id"],
            coverage=read_coverage(source / "coverage.geojson"), overview=run_overview(manifest),
            chips_processed=counts.get("chips_processed"),
            chips_skipped=counts.get("chips_skipped_collar"),
            skipped=(manifest.get("extra") or {}).get("skipped") or (),
            classes=manifest["model"].get("classes") or ())
        manifest = {**manifest, "counts": {**counts, "targets": len(placed)},
                    "outputs": [file_record(p, relative_to=staging) for p in written.values()],
                    "extra": {**(manifest.get("extra") or {}), **extra}}
        atomic_write_text(staging / MANIFEST, json.dumps(manifest, indent=2) + "\n")
        folder.publish(staging)


def name_targets(run_dir: str | os.PathLike, names: Mapping[str, str], *,
                 named_by: str, run_id: str | None = None) -> int:
    """Rename the run's targets ``run id -> name`` (a registry's ids); return how many changed.

    The run's own id stays on each target as ``run_target_id``; thumbnails take
    the new names. Naming again with the same mapping changes nothing.
    ``named_by`` (e.g. the registry's file name) goes into run.json, and
    ``run_id`` too when it has none (its identity must not change with it).
    """
    run_dir = Path(run_dir)
    problems = verify_outputs(run_dir, MANIFEST)
    if problems:
        raise OutputError(f"{run_dir}: not a complete run folder to name ({problems[0]})")
    manifest = read_run(run_dir)
    if run_id and not manifest.get("run_id"):
        manifest["run_id"] = run_id
    targets = read_targets(run_dir / "plots.geojson")
    renamed, thumbs, changed = [], {}, 0
    for t in targets:
        own_id = t.run_target_id or t.target_id  # the id the run gave it
        if own_id not in names:
            raise ConfigError(f"{run_dir}: target {own_id} has no name in {named_by}")
        new = names[own_id]
        changed += new != t.target_id
        renamed.append(dataclasses.replace(t, target_id=new, run_target_id=own_id))
        if t.thumbnail:
            thumbs[new] = t.thumbnail
    if changed:
        republish(run_dir, renamed, manifest, source=run_dir, thumbs=thumbs,
                  extra={"names": {"by": named_by, "n": len(renamed)}})
    return changed
