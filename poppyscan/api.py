"""poppyscan's Python API: the functions the ``poppyscan`` command runs.

Settings not passed fall back to a ``config`` YAML file (or a built-in preset)
and then to the built-in defaults in ``configs/`` (see :mod:`poppyscan.config`).
Long-running functions take a ``progress`` object (:class:`poppyscan.progress.Progress`:
``start(total)``, ``source(label, i, n)``, ``advance(n)``); none means silence.

>>> import poppyscan.api as ps
>>> ps.default_settings("detect")["batch_size"]
8

A whole run, as the README shows::

    run = ps.detect(["flight1/odm_orthophoto.tif"], "targets")
    for target in run.targets[:3]:
        print(target.target_id, round(target.conf, 2), target.lat, target.lon)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poppyscan.api_field import (
    field_package,
    import_verdicts,
    open_review,
    record_run,
    registry_status,
)
from poppyscan.api_scoring import calibrate, compare, evaluate, load_model
from poppyscan.config import defaults, load_config
from poppyscan.progress import Progress, as_progress

if TYPE_CHECKING:
    from poppyscan.detect.bundle import ModelBundle
    from poppyscan.detect.run import FoundTargets
    from poppyscan.tiles.write import TileRun
    from poppyscan.train.dataset import DatasetOptions, DatasetSummary

__all__ = [
    "DemoRun", "Progress", "build_dataset", "calibrate", "compare", "default_settings", "demo",
    "detect", "evaluate", "field_package", "import_verdicts", "load_model", "open_review",
    "record_run", "registry_status", "tile", "train",
]

PathLike = str | os.PathLike


def default_settings(name: str) -> dict:
    """The built-in settings ``name``: ``tiling``, ``detect``, ``evaluate``, ``dataset``, ``synth``,
    ``train/default``."""
    return defaults(name)


def detect(
    orthos: Sequence[PathLike],
    out_dir: PathLike | None = None,
    *,
    model: ModelBundle | PathLike | None = None,
    device: str | None = None,
    backend: str | None = None,
    precision: str | None = None,
    conf: float | None = None,
    merge: str | Mapping[str, str] | None = None,
    mission: str | None = None,
    batch_size: int | None = None,
    workers: int | None = None,
    config: PathLike | None = None,
    overwrite: bool = False,
    registry: PathLike | None = None,
    progress: Progress | None = None,
    engine: str = "local",
    max_gsd_ratio: float | None = None,
    skip_unusable: bool = False,
) -> FoundTargets:
    """Find targets in ``orthos`` (files, or folders of them) and write the field outputs to ``out_dir``.

    ``conf`` and ``merge`` override the model card's threshold and merge rule
    for this run (both are recorded in ``run.json``). With ``out_dir`` the run
    is journalled there and resumes if it is run again after a kill; without
    it nothing is written and only the targets come back. ``registry``: a mission
    registry (GeoPackage) the published run is recorded into (``found.recorded``); the outputs
    and ``found.targets`` then carry the registry's target ids, each with its ``run_target_id``.

    ``backend``: the network's runtime, ``auto`` (the fastest the bundle and
    this machine have), ``torch``, ``openvino`` or ``onnxruntime``; ``precision``:
    ``auto`` (the card's checked one), ``f32`` or ``bf16`` (OpenVINO); ``run.json``
    records the backend that ran and its precision.

    ``engine``: ``"local"`` (this process) or ``"ray"``: Ray actors on the
    cluster in ``RAY_ADDRESS`` (or a local one), each loading the model once;
    it needs ``pip install 'poppyscan[ray]'`` and gives the same targets.

    Every input is checked first (readable, georeferenced, at most
    ``max_gsd_ratio`` times coarser than the model); one RasterError names every
    unusable file, unless ``skip_unusable``: then the rest run and run.json and
    the report list the files left out, with their reasons (``found.skipped``).
    """
    from poppyscan.detect.run import run_to_folder
    from poppyscan.detect.runtime import Runtime

    settings = load_config("detect", config, max_gsd_ratio=max_gsd_ratio)
    runtime = Runtime.from_settings(settings, device=device, backend=backend, precision=precision,
                                    batch_size=batch_size, workers=workers, engine=engine)
    bundle = load_model(model)
    infos, skipped = _usable_inputs(orthos, bundle, float(settings["max_gsd_ratio"]),
                                    skip_unusable)
    _check_registry(registry, out_dir)
    spec = _run_spec(bundle, runtime, conf=conf, merge=merge, mission=mission)
    if out_dir is None:
        return _detect_unpublished(infos, spec, progress, skipped)
    found = run_to_folder(infos, out_dir, spec, overwrite=overwrite, settings=_ran(spec.predictor),
                          progress=progress, skipped=skipped)
    return found if registry is None else _record_and_name(found, registry, out_dir)


def _usable_inputs(orthos: Sequence[PathLike], bundle: ModelBundle, max_gsd_ratio: float,
                   skip_unusable: bool) -> tuple[list, list[dict]]:
    """The inputs' rasters and those left out (``{"path", "reason"}``); bad input fails here, in
    seconds, before any work."""
    from poppyscan.tiles.scale import usable_rasters
    from poppyscan.tiles.sources import find_orthomosaics

    infos, unusable = usable_rasters(find_orthomosaics(orthos), bundle.grid,
                                     max_gsd_ratio=max_gsd_ratio, skip_unusable=skip_unusable)
    return infos, [u.to_dict() for u in unusable]


def _ran(predictor) -> dict:
    """What ran, for run.json: device, backend, precision, and why when slower than it could."""
    fallback = getattr(predictor, "fallback", None)
    return {"device": predictor.device, "backend": predictor.backend,
            "precision": predictor.precision, **({"fallback": fallback} if fallback else {})}


def _run_spec(bundle: ModelBundle, runtime, *, conf: float | None, merge, mission: str | None):
    """The run's model, predictor (at ``conf``, default the card's), merge rule and runtime."""
    from poppyscan.detect.run import RunSpec

    predictor = bundle.predictor(runtime.device, conf=conf, backend=runtime.backend,
                                 precision=runtime.precision)
    return RunSpec(bundle, predictor, bundle.merge_settings(merge), runtime,
                   _predictor_factory(runtime.engine, bundle, predictor, conf), mission)


def _detect_unpublished(infos, spec, progress: Progress | None, skipped: list) -> FoundTargets:
    """Targets without an output folder: nothing written, nothing journalled."""
    from poppyscan.detect.pipeline import plan_detection
    from poppyscan.detect.run import detect_targets

    plans = plan_detection(infos, spec.bundle.grid)  # once: the total and the run share them
    progress = as_progress(progress)
    progress.start(sum(p.n_to_read for p in plans))
    return detect_targets(infos, spec, progress=progress, plans=plans, skipped=skipped)


def _check_registry(registry: PathLike | None, out_dir: PathLike | None) -> None:
    """A registry needs a published run, and a broken one fails now, not after the run."""
    if registry is not None and out_dir is None:
        from poppyscan.errors import ConfigError

        raise ConfigError("a registry records published runs: give an output folder too")
    if registry is not None and Path(registry).exists():
        from poppyscan.field.registry import connect

        with connect(registry, write=False):
            pass


def _record_and_name(found: FoundTargets, registry: PathLike, out_dir: PathLike) -> FoundTargets:
    """One name per plot: the run recorded into ``registry``, its outputs under the registry's ids."""
    import dataclasses

    from poppyscan.detect.republish import read_targets
    from poppyscan.field.registry import record_and_name

    recorded = record_and_name(registry, out_dir)
    return dataclasses.replace(found, recorded=recorded,
                               targets=read_targets(Path(out_dir) / "plots.geojson"))


