"""The scoring half of :mod:`poppyscan.api`: evaluate, calibrate and compare on labelled flights.

Import these from :mod:`poppyscan.api`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from poppyscan.config import defaults, load_config

if TYPE_CHECKING:
    from poppyscan.detect.bundle import ModelBundle
    from poppyscan.detect.runtime import Runtime
    from poppyscan.train.calibrate import Calibration
    from poppyscan.train.compare import ModelComparison
    from poppyscan.train.evaluate import EvaluationReport

__all__ = ["calibrate", "compare", "evaluate", "load_model"]

PathLike = str | os.PathLike


def load_model(model: ModelBundle | PathLike | None = None) -> ModelBundle:
    """A model bundle folder (card + weights), checked; None: the bundled demo model."""
    from poppyscan.detect.bundle import ModelBundle, load_bundle

    return model if isinstance(model, ModelBundle) else load_bundle(model)


def evaluate(
    orthos: Sequence[PathLike],
    labels: Sequence[PathLike],
    *,
    model: ModelBundle | PathLike | None = None,
    device: str | None = None,
    backend: str | None = None,
    conf: float | None = None,
    merge: str | dict[str, str] | None = None,
    data_dir: PathLike | None = None,
    batch_size: int | None = None,
    workers: int | None = None,
    config: PathLike | None = None,
    **settings: Any,
) -> EvaluationReport:
    """Run detection on whole ``orthos`` and score the targets against ``labels``.

    ``conf`` and ``merge`` (a rule, or ``{class: rule}``) override the model
    card's for this evaluation; the report records them. ``settings``:
    ``match_iou``, ``sweep``, ``min_area_m2`` (keys of ``configs/evaluate.yaml``);
    the ``config`` file may hold those and the keys of ``configs/detect.yaml``.
    """
    from poppyscan.errors import ConfigError
    from poppyscan.train.evaluate import evaluate as run_evaluation

    picking = sorted({"pick", "recall_floor"} & set(settings))
    if picking:
        raise ConfigError(f"evaluate does not pick thresholds ({', '.join(picking)}): use calibrate")
    run, scoring = _evaluate_settings(config, settings, device=device, backend=backend, batch_size=batch_size,
                                      workers=workers)
    bundle = load_model(model)
    return run_evaluation(bundle, list(orthos), list(labels), runtime=run,
                          conf=conf, merge=merge, data_dir=data_dir,
                          match_iou=float(scoring["match_iou"]),
                          sweep=tuple(float(c) for c in scoring["sweep"] or ()),
                          min_area_m2=_min_area_m2(bundle, scoring))


def calibrate(
    orthos: Sequence[PathLike],
    labels: Sequence[PathLike],
    out_model: PathLike,
    *,
    model: ModelBundle | PathLike | None = None,
    device: str | None = None,
    backend: str | None = None,
    batch_size: int | None = None,
    workers: int | None = None,
    config: PathLike | None = None,
    overwrite: bool = False,
    **settings: Any,
) -> Calibration:
    """Pick conf and merge rule on labelled ``orthos`` and write a new bundle to ``out_model``.

    ``settings``: ``pick`` (``best-f1`` or ``recall-floor``), ``recall_floor``,
    ``match_iou``, ``min_area_m2`` (keys of ``configs/evaluate.yaml``). The new
    bundle's card says what was picked, by which rule, on which files, and the
    parent's model id (:mod:`poppyscan.train.calibrate`).
    """
    from poppyscan.train.calibrate import calibrate as run_calibration

    run, scoring = _evaluate_settings(config, settings, device=device, backend=backend, batch_size=batch_size,
                                      workers=workers)
    bundle = load_model(model)
    return run_calibration(bundle, list(orthos), list(labels), out_model,
                           rule=str(scoring["pick"]), recall_floor=float(scoring["recall_floor"]),
                           match_iou=float(scoring["match_iou"]),
                           min_area_m2=_min_area_m2(bundle, scoring), runtime=run,
                           overwrite=overwrite)


def compare(
    orthos: Sequence[PathLike],
    labels: Sequence[PathLike],
    models: Sequence[ModelBundle | PathLike],
    *,
    device: str | None = None,
    backend: str | None = None,
    batch_size: int | None = None,
    workers: int | None = None,
    config: PathLike | None = None,
) -> ModelComparison:
    """Each of ``models`` once on the same ``orthos``, scored against ``labels`` at IoU 0.4 and 0.5."""
    from poppyscan.train.compare import compare_models

    run, _ = _evaluate_settings(config, {}, device=device, backend=backend, batch_size=batch_size,
                               workers=workers)
    return compare_models([load_model(m) for m in models], list(orthos), list(labels),
                          runtime=run)


def _min_area_m2(bundle: ModelBundle, scoring: dict) -> float:
    """Plots this big get headline scores of their own: the setting, else the card's, else none."""
    if scoring["min_area_m2"] is not None:
        return float(scoring["min_area_m2"])
    return float(bundle.card.get("headline_min_area_m2", 0.0))


def _evaluate_settings(config: PathLike | None, settings: dict, **run: Any) -> tuple[Runtime, dict]:
    """How the model runs (detect settings) and evaluate settings (how targets are scored).

    The ``config`` file may hold keys of both ``configs/detect.yaml`` and
    ``configs/evaluate.yaml``; ``settings`` are evaluate keys, ``run`` detect keys.
    """
    from poppyscan.config import read_yaml_settings
    from poppyscan.detect.runtime import Runtime

    file = read_yaml_settings(config) if config else {}
    detect_keys = set(defaults("detect"))
    given = {k: v for k, v in run.items() if v is not None}
    detect = load_config("detect", **{**{k: v for k, v in file.items() if k in detect_keys}, **given})
    rest = {**{k: v for k, v in file.items() if k not in detect_keys}, **settings}
    return Runtime.from_settings(detect), load_config("evaluate", **rest)
