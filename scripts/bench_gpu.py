"""GPU benchmark in one run: pure forward rate, end to end with CPU and GPU decoding, SAHI.

Makes its own JPEG-tiled survey (a seeded synthetic survey with a nodata
collar, tiled up to ``--size-px``, YCbCr JPEG in 512 px tiles, as
photogrammetry writes), then measures on that raster, with the same weights
and grid (the bundled model: 5 cm, 640 px chips, 128 px overlap):

- ``forward``: the network alone on a batch already on the device (fp16 on
  CUDA), then with NMS, at each ``--batch-sizes``;
- ``pipeline, threads``: today's :func:`run_detection` (ChipReader decodes on reader threads:
  GDAL, or its own libjpeg-turbo for native-GSD chips of a plain RGB JPEG file);
- ``gdal, processes``: ChipReader decodes in worker processes, chips sent to the
  device (``JpegTileFeed(decode="gdal", pool="process")``);
- ``device decode``: the tiles' JPEG bytes decoded on the device
  (:class:`JpegTileFeed`), host reads on threads or processes;
- ``sahi``: SAHI's sliced prediction over the whole raster (when sahi is installed).

End-to-end rates count every chip read (collar chips too), plan to merged
plots. Prints markdown tables for a closing note.

    python scripts/bench_gpu.py                               # one H200/H100: well under 5 min
    python scripts/bench_gpu.py --size-px 2048 --device cpu   # smoke test of the script itself
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BASE_PX = 2048  # the synthetic survey tiled up to --size-px (synth renders ~0.5 Mpx/s per core)


def make_survey(folder: Path, size_px: int) -> Path:
    """A ``size_px`` square JPEG-tiled GeoTIFF with a nodata collar, from a seeded survey."""
    import rasterio
    from rasterio.windows import Window

    from poppyscan.synth import generate_survey

    base = generate_survey(folder / "base", seed=7, size_px=(min(size_px, BASE_PX),) * 2,
                           gsd_m=0.05, mask="nodata").ortho_path
    if size_px <= BASE_PX:
        return Path(base)
    path = folder / f"ortho_{size_px}.tif"
    with rasterio.open(base) as src:
        data, profile = src.read(), src.profile
    profile.update(width=size_px, height=size_px, blockxsize=512, blockysize=512, num_threads="all_cpus")
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, size_px, BASE_PX):
            for col in range(0, size_px, BASE_PX):
                h, w = min(BASE_PX, size_px - row), min(BASE_PX, size_px - col)
                dst.write(data[:, :h, :w], window=Window(col, row, w, h))
    return path


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def forward_rates(predictor, tile_px: int, batch_sizes: list[int], device: str) -> list[dict]:
    """Chips/s of the network alone and with NMS, on a batch already on the device."""
    import torch

    from poppyscan.detect.gpu import DevicePredictor

    on_device = DevicePredictor(predictor)
    rows = []
    for batch in batch_sizes:
        images = torch.randint(0, 256, (batch, 3, tile_px, tile_px), dtype=torch.uint8, device=device)
        x = images.to(on_device.dtype).div_(255)
        row = {"batch": batch}
        for name, run in (("forward", lambda x=x: predictor.model(x)),
                          ("with_nms", lambda images=images: on_device(images))):
            with torch.inference_mode():
                run()
                sync(device)
                n, start = 0, time.perf_counter()
                while n == 0 or time.perf_counter() - start < 1.0:
                    run()
                    n += 1
                sync(device)
            row[name] = batch * n / (time.perf_counter() - start)
        rows.append(row)
    return rows


def run_pipeline(ortho: Path, predictor, grid, workers: int) -> dict:
    from poppyscan.detect.pipeline import run_detection
    from poppyscan.detect.runtime import Runtime

    start = time.perf_counter()
    result = run_detection([ortho], predictor, grid,
                           runtime=Runtime(batch_size=64, workers=workers))
    seconds = time.perf_counter() - start
    return dict(chips=result.stats.read, seconds=seconds, plots=len(result.clusters),
                model_s=result.timings_s["model"])


def run_feed(ortho: Path, predictor, grid, device: str, *, workers: int, pool: str, decode: str,
             batch: int) -> dict:
    from poppyscan.detect.gpu import DevicePredictor, JpegTileFeed, detect_on_device
    from poppyscan.tiles import cells_for, inspect_raster

    info = inspect_raster(ortho)
    with JpegTileFeed(grid, device=device, workers=workers, pool=pool, decode=decode) as feed:
        feed.read([(info, cell) for cell in cells_for(info, grid)[:8]])  # start workers, decoder
        sync(device)
        start = time.perf_counter()
        run = detect_on_device([info], DevicePredictor(predictor), grid, feed, batch_size=batch,
                               block_chips=int(np.ceil(np.sqrt(batch))))
        seconds = time.perf_counter() - start
    return dict(chips=run.chips_read, seconds=seconds, plots=len(run.clusters),
                model_s=run.timings_s["model"], decoded=run.chips_decoded)


def run_sahi(ortho: Path, bundle, device: str, batch: int) -> dict:
    import rasterio
    from sahi import AutoDetectionModel
    from sahi.predict import get_sliced_prediction

    from poppyscan.detect._ultralytics import configure_offline

    configure_offline()
    model = AutoDetectionModel.from_pretrained(
        model_type="ultralytics", model_path=str(bundle.weights_path),
        confidence_threshold=bundle.conf, device="cuda:0" if device.startswith("cuda") else "cpu")
    tile, overlap = bundle.grid.tile_px, bundle.grid.overlap_px
    start = time.perf_counter()
    with rasterio.open(ortho) as src:
        image = np.moveaxis(src.read([1, 2, 3]), 0, -1)
    result = get_sliced_prediction(
        image, model, slice_height=tile, slice_width=tile, overlap_height_ratio=overlap / tile,
        overlap_width_ratio=overlap / tile, perform_standard_pred=False, verbose=0, batch_size=batch)
    seconds = time.perf_counter() - start
    steps = [1 + max(0, -(-(n - tile) // (tile - overlap))) for n in image.shape[:2]]
    return dict(chips=steps[0] * steps[1], seconds=seconds,
                plots=len(result.object_prediction_list), model_s=float("nan"))


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def print_tables(env: str, forward: list[dict], rows: dict[str, dict]) -> None:
    print(f"\n{env}\n")
    print("| batch | forward only, chips/s | forward + NMS, chips/s |")
    print("| ---: | ---: | ---: |")
    for r in forward:
        print(f"| {r['batch']} | {_rate(r['forward'])} | {_rate(r['with_nms'])} |")
    best = max(r["with_nms"] for r in forward)
    sahi = rows.get("sahi", {}).get("chips_per_s")
    print("\n| end to end | chips | s | chips/s | vs forward + NMS | vs SAHI | model s | plots |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in rows.items():
        if "error" in r:
            print(f"| {name} | failed: {r['error']} | | | | | | |")
            continue
        vs_sahi = f"{r['chips_per_s'] / sahi:.1f}x" if sahi else "-"
        print(f"| {name} | {r['chips']} | {r['seconds']:.1f} | {_rate(r['chips_per_s'])} | "
              f"{r['chips_per_s'] / best:.2f} | {vs_sahi} | {r['model_s']:.1f} | {r['plots']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-px", type=int, default=16384, help="survey width = height, px [16384]")
    parser.add_argument("--device", default="cuda", help="cuda or cpu (a smoke test) [cuda]")
    parser.add_argument("--model", default=str(ROOT / "detect/models/poppy-demo"), help="bundle [bundled]")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="host workers [all CPUs]")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=None,
                        help="forward batches [64 128 256 on CUDA, 8 on CPU]")
    parser.add_argument("--no-sahi", action="store_true", help="skip SAHI")
    args = parser.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    import torch

    from poppyscan.detect.bundle import load_bundle
    from poppyscan.detect.predictor import YoloPredictor
    from poppyscan.tiles import GridSpec

    cuda = args.device.startswith("cuda")
    batches = args.batch_sizes or ([64, 128, 256] if cuda else [8])
    big = max(batches)
    bundle = load_bundle(args.model)
    grid = GridSpec(bundle.grid.gsd_m, bundle.grid.tile_px, bundle.grid.overlap_px)
    predictor = YoloPredictor(str(bundle.weights_path), conf=bundle.conf, device=args.device)
    gpu = torch.cuda.get_device_name() if cuda else platform.processor() or "CPU"
    env = (f"{gpu}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
           f"{'fp16' if predictor.half else 'fp32'}, {args.size_px} px survey, {bundle.model_id}")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ortho = make_survey(Path(tmp), args.size_px)
        print(f"survey: {ortho.name} in {time.perf_counter() - t0:.0f} s", flush=True)
        forward = forward_rates(predictor, grid.tile_px, batches, args.device)
        print(f"forward: {forward}", flush=True)
        w = args.workers
        methods = {
            f"pipeline, {w} threads, GDAL decode": lambda: run_pipeline(ortho, predictor, grid, w),
            f"{w} processes, GDAL decode": lambda: run_feed(
                ortho, predictor, grid, args.device, workers=w, pool="process", decode="gdal", batch=64),
            f"device decode, {w} threads, batch 64": lambda: run_feed(
                ortho, predictor, grid, args.device, workers=w, pool="thread", decode="device", batch=64),
            f"device decode, {w} threads, batch {big}": lambda: run_feed(
                ortho, predictor, grid, args.device, workers=w, pool="thread", decode="device", batch=big),
            f"device decode, {w} processes, batch {big}": lambda: run_feed(
                ortho, predictor, grid, args.device, workers=w, pool="process", decode="device", batch=big),
        }
        if not args.no_sahi:
            methods["sahi"] = lambda: run_sahi(ortho, bundle, args.device, 64 if cuda else 8)
        rows = {}
        for name, method in methods.items():
            try:
                rows[name] = method()
                rows[name]["chips_per_s"] = rows[name]["chips"] / rows[name]["seconds"]
            except ImportError as err:
                rows[name] = {"error": f"not installed ({err.name})"}
            except Exception as err:  # one failing method must not cost the others' figures
                rows[name] = {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"}
            print(f"{name}: {rows[name]}", flush=True)
    print_tables(env, forward, rows)


if __name__ == "__main__":
    main()