def _predictor_factory(engine: str, bundle: ModelBundle, predictor, conf: float | None):
    """For the Ray engine, the recipe each actor makes its predictor from (joining Ray now)."""
    if engine != "ray":
        return None
    from poppyscan.detect.ray_engine import BundlePredictor, join_ray

    join_ray()  # a missing extra or an unreachable cluster fails here, before any work
    precision = predictor.precision if predictor.backend == "openvino" else "auto"
    return BundlePredictor(str(bundle.path.resolve()), predictor.device, conf, predictor.backend,
                           precision)


def tile(
    orthos: Sequence[PathLike],
    out_dir: PathLike,
    *,
    config: PathLike | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    **settings: Any,
) -> TileRun:
    """Cut ``orthos`` into GeoTIFF chips and a chip index (``settings``: keys of ``configs/tiling.yaml``)."""
    from poppyscan.tiles import GridSpec
    from poppyscan.tiles.write import tile_to_dir

    cfg = load_config("tiling", config, **settings)
    return tile_to_dir(orthos, out_dir, GridSpec.from_settings(cfg),
                       min_valid_frac=float(cfg["min_valid_frac"]), bands=cfg["bands"],
                       workers=int(cfg["workers"]), overwrite=overwrite,
                       progress=progress)


def build_dataset(
    orthos: Sequence[PathLike],
    labels: Sequence[PathLike],
    out_dir: PathLike,
    *,
    model: ModelBundle | PathLike | None = None,
    class_names: Sequence[str] | None = None,
    class_map: Mapping[str, str] | None = None,
    default_class: str | None = None,
    hard_negatives: Sequence[PathLike] = (),
    hard_negatives_layer: str | None = None,
    negatives_from: Sequence[PathLike] = (),
    registry: PathLike | None = None,
    evidence: Any = None,
    config: PathLike | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    **settings: Any,
) -> DatasetSummary:
    """Labelled chips for training, on ``model``'s grid or the tiling settings' grid.

    ``registry``: a mission registry whose crew verdicts over ``orthos`` add
    labels (confirmed plots) and hard negatives (false positives) when they
    meet ``evidence`` (a :class:`poppyscan.field.registry.EvidenceRule` or its
    fields as a mapping; default: status plus a visit date).

    ``negatives_from``: orthomosaics known to hold no plot (real poppy-free
    ground); every non-collar chip of theirs becomes a background chip of the
    train split, on the same grid.

    ``settings``: keys of ``configs/tiling.yaml`` (the grid and chip policy; with
    ``model`` the card fixes the grid) and of ``configs/dataset.yaml``; the
    ``config`` file may hold both.
    """
    from poppyscan.atomic import check_outputs_free
    from poppyscan.tiles import inspect_raster, plan_raster
    from poppyscan.train.dataset import OUTPUTS, HardNegatives
    from poppyscan.train.dataset import build_dataset as build

    options = _dataset_options(settings, config, model, class_names=class_names,
                               class_map=class_map, default_class=default_class)
    check_outputs_free(out_dir, OUTPUTS, overwrite)
    hard = HardNegatives.read(hard_negatives, layer=hard_negatives_layer)  # bad files fail now
    if registry is not None:
        from poppyscan.api_verdicts import add_verdicts

        labels, hard = add_verdicts(labels, hard, registry, orthos, evidence)
    if progress is not None:  # the plans cost a pass over the rasters: only to report
        infos = [inspect_raster(path, bands=options.bands) for path in [*orthos, *negatives_from]]
        prescreen = options.min_valid_frac > 0
        progress.start(sum(plan_raster(i, options.grid, prescreen=prescreen).n_to_read
                           for i in infos))
    return build(orthos, list(labels), out_dir, options, hard_negatives=hard,
                 negatives_from=list(negatives_from), overwrite=overwrite,
                 on_chips=as_progress(progress).advance)


