"""Benchmark the chip stream: chips/s and peak RSS on mosaics of growing size.

A mosaic of any size is a VRT that repeats one small JPEG-tiled GeoTIFF (made
from the real drone fixture), so a 100k x 100k px raster needs no disk. Each
size runs in its own process so its peak RSS is its own. The repeated tile
stays in GDAL's block cache; ``--cache-mb 1`` defeats that to measure decoding.

    python scripts/bench_tiles.py --sizes 10000 100000 --max-chips 3000
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

import cv2
import numpy as np
import rasterio
from affine import Affine

ROOT = Path(__file__).resolve().parents[1]
DRONE = ROOT / "tests" / "data" / "real" / "australia_drone_1p8cm.tif"
TILE_PX = 1024


def make_source_tile(path: Path, gsd_m: float) -> Path:
    """A 1024 px JPEG-tiled RGB GeoTIFF with real drone texture, as photogrammetry writes."""
    with rasterio.open(DRONE) as src:
        rgb = np.moveaxis(src.read(), 0, -1)
    rgb = cv2.resize(rgb, (TILE_PX, TILE_PX), interpolation=cv2.INTER_CUBIC)
    profile = dict(driver="GTiff", width=TILE_PX, height=TILE_PX, count=3, dtype="uint8",
                   crs="EPSG:32647", transform=Affine(gsd_m, 0, 500_000, 0, -gsd_m, 2_250_000),
                   tiled=True, blockxsize=256, blockysize=256, compress="jpeg", photometric="YCBCR",
                   jpeg_quality=90)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.moveaxis(rgb, -1, 0))
    return path


def make_mosaic_vrt(tile: Path, size_px: int, path: Path) -> Path:
    """A size_px x size_px mosaic of ``tile``, as VRTs of 10 x 10 VRTs.

    Nesting keeps every VRT small (100 sources), so the VRT's own structures do
    not grow with the mosaic and peak RSS measures the chip stream alone.
    """
    source, source_px, level = tile, TILE_PX, 0
    while source_px * 10 < size_px:
        level += 1
        source = _repeat_vrt(source, source_px, 10, source_px * 10, path.with_suffix(f".l{level}.vrt"))
        source_px *= 10
    return _repeat_vrt(source, source_px, -(-size_px // source_px), size_px, path)


def _repeat_vrt(source: Path, source_px: int, n: int, size_px: int, path: Path) -> Path:
    with rasterio.open(source) as src:
        gsd_m, x0, y0, srs = src.transform.a, src.transform.c, src.transform.f, src.crs.to_wkt()
    bands = []
    for band in (1, 2, 3):
        sources = "".join(
            f'<SimpleSource><SourceFilename relativeToVRT="0">{source}</SourceFilename>'
            f"<SourceBand>{band}</SourceBand>"
            f'<SrcRect xOff="0" yOff="0" xSize="{source_px}" ySize="{source_px}"/>'
            f'<DstRect xOff="{c * source_px}" yOff="{r * source_px}" xSize="{source_px}" ySize="{source_px}"/>'
            "</SimpleSource>"
            for r in range(n) for c in range(n)
        )
        bands.append(f'<VRTRasterBand dataType="Byte" band="{band}">{sources}</VRTRasterBand>')
    path.write_text(
        f'<VRTDataset rasterXSize="{size_px}" rasterYSize="{size_px}"><SRS>{srs}</SRS>'
        f"<GeoTransform>{x0}, {gsd_m}, 0, {y0}, 0, {-gsd_m}</GeoTransform>{''.join(bands)}</VRTDataset>"
    )
    return path


def run_one(vrt: str, gsd_m: float, max_chips: int, workers: int) -> dict:
    """Stream chips from ``vrt``; called in a fresh process."""
    from poppyscan.config import defaults
    from poppyscan.tiles import ChipStats, GridSpec, iter_chips

    grid = GridSpec.from_settings({**defaults("tiling"), "gsd_m": gsd_m})
    stats = ChipStats()
    start = time.perf_counter()
    n = 0
    for _ in iter_chips([vrt], grid, workers=workers, stats=stats):
        n += 1
        if n >= max_chips:
            break
    seconds = time.perf_counter() - start
    return dict(chips=n, seconds=round(seconds, 2), chips_per_s=round(n / seconds, 1),
                peak_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                planned=stats.planned)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--src-gsd", type=float, default=0.05, help="source GSD in metres [0.05]")
    parser.add_argument("--gsd", type=float, default=0.05, help="chip GSD in metres [0.05]")
    parser.add_argument("--max-chips", type=int, default=2000, help="chips read per size [2000]")
    parser.add_argument("--workers", type=int, default=4, help="reader threads [4]")
    parser.add_argument("--cache-mb", type=int, default=256,
                        help="GDAL block cache in MiB [256]; 1 makes every chip decode its JPEG "
                             "blocks, as on a real mosaic whose tiles all differ")
    parser.add_argument("--_child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        vrt, gsd, max_chips, workers = args._child
        print(json.dumps(run_one(vrt, float(gsd), int(max_chips), int(workers))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        tile = make_source_tile(Path(tmp) / "tile.tif", args.src_gsd)
        print(f"{'size_px':>9} {'chips':>6} {'planned':>8} {'chips/s':>8} {'peak RSS MiB':>13}")
        for size in args.sizes:
            vrt = make_mosaic_vrt(tile, size, Path(tmp) / f"mosaic_{size}.vrt")
            env = {**os.environ, "GDAL_CACHEMAX": str(args.cache_mb)}
            out = subprocess.run(
                [sys.executable, __file__, "--_child", str(vrt), str(args.gsd), str(args.max_chips),
                 str(args.workers)], capture_output=True, text=True, check=True, cwd=ROOT, env=env,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{size:>9} {r['chips']:>6} {r['planned']:>8} {r['chips_per_s']:>8} {r['peak_rss_mib']:>13}")


if __name__ == "__main__":
    main()
