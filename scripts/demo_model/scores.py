"""The `tune`, `mine`, `evaluate` and `precision` stages: detection on the surveys, scored."""

from __future__ import annotations

import json
from pathlib import Path

from poppyscan.detect.bundle import load_bundle, update_card
from poppyscan.train.demo_card import candidate, precision_passes, with_precision_check
from poppyscan.train.demo_recipe import DemoRecipe
from poppyscan.train.heldout import (
    held_out_false_targets,
    heldout_markdown,
    heldout_row,
    lie_on_counts,
)

from .surveys import surveys_of


def detect_surveys(bundle, surveys: list[Path], device: str | None, precision: str = "auto"):
    """Run detection once at LOW_CONF on ``surveys``: (result, their truth plots)."""
    from poppyscan.detect.runtime import Runtime
    from poppyscan.train.evaluate import detect_with_truth
    from poppyscan.train.tuning import LOW_CONF

    runtime = Runtime(device=device or "auto", precision=precision, batch_size=8, workers=2)
    return detect_with_truth(bundle, surveys, [s.parent / "plots.geojson" for s in surveys],
                             runtime=runtime, conf=LOW_CONF)


def tune(work: Path, model: Path, device: str | None, precision: str = "f32",
         rules: tuple[str, ...] | None = None) -> dict:
    """Sweep conf for every merge rule (or ``rules``) on the tuning surveys and pick one pair.

    ``precision``: the card's ``thresholds.conf`` is float32's; ``bf16`` picks
    OpenVINO bfloat16's own threshold by the same rule (see ``check_precision``).
    """
    from poppyscan.detect.merge import MERGE_RULES
    from poppyscan.train.report import sweep_table
    from poppyscan.train.tuning import (
        TUNE_SWEEP,
        pick_thresholds,
        sweep_merge_rules,
        threshold_choices,
    )

    bundle = load_bundle(model)
    min_area_m2 = float(bundle.card.get("headline_min_area_m2", 0.0))
    result, truth = detect_surveys(bundle, surveys_of(work, "tune_surveys"), device, precision)
    merges = [bundle.merge_settings(r) for r in rules or MERGE_RULES]
    sweeps = sweep_merge_rules(result, truth, merges,
                               TUNE_SWEEP, min_area_m2=min_area_m2)
    for rule, rows in sweeps.items():
        print(f"merge={rule}")
        print(sweep_table(rows, min_area_m2))
    picked = pick_thresholds(threshold_choices(sweeps, min_area_m2=min_area_m2)).to_dict()
    print("picked:", json.dumps(picked))
    return picked


def mine(work: Path, model: Path, device: str | None, conf: float) -> list[Path]:
    """Detect on the training surveys; write the targets that hit no plot (hard negatives).

    Plots sown into real ground too (one file each: every host has its own CRS): what
    the model takes for poppy there is a real negative.
    """
    from poppyscan.train.mining import mine_false_targets

    bundle = load_bundle(model)
    groups = {"": surveys_of(work, "train_surveys")}
    groups.update({f"-{p.parent.name}": [p]
                   for p in sorted((work / "composites").glob("*/ortho.tif"))})
    written = []
    for suffix, surveys in groups.items():
        result, truth = detect_surveys(bundle, surveys, device)
        out = work / f"false-targets-{bundle.model_id}{suffix}.gpkg"
        mined = mine_false_targets(result, truth, out, conf=conf,
                                   merge=bundle.merge_settings("union"))
        print(f"{mined.n_false} of {mined.n_targets} targets at conf {conf} hit no plot -> "
              f"{mined.path} ({result.timings_s['total']:.0f} s)")
        written.append(mined.path)
    return written


def _by_gsd(surveys: list[Path]) -> dict[str, list[Path]]:
    import rasterio

    groups: dict[str, list[Path]] = {}
    for survey in surveys:
        with rasterio.open(survey) as src:
            gsd_cm = round(src.res[0] * 100, 1)
        groups.setdefault(f"{gsd_cm:g} cm", []).append(survey)
    return dict(sorted(groups.items()))


def evaluate_heldout(work: Path, model: Path, device: str | None, precision: str = "auto",
                     conf: float | None = None) -> dict:
    """Score the bundle at its card's thresholds (or ``conf``) on the held-out surveys, per GSD
    and overall."""
    from poppyscan.train.evaluate import evaluate_detections
    from poppyscan.train.scoring import pool_runs

    bundle = load_bundle(model)
    conf = bundle.conf if conf is None else conf
    surveys = surveys_of(work, "heldout_surveys")
    groups = _by_gsd(surveys)
    runs = {name: detect_surveys(bundle, group, device, precision) for name, group in groups.items()}
    runs["all"] = pool_runs([r for r, _ in runs.values()], [t for _, t in runs.values()])
    rows = {}
    for name, (result, truth) in runs.items():
        report = evaluate_detections(result, truth, conf=conf, model_id=bundle.model_id,
                                     merge=bundle.merge_settings(), sweep=(),
                                     min_area_m2=float(bundle.card.get("headline_min_area_m2", 20.0)))
        print(f"== {name}\n{report.summary_text()}")
        rows[name] = {"surveys": len(groups.get(name, surveys)), **heldout_row(report),
                      "cpu_s_per_km2": None}
    seconds = runs["all"][0].timings_s["total"]
    rows["all"]["cpu_s_per_km2"] = round(seconds / rows["all"]["area_km2"], 1)
    false_targets = held_out_false_targets(bundle, *runs["all"], surveys, conf)
    rows["all"]["false_ge20_lie_on"] = lie_on_counts(false_targets)
    print(heldout_markdown(rows, bundle.model_id))
    suffix = "" if precision == "auto" else f"-{precision}"
    sheet = write_false_target_sheet(false_targets, runs["all"][0].crs,
                                     work / f"heldout-false-targets-{bundle.model_id}{suffix}.jpg")
    print(f"held-out false targets >= 20 m2, pictured: {sheet}")
    (work / f"heldout-{bundle.model_id}{suffix}.json").write_text(json.dumps(rows, indent=2) + "\n")
    return rows