def _dataset_options(settings: dict, config: PathLike | None,
                     model: ModelBundle | PathLike | None, **classes: Any) -> DatasetOptions:
    """The dataset's options from flat settings, the config file and the model's grid;
    bad settings fail here, before any file is read."""
    from poppyscan.errors import ConfigError
    from poppyscan.tiles import GridSpec
    from poppyscan.train.dataset import DatasetOptions

    tiling, dataset_settings = _split_settings(settings, config)
    if model is not None:
        if any(settings.get(k) is not None for k in ("gsd_m", "tile_px", "overlap_px")):
            raise ConfigError("a model fixes the grid; drop gsd_m, tile_px and overlap_px")
        grid = load_model(model).grid
    else:
        grid = GridSpec.from_settings(tiling)
    return DatasetOptions.from_settings({
        "grid": grid, "min_valid_frac": float(tiling["min_valid_frac"]), "bands": tiling["bands"],
        "workers": int(tiling["workers"]), **classes, **dataset_settings})


def _split_settings(settings: dict, config: PathLike | None) -> tuple[dict, dict]:
    """Tiling and dataset settings from one flat mapping and an optional file holding both."""
    from poppyscan.config import read_yaml_settings

    file = read_yaml_settings(config) if config else {}
    tiling_keys = set(defaults("tiling"))
    tiling = load_config("tiling", **{k: v for k, v in {**file, **settings}.items()
                                      if k in tiling_keys})
    rest = {k: v for k, v in {**file, **settings}.items() if k not in tiling_keys}
    return tiling, load_config("dataset", **rest)


