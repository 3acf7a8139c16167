"""Benchmark detection side by side: raw forward rates, poppyscan end to end, SAHI, GeoDeep.

Same orthomosaic, same weights, same chip grid (the bundle's, at the ortho's
own GSD so no method resamples), same thresholds. Each method runs in its own
process, so its peak RSS is its own (imports included).

- ``raw-<backend>``: forward passes + NMS alone on chips already in memory
  (``torch``, ``openvino``, ``onnxruntime``; ``openvino-bf16`` is OpenVINO at
  the CPU's bfloat16, which poppyscan runs when the model card says it passed
  the held-out check: see detect/backends);
- ``read``: the chip stream alone (:func:`tiles.iter_chips`, same threads and
  prefetch as detection): the most chips/s reading can feed;
- ``poppyscan``: :func:`detect.pipeline.run_detection` + targets with the
  default backend (``auto``: OpenVINO, in bfloat16 where the card's check and the CPU
  allow); ``poppyscan-f32`` and ``poppyscan-bf16`` are OpenVINO at float32 and bfloat16
  (``--precision``), ``poppyscan-torch`` the PyTorch path;
- ``sahi``: SAHI's ``get_sliced_prediction`` on the whole image loaded with
  rasterio (PyTorch), standard (full-image) prediction off;
- ``geodeep``: GeoDeep (ONNX Runtime) on the same weights exported to ONNX with
  its metadata (5 cm, 640 px, 20 % overlap, same conf and NMS IoU);
- ``torch-as-filed`` (with ``--filed-rev REV``): the PyTorch path as it was at
  ``REV``, the commit on which issue 16 ("3x today's PyTorch path") was filed,
  built from git into a scratch folder and run on the same weights and grid
  through that revision's own API (the ``poppyscan-torch`` row is today's
  PyTorch backend, which shares the newer chip reader).

Ratios: ``vs raw`` is against the raw rate of the backend the row ran;
``vs sahi``, ``vs geodeep``, ``vs torch`` (poppyscan-torch) and ``vs filed``
(torch-as-filed) are chips/s ratios. ``CPU ms/chip`` is the process's CPU time
(all threads) per chip, which other load on the machine disturbs far less than
wall time. ``--base-python`` runs the rows that need no torch under a base install's
interpreter (a venv of ``pip install -e .``), so their peak RSS is what that install uses.
``km2/h`` is chips/s in ground surveyed per hour: each chip of the model's grid
adds its stride squared of new ground at the model's GSD (25.6 m x 25.6 m for 640 px chips
with 128 px overlap at 5 cm), whatever the orthomosaic's own GSD. ``stages`` prints where one
chip's time goes, one thread, in ms.

    python scripts/bench_detect.py --size-px 8192 --model detect/models/poppy-demo \
        --repeat 3 --filed-rev 51260b4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# Children get the environment as it was before anything ran here: importing Ultralytics
# (to export) sets OMP_NUM_THREADS=1, which would change every child's thread count.
CHILD_ENV = dict(os.environ)

from scripts.bench_peers import (  # noqa: E402  (build_revision: scripts/bench_train_threads.py)
    Clock,
    bench_geodeep,
    bench_sahi,
    bench_torch_as_filed,
    build_revision,
    make_geodeep_model,
    peak_rss_mib,
)

METHODS = ("raw-torch", "raw-openvino", "raw-onnxruntime", "raw-openvino-bf16", "read", "stages",
           "poppyscan", "poppyscan-f32", "poppyscan-bf16", "poppyscan-torch", "sahi", "geodeep")
TORCH_FREE = ("raw-openvino", "raw-openvino-bf16", "read", "poppyscan", "poppyscan-f32",
              "poppyscan-bf16")  # rows --base-python runs


def make_ortho(path: Path, size_px: int, gsd_m: float) -> Path:
    """A real JPEG-tiled GeoTIFF of ``size_px`` (drone texture), as photogrammetry writes."""
    import rasterio
    from rasterio.shutil import copy as rio_copy

    from scripts.bench_tiles import make_mosaic_vrt, make_source_tile

    tile = make_source_tile(path.with_suffix(".tile.tif"), gsd_m)
    vrt = make_mosaic_vrt(tile, size_px, path.with_suffix(".vrt"))
    with rasterio.open(vrt) as src:
        rio_copy(src, path, driver="GTiff", tiled=True, blockxsize=512, blockysize=512,
                 compress="jpeg", photometric="YCBCR", jpeg_quality=90)
    return path


def _grid(bundle):
    from poppyscan.tiles import GridSpec

    return GridSpec(None, bundle.grid.tile_px, bundle.grid.overlap_px)


def _predictor(bundle, backend: str, device: str):
    """The raw rows' predictor: ``openvino`` at float32, ``openvino-bf16`` at bfloat16."""
    if backend == "openvino-bf16":
        return bundle.predictor(device, backend="openvino", precision="bf16")
    return bundle.predictor(device, backend=backend, precision="f32" if device == "cpu" else "auto")


