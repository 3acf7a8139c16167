"""The Ray engine: the local targets, nothing lost or doubled when actors or the driver die."""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")  # Ray's own

import poppyscan.api as ps  # noqa: E402
from poppyscan.cli.main import cli  # noqa: E402
from poppyscan.detect.journal import journal_path  # noqa: E402
from poppyscan.detect.ray_engine import BundlePredictor  # noqa: E402
from poppyscan.detect.run import RunSpec, run_to_folder  # noqa: E402
from poppyscan.detect.runtime import Runtime  # noqa: E402
from poppyscan.errors import ConfigError, ModelError, RunInterrupted  # noqa: E402
from poppyscan.progress import Silent  # noqa: E402
from poppyscan.synth import generate_survey  # noqa: E402
from poppyscan.tiles import inspect_raster  # noqa: E402
from poppyscan.tiles.sources import find_orthomosaics  # noqa: E402
from tests.detect.marks import MISSION_MARKS, MarkPredictor, make_odm_mission  # noqa: E402

BLOCKS = 8


@pytest.fixture(scope="module", autouse=True)
def cluster():
    """One local Ray cluster of two CPUs for the module (starting one takes seconds)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def mission(tmp_path_factory) -> Path:
    return make_odm_mission(tmp_path_factory.mktemp("mission"))


@pytest.fixture(scope="module")
def local_run(mission, untrained_bundle, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "out"
    _run(mission, out, untrained_bundle, engine="local")
    return out


def mark_predictor() -> MarkPredictor:
    """The predictor factory the actors call (module-level, so it pickles by reference)."""
    return MarkPredictor()


class DiesOnce:
    """A factory whose predictor kills its actor's process in its ``n``-th batch, once."""

    def __init__(self, marker: Path, n: int) -> None:
        self.marker, self.n = marker, n

    def __call__(self) -> MarkPredictor:
        return DyingPredictor(self.marker, self.n)


class DyingPredictor(MarkPredictor):
    def __init__(self, marker: Path, n: int) -> None:
        super().__init__()
        self.marker, self.n = marker, n

    def __call__(self, images):
        if self.calls + 1 == self.n and not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os._exit(1)  # the actor's process dies mid-block
        return super().__call__(images)


class StopAfterBlocks(Silent):
    """Progress that raises KeyboardInterrupt once ``n`` blocks are committed: the driver dies."""

    def __init__(self, n: int) -> None:
        self.n, self.blocks = n, 0

    def advance(self, n: int = 1, note: str | None = None) -> None:
        self.blocks += 1
        if self.blocks == self.n:
            raise KeyboardInterrupt


def _run(root, out, bundle, *, engine="ray", factory=mark_predictor, predictor=None, **kwargs):
    infos = [inspect_raster(p) for p in find_orthomosaics([root])]
    spec = RunSpec(bundle, predictor or MarkPredictor(), bundle.merge_settings(),
                   Runtime(batch_size=4, workers=2, engine=engine),
                   factory if engine == "ray" else None)
    return run_to_folder(infos, out, spec, **kwargs)


def _outputs(out: Path) -> tuple:
    """Targets (id, conf, outline, sources) and the run's counts, as written."""
    features = json.loads((out / "targets.geojson").read_text())["features"]
    targets = [(f["properties"]["target_id"], f["properties"]["conf"], f["geometry"]["coordinates"],
                f["properties"]["sources"]) for f in features]
    counts = json.loads((out / "run.json").read_text())["counts"]
    return targets, counts


def test_ray_engine_gives_the_local_engines_targets(mission, untrained_bundle, local_run, tmp_path):
    found = _run(mission, tmp_path / "ray", untrained_bundle)
    assert _outputs(tmp_path / "ray") == _outputs(local_run)
    assert len(found.targets) == len(MISSION_MARKS) + 6
    assert found.result.stats.read == 2 * 225
    assert found.settings["engine"] == "ray"


def test_a_killed_actor_loses_and_doubles_nothing(mission, untrained_bundle, local_run, tmp_path):
    marker = tmp_path / "died"
    found = _run(mission, tmp_path / "ray", untrained_bundle, factory=DiesOnce(marker, 5))
    assert marker.exists()  # an actor did die, in its fifth batch
    assert _outputs(tmp_path / "ray") == _outputs(local_run)
    assert found.result.stats.read == 2 * 225  # each block counted once: none lost, none twice


def test_a_rerun_after_the_driver_dies_resumes_from_the_journal(mission, untrained_bundle,
                                                                 local_run, tmp_path):
    out = tmp_path / "ray"
    with pytest.raises(RunInterrupted, match="3 finished chip blocks are saved"):
        _run(mission, out, untrained_bundle, progress=StopAfterBlocks(3))
    with closing(sqlite3.connect(journal_path(out))) as journal:
        assert journal.execute("SELECT COUNT(*) FROM blocks").fetchone() == (3,)
    resumed = _run(mission, out, untrained_bundle)
    assert resumed.result.blocks_resumed == 3
    assert _outputs(out) == _outputs(local_run)


def test_a_run_started_locally_finishes_on_ray(mission, untrained_bundle, local_run, tmp_path):
    out = tmp_path / "mixed"
    with pytest.raises(RunInterrupted):
        _run(mission, out, untrained_bundle, engine="local", progress=StopAfterBlocks(5))
    resumed = _run(mission, out, untrained_bundle)
    assert resumed.result.blocks_resumed == 5
    assert _outputs(out) == _outputs(local_run)


def test_ray_engine_needs_a_predictor_factory_and_gpus_for_cuda(mission, untrained_bundle,
                                                                tmp_path):
    with pytest.raises(ConfigError, match="engine 'ray' needs a predictor_factory"):
        _run(mission, tmp_path / "out", untrained_bundle, factory=None)
    with pytest.raises(ConfigError, match="engine='spark': use one of local, ray"):
        _run(mission, tmp_path / "out", untrained_bundle, engine="spark")
    on_cuda = MarkPredictor()
    on_cuda.device = "cuda"
    with pytest.raises(ConfigError, match="device is CUDA but the Ray cluster has no GPU"):
        _run(mission, tmp_path / "cuda", untrained_bundle, predictor=on_cuda)


def test_the_bundles_model_in_ray_actors_from_the_command_line(tmp_path):
    """``poppyscan detect --engine ray``: each actor loads the bundle's weights (the real path)."""
    survey = generate_survey(tmp_path / "survey", seed=3, size_px=(1024, 1024), gsd_m=0.05)
    local = ps.detect([survey.ortho_path], tmp_path / "local", device="cpu", mission="M")
    result = CliRunner().invoke(cli, ["detect", str(survey.ortho_path), "--out",
                                      str(tmp_path / "ray"), "--device", "cpu", "--mission", "M",
                                      "--engine", "ray"])
    assert result.exit_code == 0, result.output
    assert len(local.targets) > 0
    assert _outputs(tmp_path / "ray") == _outputs(tmp_path / "local")
    assert json.loads((tmp_path / "ray" / "run.json").read_text())["settings"]["engine"] == "ray"


def test_an_actors_bad_input_is_one_clear_error(mission, untrained_bundle, tmp_path):
    """A worker without the bundle: its ModelError reaches the user, not Ray's traceback."""
    missing = BundlePredictor(str(tmp_path / "not-copied-to-the-worker"), "cpu")
    with pytest.raises(ModelError, match="not-copied-to-the-worker/card.yaml: model card missing"):
        _run(mission, tmp_path / "out", untrained_bundle, factory=missing)
