"""What a built dataset holds: its files and ``summary.json``."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from poppyscan.errors import ConfigError
from poppyscan.tiles.raster import RasterInfo

__all__ = ["DATA_YAML", "INDEX_NAME", "OUTPUTS", "SUMMARY_NAME", "DatasetSummary", "data_yaml_text",
           "load_summary", "native_gsd_m", "relative_names"]

DATA_YAML, INDEX_NAME, SUMMARY_NAME = "data.yaml", "chips.gpkg", "summary.json"
OUTPUTS = (DATA_YAML, INDEX_NAME, SUMMARY_NAME, "images", "labels")
NATIVE_GSD_TOLERANCE = 0.01  # native GSD: every orthomosaic's pixel within 1 % of the first's


@dataclass(frozen=True)
class DatasetSummary:
    """What a built dataset holds (``summary.json``)."""

    path: Path
    class_names: tuple[str, ...]
    gsd_m: float
    tile_px: int
    overlap_px: int
    crs: str
    sources: tuple[str, ...]
    splits: dict[str, dict[str, Any]]  # split -> images, positive, negative, labels per class
    counts: dict[str, int]  # what was dropped or left over, see build_dataset
    options: dict[str, Any]

    @property
    def data_yaml(self) -> Path:
        return self.path / DATA_YAML

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``path`` left out: the summary lives in the dataset folder)."""
        return {
            "class_names": list(self.class_names), "gsd_m": self.gsd_m, "tile_px": self.tile_px,
            "overlap_px": self.overlap_px, "crs": self.crs, "sources": list(self.sources),
            "splits": self.splits, "counts": self.counts, "options": self.options,
        }


def load_summary(data_dir: str | os.PathLike) -> DatasetSummary:
    """Read ``summary.json`` of a dataset built by ``build_dataset``."""
    data_dir = Path(data_dir)
    path = data_dir / SUMMARY_NAME
    if not path.is_file() or not (data_dir / DATA_YAML).is_file():
        raise ConfigError(
            f"{data_dir}: not a poppyscan dataset (no {SUMMARY_NAME} / {DATA_YAML}); "
            "build one with `poppyscan dataset build`"
        )
    raw = json.loads(path.read_text())
    return DatasetSummary(
        data_dir, tuple(raw["class_names"]), float(raw["gsd_m"]), int(raw["tile_px"]),
        int(raw["overlap_px"]), raw["crs"], tuple(raw["sources"]), raw["splits"], raw["counts"],
        raw["options"],
    )


def data_yaml_text(names: Sequence[str], splits: Sequence[str]) -> str:
    """Ultralytics' ``data.yaml`` for class ``names`` and the ``splits`` that got chips."""
    data: dict[str, Any] = {s: f"images/{s}" for s in splits}
    data["nc"] = len(names)
    data["names"] = dict(enumerate(names))
    header = (
        "# Built by poppyscan. No `path:` on purpose: Ultralytics resolves the splits against\n"
        "# this file's folder, so the dataset works from anywhere and after being moved.\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def native_gsd_m(infos: Sequence[RasterInfo]) -> float:
    """The GSD all ``infos`` share (the first one's), for chips at the source resolution.

    Every pixel side must lie within NATIVE_GSD_TOLERANCE (1 %) of it: a model
    learns one ground scale, and detection later resamples to it.
    """
    gsd_m = infos[0].res_m[0]
    for info in infos:
        for side in info.res_m:
            if abs(side - gsd_m) > NATIVE_GSD_TOLERANCE * gsd_m:
                raise ConfigError(
                    f"{info.path}: pixels of {info.res_m[0]:g} x {info.res_m[1]:g} m, but "
                    f"{infos[0].name} has {gsd_m:g} m; native GSD needs every orthomosaic within "
                    f"{NATIVE_GSD_TOLERANCE:.0%} of one GSD: pass --gsd METRES to resample them"
                )
    return round(float(gsd_m), 9)


def relative_names(paths: Sequence[str | os.PathLike]) -> tuple[str, ...]:
    """Each path relative to the paths' common folder (``s100/ortho.tif``)."""
    paths = [Path(p).resolve() for p in paths]
    common = Path(os.path.commonpath([p.parent for p in paths]))
    return tuple(p.relative_to(common).as_posix() for p in paths)