def bench_raw(ortho, bundle, device, batch_size, backend, max_chips) -> dict:
    from poppyscan.detect.predictor import batched
    from poppyscan.tiles import iter_chips

    chips = []
    for chip in iter_chips([ortho], _grid(bundle)):
        chips.append(chip.pixels)
        if len(chips) >= max_chips:
            break
    predictor = _predictor(bundle, backend, device)
    predictor(np.stack(chips[:batch_size]))  # warm-up (and compile)
    _sync(device)
    with Clock() as clock:
        for batch in batched(chips, batch_size):
            predictor(np.stack(batch))
        _sync(device)
    return clock.result(len(chips), backend=backend, precision=getattr(predictor, "precision", ""))


def bench_read(ortho, bundle, batch_size, workers) -> dict:
    from poppyscan.tiles import iter_chips

    with Clock() as clock:
        n = sum(1 for _ in iter_chips([ortho], _grid(bundle), workers=workers,
                                      prefetch=max(16, 3 * batch_size)))
    return clock.result(n)


def bench_stages(ortho, bundle, max_chips=64) -> dict:
    """Per-chip ms of each reading step and of the per-chip detection bookkeeping, one thread."""
    from poppyscan.detect.detections import detections_from_chip
    from poppyscan.detect.pipeline import COVERAGE_CELL_PX
    from poppyscan.tiles import ChipReader, inspect_raster, plan_raster

    info = inspect_raster(ortho)
    cells = list(plan_raster(info, _grid(bundle)).cells())[:max_chips]
    clock: dict[str, float] = defaultdict(float)
    boxes = np.array([[100, 100, 180, 170, 0.9, 0]], dtype="float32")
    with ChipReader(info, _grid(bundle)) as reader:
        # Time GDAL's calls inside the reader
        reader._src = _Timed(reader._src, clock, read="decode+resample", dataset_mask="mask")
        if reader._tiles is not None:  # and the reader's own JPEG decoding, when it does that
            reader._tiles = _Timed(reader._tiles, clock, read="decode tiles")
        for cell in cells:
            t0 = time.perf_counter()
            chip = reader.read(cell)
            t1 = time.perf_counter()
            _ = chip.valid_frac, chip.valid.any()  # what the stream checks per chip
            t2 = time.perf_counter()
            detections_from_chip(chip, boxes)
            chip.valid_area(COVERAGE_CELL_PX)
            t3 = time.perf_counter()
            clock["chip"] += t1 - t0
            clock["check"] += t2 - t1
            clock["detections"] += t3 - t2
    n = len(cells)
    clock["assemble"] = clock.pop("chip") - clock["decode+resample"] - clock["mask"] - clock["decode tiles"]
    return dict(chips=n, seconds=1.0, cpu_s=1.0,
                stages_ms={k: round(1000 * v / n, 2) for k, v in clock.items()})


class _Timed:
    """``obj`` whose methods named in ``stages`` add their time to ``clock[stage]``."""

    def __init__(self, obj, clock, **stages: str) -> None:
        self._obj, self._clock, self._stages = obj, clock, stages

    def __getattr__(self, name):
        method = getattr(self._obj, name)
        if name not in self._stages:
            return method

        def timed(*args, **kwargs):
            start = time.perf_counter()
            out = method(*args, **kwargs)
            self._clock[self._stages[name]] += time.perf_counter() - start
            return out

        return timed