def train(
    data_dir: PathLike,
    out_dir: PathLike,
    *,
    from_model: ModelBundle | PathLike | None = None,
    from_scratch: bool = False,
    config: PathLike | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    **settings: Any,
) -> ModelBundle:
    """Train on a dataset from :func:`build_dataset` and write a model bundle to ``out_dir``.

    ``config``: a YAML file or a built-in preset (``demo``, ``tiny``);
    ``settings``: keys of ``configs/train/default.yaml``. ``from_model``: a
    bundle (or ``.pt``) to fine-tune instead of the bundled pretrained start;
    ``from_scratch``: random YOLO11n weights instead.
    """
    from poppyscan.train.start import SCRATCH_ARCHITECTURE
    from poppyscan.train.training import start_weights, train_model

    if from_model is not None and from_scratch:
        from poppyscan.errors import ConfigError

        raise ConfigError("--from-model and --from-scratch exclude each other")
    cfg = load_config("train/default", config, **settings)
    if from_scratch:
        cfg["architecture"] = SCRATCH_ARCHITECTURE
    if from_model is not None:
        cfg["architecture"] = start_weights(from_model, out_dir)
    on_epoch = None
    if progress is not None:
        on_epoch = _EpochReport(progress)
    return train_model(data_dir, out_dir, config=cfg, overwrite=overwrite, on_epoch=on_epoch)


class _EpochReport:
    """Epochs as progress, noting the last validation mAP50; starts at the first epoch."""

    def __init__(self, progress: Progress) -> None:
        self.progress, self.done = progress, 0

    def __call__(self, epoch: int, epochs: int, metrics: dict[str, float]) -> None:
        if self.done == 0:
            self.progress.start(epochs)
        epoch = min(epoch, epochs)  # Ultralytics may report the last epoch twice
        if epoch > self.done:
            note = f"val mAP50 {metrics.get('mAP50', float('nan')):.3f}"
            self.progress.advance(epoch - self.done, note=note)
            self.done = epoch


@dataclass
class DemoRun:
    """A synthetic survey, its detection, and how many of its plots the targets hit."""

    survey_dir: Path
    run: FoundTargets
    plots_hit: int
    plots: int
    large_plots_hit: int
    large_plots: int


def demo(
    out_dir: PathLike = "demo-out",
    *,
    seed: int = 2026,
    size_px: tuple[int, int] = (4096, 4096),
    model: ModelBundle | PathLike | None = None,
    device: str | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> DemoRun:
    """Generate a synthetic survey (5 cm), detect on it, and count the plots the targets hit."""
    from poppyscan.synth import generate_survey

    out = Path(out_dir)
    _refuse_published(out / "targets", overwrite)  # in a second, not after making the survey
    survey = generate_survey(out / "survey", seed=seed, size_px=tuple(size_px), gsd_m=0.05,
                             overwrite=True)
    run = detect([survey.ortho_path], out / "targets", model=model, device=device,
                 mission=f"DEMO{seed}", overwrite=overwrite, progress=progress)
    clusters = run.result.clusters
    hit = [any(c.polygon.intersects(p["geometry"]) for c in clusters) for p in survey.plots]
    large = [p["area_m2"] >= 20 for p in survey.plots]
    return DemoRun(out / "survey", run, sum(hit), len(hit),
                   sum(h and big for h, big in zip(hit, large, strict=True)), sum(large))


def _refuse_published(out: Path, overwrite: bool) -> None:
    """ConfigError when ``out`` holds a finished run's outputs (a run to resume is fine)."""
    from poppyscan.detect.journal import journal_path
    from poppyscan.detect.run import MANIFEST, OUTPUTS
    from poppyscan.errors import ConfigError
    from poppyscan.output_folder import OutputFolder

    held = OutputFolder(out, OUTPUTS, manifest=MANIFEST).has_outputs()
    if held and not overwrite and not journal_path(out).exists():
        raise ConfigError(f"{out}: already holds {', '.join(held)}; pass --overwrite to replace")
