"""What ``scripts/bench_detect.py`` times with, and the peers it is timed against.

The clock and peak memory of a child process, the chip count of a grid, and the
methods that are not poppyscan's own: SAHI, GeoDeep, and poppyscan's PyTorch path
as it was at an older git revision (``--filed-rev``).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mib() -> float:
    """This process's peak RSS. Linux: VmHWM, since ru_maxrss keeps the high-water mark of
    the parent that spawned it (a parent that exported with torch inflated every child)."""
    status = Path("/proc/self/status")
    if status.exists():
        line = next(x for x in status.read_text().splitlines() if x.startswith("VmHWM:"))
        return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class Clock:
    """Wall seconds and CPU seconds (all threads: robust to other load) of a block."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), _cpu_s()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, _cpu_s() - self.cpu

    def result(self, chips: int, **more) -> dict:
        return dict(chips=chips, seconds=self.wall, cpu_s=self.cpu, **more)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def n_chips(shape, bundle) -> int:
    tile, stride = bundle.grid.tile_px, bundle.grid.tile_px - bundle.grid.overlap_px
    return int(np.prod([1 + max(0, -(-(side - tile) // stride)) for side in shape]))


def make_geodeep_model(bundle, path: Path) -> Path:
    """The bundle's weights as GeoDeep reads them: static 1 x 3 x tile x tile ONNX + metadata."""
    import onnx

    from poppyscan.detect.backends.export import export_onnx

    export_onnx(bundle.weights_path, path, tile_px=bundle.grid.tile_px, batch=1)
    model = onnx.load(str(path))
    meta = {"model_type": '"Detector"', "det_type": '"YOLO_v8"', "det_conf": str(bundle.conf),
            "det_iou_thresh": str(bundle.thresholds.get("iou_nms", 0.5)),
            "resolution": str(round(bundle.grid.gsd_m * 100, 6)),
            "tiles_overlap": str(100 * bundle.grid.overlap_px / bundle.grid.tile_px),
            "class_names": json.dumps({str(i): c for i, c in enumerate(bundle.classes)})}
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


def bench_sahi(ortho, bundle, device, batch_size) -> dict:
    import rasterio
    from sahi import AutoDetectionModel
    from sahi.predict import get_sliced_prediction

    from poppyscan.detect._ultralytics import configure_offline

    configure_offline()
    model = AutoDetectionModel.from_pretrained(
        model_type="ultralytics", model_path=str(bundle.weights_path), confidence_threshold=bundle.conf,
        device="cuda:0" if device.startswith("cuda") else "cpu")
    tile, overlap = bundle.grid.tile_px, bundle.grid.overlap_px / bundle.grid.tile_px
    with Clock() as clock:
        with rasterio.open(ortho) as src:
            image = np.moveaxis(src.read([1, 2, 3]), 0, -1)
        result = get_sliced_prediction(
            image, model, slice_height=tile, slice_width=tile, overlap_height_ratio=overlap,
            overlap_width_ratio=overlap, perform_standard_pred=False, verbose=0,
            batch_size=batch_size)
    return clock.result(n_chips(image.shape[:2], bundle), backend="torch",
                        detections=len(result.object_prediction_list))


def bench_geodeep(ortho, model_path) -> dict:
    import geodeep
    import rasterio
    from geodeep.slidingwindow import generate_for_size

    with Clock() as clock:
        boxes, _, _ = geodeep.detect(str(ortho), str(model_path), output_type="bsc")
    with rasterio.open(ortho) as src:
        chips = len(generate_for_size(src.width, src.height, 640, 0.2, clip=False))
    return clock.result(chips, backend="onnxruntime", detections=len(boxes))


def bench_torch_as_filed(ortho, bundle_dir, device, batch_size, workers) -> dict:
    """poppyscan's PyTorch path of the revision on ``sys.path`` (51260b4's API), same weights."""
    import yaml

    from poppyscan.detect.build import make_targets
    from poppyscan.detect.pipeline import run_detection
    from poppyscan.detect.predictor import YoloPredictor
    from poppyscan.tiles import GridSpec

    card = yaml.safe_load((Path(bundle_dir) / "card.yaml").read_text())
    tile_px, overlap_px = card["tile_px"], card["overlap_px"]
    grid = GridSpec(None, tile_px, overlap_px)
    predictor = YoloPredictor(str(Path(bundle_dir) / "weights.pt"),
                              conf=card["thresholds"]["conf"], iou=card["thresholds"]["iou_nms"],
                              device=device)
    predictor(np.zeros((batch_size, tile_px, tile_px, 3), "uint8"))  # warm-up
    with Clock() as clock:
        result = run_detection([ortho], predictor, grid, batch_size=batch_size, workers=workers)
        targets = make_targets(result.clusters, result.crs, mission="bench",
                               model_id=card["model_id"], gsd_m=card["gsd_m"])
    return clock.result(result.stats.read, targets=len(targets), backend="torch",
                        precision="f32", torch_loaded="torch" in sys.modules)


def build_revision(rev: str, tmp: Path) -> Path:
    """poppyscan as it was at git revision ``rev``, installed into a scratch folder."""
    src, site = tmp / f"src_{rev}", tmp / f"site_{rev}"
    src.mkdir()
    try:
        archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        "--no-build-isolation", "--target", str(site), str(src)],
                       check=True, capture_output=True)
    except subprocess.CalledProcessError as err:
        detail = (err.stderr or b"").decode(errors="replace").strip().splitlines()
        raise SystemExit(f"--filed-rev {rev}: cannot build that revision "
                         f"({detail[-1] if detail else err})") from None
    return site