def bench_poppyscan(ortho, bundle, device, batch_size, workers, backend, precision="auto") -> dict:
    from poppyscan.detect.build import make_targets
    from poppyscan.detect.pipeline import run_detection
    from poppyscan.detect.runtime import Runtime

    grid = _grid(bundle)
    predictor = bundle.predictor(device, backend=backend, precision=precision)
    predictor(np.zeros((batch_size, grid.tile_px, grid.tile_px, 3), "uint8"))  # warm-up
    with Clock() as clock:
        result = run_detection([ortho], predictor, grid,
                               runtime=Runtime(batch_size=batch_size, workers=workers))
        targets = make_targets(result.clusters, result.crs, mission="bench",
                               model_id=bundle.model_id, gsd_m=bundle.grid.gsd_m,
                               class_names=bundle.classes)
    return clock.result(result.stats.read, targets=len(targets), backend=predictor.backend,
                        precision=getattr(predictor, "precision", ""),
                        timings_s=result.timings_s, torch_loaded="torch" in sys.modules)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def child(method, ortho, bundle_dir, device, batch_size, workers, extra) -> None:
    if method == "geodeep":  # the peer imports nothing of poppyscan
        out = bench_geodeep(ortho, extra)
    elif method == "torch-as-filed":  # that revision's poppyscan, ahead of the installed one
        sys.path.insert(0, extra)
        out = bench_torch_as_filed(ortho, bundle_dir, device, batch_size, workers)
    else:
        from poppyscan.detect.bundle import load_bundle

        bundle = load_bundle(bundle_dir)
        if method.startswith("raw-"):
            out = bench_raw(ortho, bundle, device, batch_size, method[4:], int(extra))
        elif method == "read":
            out = bench_read(ortho, bundle, batch_size, workers)
        elif method == "stages":
            out = bench_stages(ortho, bundle)
        elif method.startswith("poppyscan"):
            backend = "torch" if method == "poppyscan-torch" else "auto"
            precision = {"poppyscan-bf16": "bf16", "poppyscan-f32": "f32"}.get(method, "auto")
            out = bench_poppyscan(ortho, bundle, device, batch_size, workers, backend, precision)
        else:
            out = bench_sahi(ortho, bundle, device, batch_size)
    out.update(method=method, chips_per_s=out["chips"] / out["seconds"],
               cpu_ms_per_chip=1000 * out["cpu_s"] / out["chips"], peak_rss_mib=peak_rss_mib())
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
    parser.add_argument("--raw-chips", type=int, default=128,
                        help="chips per raw forward-rate run (the first of the grid) [128]")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS,
                        help=f"[{' '.join(METHODS)}]")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each method, interleaved; the table shows the median [1]")
    parser.add_argument("--gdal-cache-mb", type=int, default=None,
                        help="GDAL_CACHEMAX of every method [unset: poppyscan's 64, GDAL's 5 %% "
                             "of RAM for the peers]")
    parser.add_argument("--filed-rev", default=None,
                        help="also run the PyTorch path of this git revision (torch-as-filed)")
    parser.add_argument("--base-python", default=None,
                        help="interpreter of a base install (no torch) for the rows that need no "
                             "torch: poppyscan, poppyscan-f32, -bf16, raw-openvino*, read [this one]")
    parser.add_argument("--_child", nargs=7, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        method, ortho, bundle_dir, device, batch, workers, extra = args._child
        child(method, ortho, bundle_dir, device, int(batch), int(workers), extra)
        return
    if args.gdal_cache_mb is not None:
        CHILD_ENV["GDAL_CACHEMAX"] = str(args.gdal_cache_mb)
    with tempfile.TemporaryDirectory() as tmp:
        bundles = _bundles(args, Path(tmp))
        filed_site = build_revision(args.filed_rev, Path(tmp)) if args.filed_rev else None
        print(f"device={args.device} batch={args.batch_size} workers={args.workers} "
              f"cores={os.cpu_count()} load={os.getloadavg()[0]:.1f} "
              f"GDAL_CACHEMAX={CHILD_ENV.get('GDAL_CACHEMAX', 'unset')} models={', '.join(bundles)}")
        for size in args.size_px:
            ortho = make_ortho(Path(tmp) / f"ortho_{size}.tif", size, 0.05)
            for name, bundle_dir in bundles.items():
                _bench_rows(args, size, ortho, name, bundle_dir, Path(tmp), filed_site)


def _bundles(args, tmp: Path) -> dict[str, str]:
    """The bundle under test, or untrained ones, exported for the fast runtimes when possible."""
    from poppyscan.detect.backends import export_bundle
    from poppyscan.detect.bundle import load_bundle, write_untrained_bundle

    if args.model is not None:
        bundles = {Path(args.model).name: args.model}
    else:
        bundles = {arch: str(write_untrained_bundle(tmp / arch, architecture=arch,
                                                    conf=args.untrained_conf).path)
                   for arch in args.architecture}
    for bundle_dir in bundles.values():
        if not load_bundle(bundle_dir).card.get("exports"):
            try:
                export_bundle(bundle_dir)
            except ImportError as err:  # no exporter: the fast backends' rows fail and say so
                print(f"no exports for {bundle_dir}: {err}")
    return bundles


def _bench_rows(args, size: int, ortho: Path, name: str, bundle_dir: str, tmp: Path,
                filed_site: Path | None) -> None:
    """Run every method ``--repeat`` times, interleaved; keep each method's median run."""
    extra = {method: str(args.raw_chips) for method in args.methods}
    if "geodeep" in args.methods:
        from poppyscan.detect.bundle import load_bundle

        try:
            extra["geodeep"] = str(make_geodeep_model(load_bundle(bundle_dir),
                                                      tmp / f"geodeep_{name}.onnx"))
        except ImportError as err:
            print(f"geodeep: skipped ({err})")
            extra.pop("geodeep")
    if filed_site is not None:
        extra["torch-as-filed"] = str(filed_site)
    runs: dict[str, list[dict]] = defaultdict(list)
    for _ in range(args.repeat):
        for method in extra:
            python = args.base_python if args.base_python and method in TORCH_FREE else sys.executable
            cmd = [python, __file__, "--_child", method, str(ortho), bundle_dir,
                   args.device, str(args.batch_size), str(args.workers), extra[method]]
            out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=CHILD_ENV)
            if out.returncode:
                print(f"{method}: failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}",
                      flush=True)
                continue
            runs[method].append(json.loads(out.stdout.strip().splitlines()[-1]))
    rows = {m: sorted(r, key=lambda x: x["chips_per_s"])[len(r) // 2] for m, r in runs.items()}
    _print_table(size, name, rows, {m: [round(x["chips_per_s"], 1) for x in r]
                                    for m, r in runs.items()}, _chip_ground_km2(bundle_dir))
    print(f"load average after: {os.getloadavg()[0]:.1f}")


def _chip_ground_km2(bundle_dir: str) -> float:
    """New ground each chip of the model's grid adds: its stride squared, at the model's GSD."""
    from poppyscan.detect.bundle import load_bundle

    grid = load_bundle(bundle_dir).grid
    return ((grid.tile_px - grid.overlap_px) * grid.gsd_m) ** 2 / 1e6


def _print_table(size: int, name: str, rows: dict, every: dict, chip_km2: float) -> None:
    def ratio(r, other):
        return r["chips_per_s"] / rows[other]["chips_per_s"] if other in rows else float("nan")

    print(f"\n{size} px, {name}")
    print(f"km2/h: chips/s x 3600 x {chip_km2 * 1e6:.1f} m2, the ground a chip of the model's "
          "grid adds (stride squared at its GSD)")
    print(f"{'method':>18} {'backend':>17} {'chips':>6} {'chips/s':>8} {'km2/h':>6} {'vs raw':>7} "
          f"{'vs sahi':>8} "
          f"{'vs geodeep':>10} {'vs torch':>9} {'vs filed':>9} {'CPU ms/chip':>12} {'peak RSS MiB':>13}")
    for method, r in rows.items():
        if method == "stages":
            continue
        backend = f"{r.get('backend', '')} {r.get('precision', '')}".strip()
        bf16 = "-bf16" if r.get("backend") == "openvino" and r.get("precision") == "bf16" else ""
        raw = f"raw-{r['backend']}{bf16}" if "backend" in r else None
        print(f"{method:>18} {backend:>17} {r['chips']:>6} {r['chips_per_s']:>8.1f} "
              f"{r['chips_per_s'] * 3600 * chip_km2:>6.1f} {ratio(r, raw):>7.2f} "
              f"{ratio(r, 'sahi'):>8.2f} {ratio(r, 'geodeep'):>10.2f} "
              f"{ratio(r, 'poppyscan-torch'):>9.2f} {ratio(r, 'torch-as-filed'):>9.2f} "
              f"{r['cpu_ms_per_chip']:>12.0f} "
              f"{r['peak_rss_mib']:>13}  {every[method] if len(every[method]) > 1 else ''}",
              flush=True)
    if "poppyscan" in rows:
        r = rows["poppyscan"]
        print(f"poppyscan ({r['backend']}): {r['timings_s']} s; torch imported: {r['torch_loaded']}")
    if "stages" in rows:
        stages = rows["stages"]["stages_ms"]
        print("one chip, one thread, ms: " + ", ".join(f"{k} {v}" for k, v in stages.items())
              + f" (total {sum(stages.values()):.1f})")


if __name__ == "__main__":
    main()
