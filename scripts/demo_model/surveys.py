"""The `surveys` and `composites` stages: synthetic surveys, and plots sown into real tiles."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from poppyscan.train.demo_recipe import DemoRecipe


def surveys_of(work: Path, name: str) -> list[Path]:
    """The orthomosaics of survey set ``name`` under ``work``, by seed."""
    return sorted((work / name).glob("s*/ortho.tif"))


def _one_survey(args) -> str:
    from poppyscan.synth import generate_survey

    out, seed, gsd_m, size_px, plots_per_ha, distractors_per_ha = args
    if (out / "distractors.geojson").is_file():  # written last: the survey is complete
        return str(out / "ortho.tif")
    result = generate_survey(out, seed=seed, size_px=(size_px, size_px), gsd_m=gsd_m,
                             plot_density_per_ha=plots_per_ha,
                             distractor_density_per_ha=distractors_per_ha, overwrite=True)
    return str(result.ortho_path)


def make_surveys(recipe: DemoRecipe, work: Path, jobs: int, sets: list[str]) -> None:
    """Draw the survey sets named (each survey once; a complete one is kept)."""
    tasks = [(work / name / f"s{seed}", seed, gsd, size, recipe.plot_density_per_ha,
              survey_set.distractors_per_ha)
             for name, survey_set in recipe.survey_sets.items() if name in sets
             for seed, (gsd, size) in zip(survey_set.seeds(), survey_set.plan, strict=True)]
    with ProcessPoolExecutor(jobs) as pool:
        for path in pool.map(_one_survey, tasks):
            print(path)


def _shift_east(folder: Path, shift_m: float) -> None:
    """Move a composite's raster and truth ``shift_m`` east together."""
    import rasterio
    from affine import Affine

    with rasterio.open(folder / "ortho.tif", "r+") as dst:
        t = dst.transform
        dst.transform = Affine(t.a, t.b, t.c + shift_m, t.d, t.e, t.f)
    plots = json.loads((folder / "plots.geojson").read_text())
    for feature in plots["features"]:
        feature["geometry"]["coordinates"] = [[[x + shift_m, y] for x, y in ring]
                                              for ring in feature["geometry"]["coordinates"]]
    (folder / "plots.geojson").write_text(json.dumps(plots))


def _one_composite(args) -> str:
    """One host, one seed: plots sown in, the copy moved ``shift_m`` east (see make_composites)."""
    from poppyscan.synth import composite_survey

    host, out, seed, density, shift_m = args
    if (out / "composite.json").is_file():  # the folder is renamed into place when complete
        return str(out / "ortho.tif")
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    result = composite_survey(host, tmp, seed=seed, plot_density_per_ha=density)
    _shift_east(tmp, shift_m)
    tmp.rename(out)
    return f"{out / 'ortho.tif'}: {len(result.plots)} plots, moved {shift_m:g} m east"


def make_composites(recipe: DemoRecipe, real_dir: Path, work: Path, jobs: int) -> None:
    """Plots sown into the real tiles trained on (the recipe's real_train), several seeds each.

    A dataset matches labels to chips by location, so the copies of one host
    must not share ground: the copy of seed k is moved k x copy_shift_m east (raster
    and truth together; its imagery and labels stay consistent).
    """
    tasks = [(real_dir / host.name,
              work / "composites" / f"{Path(host.name).stem}-s{recipe.composite_seed0 + k}",
              recipe.composite_seed0 + k, host.plots_per_ha, recipe.copy_shift_m * k)
             for host in recipe.real_train.values() for k in range(host.seeds)]
    with ProcessPoolExecutor(jobs) as pool:
        for line in pool.map(_one_composite, tasks):
            print(line)