def write_false_target_sheet(false_targets: list[tuple[str, object]], crs, out_jpg: Path) -> Path:
    """A contact sheet of ``held_out_false_targets``, grouped by what they lie on."""
    from poppyscan.detect.export import thumbnail_bgr
    from poppyscan.train.false_target_rate import write_grouped_sheet

    groups: dict[str, list] = {}
    for what, target in false_targets:
        source = Path(target.members[0].source)
        image = thumbnail_bgr(source, target.polygon, polygon_crs=crs, pad_m=5.0, size_px=192)
        groups.setdefault(what, []).append(
            (image, f"{source.parent.name} {target.conf:.2f} {target.polygon.area:.0f} m2"))
    in_order = {what: groups[what] for what in lie_on_counts(false_targets)}  # most common first
    return write_grouped_sheet(in_order, out_jpg, empty="no false targets of 20 m2 or more")


def check_precision(recipe: DemoRecipe, work: Path, model: Path) -> bool:
    """OpenVINO bfloat16 as its own model: its threshold, its held-out check, into the card.

    bf16's threshold is picked on the tuning surveys by the card's rule (its merge
    rule kept); the held-out surveys are scored at f32 (the card's threshold) and
    at bf16 (its own). ``precision=auto`` runs bf16 only if none of CHECKED drops
    more than MAX_LOSS (:mod:`poppyscan.detect.backends.precision`). Writes
    ``exports.openvino.precision`` (the verdict), ``thresholds.bf16`` and
    ``precision_check`` (both rows) into the card; the weights stay as they are.
    """
    bundle = load_bundle(model)
    rule = bundle.card["thresholds"].get("merge_rule", "union")
    bf16_conf = float(tune(work, model, "cpu", "bf16", (rule,))["conf"])
    confs = {"f32": bundle.conf, "bf16": bf16_conf}
    rows = {p: evaluate_heldout(work, model, "cpu", precision=p, conf=c)["all"]
            for p, c in confs.items()}
    update_card(model, lambda card: with_precision_check(card, recipe, rows, confs))
    passed = precision_passes(rows)
    print(f"bf16 {'passes' if passed else 'fails'} at conf {bf16_conf}: " + json.dumps(rows))
    return passed


def real_false_targets(recipe: DemoRecipe, real_dir: Path, model: Path,
                       device: str | None) -> dict:
    """False targets per km2 of the bundle at its card's threshold on every real poppy-free tile,
    held out or trained on (``scripts/false_targets.py`` for thumbnails)."""
    from poppyscan.train.false_target_rate import false_target_rates, pooled_rates

    bundle = load_bundle(model)
    held_out = recipe.real_held_out
    images = [real_dir / name for name in (*held_out, *recipe.real_train)]
    rates, _ = false_target_rates(images, bundle, device=device or "cpu")
    conf = bundle.conf
    rows = {r.path.name: {"held_out": r.path.name in held_out, "area_km2": round(r.area_km2, 4),
                          "area_measured_in": r.measured_in, "targets": len(r.targets[conf]),
                          "per_km2": round(r.per_km2(conf), 1),
                          "lie_on": sorted({t.lies_on for t in r.targets[conf]})} for r in rates}
    pooled = {}
    for name, group in (("held_out", [r for r in rates if r.path.name in held_out]),
                        ("trained_on", [r for r in rates if r.path.name not in held_out])):
        n, km2, per_km2 = pooled_rates(group, conf)
        pooled[name] = {"targets": n, "area_km2": round(km2, 4), "per_km2": round(per_km2, 1)}
    print(json.dumps({"conf": conf, "pooled": pooled}, indent=2))
    return {"conf": conf, "images": rows, "pooled": pooled}


def compared_candidates(work: Path, models: list[Path]) -> dict[str, dict]:
    """Candidates already scored by the ``evaluate`` stage (their held-out JSON in --work)."""
    out: dict[str, dict] = {}
    for model in models:
        card = load_bundle(model).card
        rows = json.loads((work / f"heldout-{card['model_id']}.json").read_text())
        out.update(candidate(card, rows))
    return out
