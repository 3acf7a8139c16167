"""Benchmark detection side by side: raw model rate, poppyscan end to end, SAHI.

Same orthomosaic, same weights, same chip grid (the bundle's, at the ortho's
own GSD so no method resamples). Each method runs in its own process so its
peak RSS is its own.

- ``raw``: forward passes (+ NMS) alone on chips already in memory;
- ``poppyscan``: :func:`detect.pipeline.run_detection` + targets: read, infer,
  merge in map space (file exports are timed separately in ``run.json``);
- ``sahi``: SAHI's ``get_sliced_prediction`` on the whole image loaded with
  rasterio, standard (full-image) prediction off.

    python scripts/bench_detect.py --size-px 4096 --device cpu
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.bench_tiles import make_mosaic_vrt, make_source_tile  # noqa: E402


def make_ortho(path: Path, size_px: int, gsd_m: float) -> Path:
    """A real JPEG-tiled GeoTIFF of ``size_px`` (drone texture), as photogrammetry writes."""
    import rasterio
    from rasterio.shutil import copy as rio_copy

    tile = make_source_tile(path.with_suffix(".tile.tif"), gsd_m)
    vrt = make_mosaic_vrt(tile, size_px, path.with_suffix(".vrt"))
    with rasterio.open(vrt) as src:
        rio_copy(src, path, driver="GTiff", tiled=True, blockxsize=512, blockysize=512,
                 compress="jpeg", photometric="YCBCR", jpeg_quality=90)
    return path


def peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def bench_raw(ortho, bundle, device, batch_size) -> dict:
    from poppyscan.detect.predictor import YoloPredictor, batched
    from poppyscan.tiles import GridSpec, iter_chips

    grid = GridSpec(None, bundle.grid.tile_px, bundle.grid.overlap_px)
    chips = [chip.pixels for chip in iter_chips([ortho], grid)]
    predictor = YoloPredictor(str(bundle.weights_path), conf=bundle.conf, device=device)
    predictor(np.stack(chips[:batch_size]))  # warm-up
    _sync(device)
    start = time.perf_counter()
    for batch in batched(chips, batch_size):
        predictor(np.stack(batch))
    _sync(device)
    seconds = time.perf_counter() - start
    return dict(chips=len(chips), seconds=seconds)


def bench_poppyscan(ortho, bundle, device, batch_size, workers) -> dict:
    from poppyscan.detect.build import make_targets
    from poppyscan.detect.pipeline import run_detection
    from poppyscan.detect.predictor import YoloPredictor
    from poppyscan.tiles import GridSpec

    grid = GridSpec(None, bundle.grid.tile_px, bundle.grid.overlap_px)
    predictor = YoloPredictor(str(bundle.weights_path), conf=bundle.conf, device=device)
    predictor(np.zeros((batch_size, grid.tile_px, grid.tile_px, 3), "uint8"))  # warm-up
    start = time.perf_counter()
    result = run_detection([ortho], predictor, grid, batch_size=batch_size, workers=workers)
    targets = make_targets(result.clusters, result.crs, mission="bench", model_id=bundle.model_id,
                           gsd_m=0.05, class_names=bundle.classes)
    seconds = time.perf_counter() - start
    return dict(chips=result.stats.read, seconds=seconds, targets=len(targets))


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
    start = time.perf_counter()
    with rasterio.open(ortho) as src:
        image = np.moveaxis(src.read([1, 2, 3]), 0, -1)
    result = get_sliced_prediction(
        image, model, slice_height=tile, slice_width=tile, overlap_height_ratio=overlap,
        overlap_width_ratio=overlap, perform_standard_pred=False, verbose=0, batch_size=batch_size)
    seconds = time.perf_counter() - start
    n = result.durations_in_seconds.get("slice", None)
    stride = tile - bundle.grid.overlap_px
    chips = (1 + max(0, -(-(image.shape[1] - tile) // stride))) * (1 + max(0, -(-(image.shape[0] - tile) // stride)))
    return dict(chips=chips, seconds=seconds, detections=len(result.object_prediction_list), slice_s=n)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def child(method, ortho, bundle_dir, device, batch_size, workers) -> None:
    from poppyscan.detect.bundle import load_bundle

    bundle = load_bundle(bundle_dir)
    if method == "raw":
        out = bench_raw(ortho, bundle, device, batch_size)
    elif method == "poppyscan":
        out = bench_poppyscan(ortho, bundle, device, batch_size, workers)
    else:
        out = bench_sahi(ortho, bundle, device, batch_size)
    out.update(method=method, chips_per_s=out["chips"] / out["seconds"], peak_rss_mib=peak_rss_mib())
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-px", type=int, nargs="+", default=[4096], help="ortho sizes [4096]")
    parser.add_argument("--model", default=None, help="bundle folder [an untrained --architecture]")
    parser.add_argument("--architecture", nargs="+", default=["yolo11n"],
                        help="untrained networks to compare when no --model is given [yolo11n]")
    parser.add_argument("--untrained-conf", type=float, default=0.25,
                        help="threshold of the untrained networks: random weights flood NMS "
                             "with boxes at low thresholds; 0.9 times the network itself [0.25]")
    parser.add_argument("--device", default="cpu", help="cpu or cuda [cpu]")
    parser.add_argument("--batch-size", type=int, default=8, help="chips per forward pass [8]")
    parser.add_argument("--workers", type=int, default=4, help="poppyscan reader threads [4]")
    parser.add_argument("--methods", nargs="+", default=["raw", "poppyscan", "sahi"])
    parser.add_argument("--_child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        method, ortho, bundle_dir, device, batch, workers = args._child
        child(method, ortho, bundle_dir, device, int(batch), int(workers))
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.model is not None:
            bundles = {Path(args.model).name: args.model}
        else:
            from poppyscan.detect.bundle import write_untrained_bundle

            bundles = {arch: str(write_untrained_bundle(Path(tmp) / arch, architecture=arch,
                                                        conf=args.untrained_conf).path)
                       for arch in args.architecture}
        print(f"device={args.device} batch={args.batch_size} models={', '.join(bundles)}")
        print(f"{'size_px':>8} {'model':>12} {'method':>10} {'chips':>6} {'chips/s':>8} {'vs raw':>7} "
              f"{'vs sahi':>8} {'peak RSS MiB':>13}")
        for size in args.size_px:
            ortho = make_ortho(Path(tmp) / f"ortho_{size}.tif", size, 0.05)
            for name, bundle_dir in bundles.items():
                _bench_rows(args, size, ortho, name, bundle_dir)


def _bench_rows(args, size: int, ortho: Path, name: str, bundle_dir: str) -> None:
    rows = {}
    for method in args.methods:
        cmd = [sys.executable, __file__, "--_child", method, str(ortho), bundle_dir,
               args.device, str(args.batch_size), str(args.workers)]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=os.environ)
        if out.returncode:
            print(f"{size:>8} {name:>12} {method:>10} failed: {out.stderr.strip().splitlines()[-1]}")
            continue
        rows[method] = json.loads(out.stdout.strip().splitlines()[-1])
    for method, r in rows.items():
        vs_raw = r["chips_per_s"] / rows["raw"]["chips_per_s"] if "raw" in rows else float("nan")
        vs_sahi = r["chips_per_s"] / rows["sahi"]["chips_per_s"] if "sahi" in rows else float("nan")
        print(f"{size:>8} {name:>12} {method:>10} {r['chips']:>6} {r['chips_per_s']:>8.1f} "
              f"{vs_raw:>7.2f} {vs_sahi:>8.2f} {r['peak_rss_mib']:>13}", flush=True)


if __name__ == "__main__":
    main()
