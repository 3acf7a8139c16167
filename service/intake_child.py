"""An upload's raster checks and map preview, in a child process with CPU-time and memory limits.

The web process hands the child the file and what it must fit (JSON on the
command line); the child sets its own ``RLIMIT_CPU`` and ``RLIMIT_AS`` before
GDAL is imported and prints one JSON line: the preview's bounds and the pixel
count, or the reason the file is refused. A child killed by its limits, or by
anything else, refuses the file in one line; the web process never decodes a
pixel of an upload.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from poppyscan.errors import RasterError
from poppyscan.service.gdal_env import apply_gdal_env
from poppyscan.service.store import ServiceSettings
from poppyscan.tiles.grid import GridSpec

__all__ = ["IntakeChecks", "child_env", "run_limited"]

MIN_STORED_BYTES_PER_MPX = 1_000  # as tiles.scale's file-size check, but on the blocks' bytes
# One thread for each math library and few malloc arenas: RLIMIT_AS counts address space, which
# thread pools sized to the machine's cores reserve by the hundred MiB before any work.
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "OPENCV_FOR_THREADS_NUM": "1", "MALLOC_ARENA_MAX": "2"}


@dataclass(frozen=True)
class IntakeChecks:
    """What a file must fit: the model's grid, the coarsest GSD ratio, the preview size."""

    grid: GridSpec
    max_gsd_ratio: float
    preview_max_px: int


def run_limited(path: Path, checks: IntakeChecks,
                settings: ServiceSettings) -> tuple[list[float], int]:
    """(lon/lat bounds, pixels) of ``path`` checked in a limited child; RasterError when refused."""
    spec = {"grid": asdict(checks.grid), "max_gsd_ratio": checks.max_gsd_ratio,
            "preview_max_px": checks.preview_max_px, "cpu_s": settings.intake_cpu_s,
            "memory_bytes": settings.intake_memory_bytes}
    wall_s = 2 * settings.intake_cpu_s + 30  # a child that sleeps or waits is stopped too
    try:
        done = subprocess.run([sys.executable, "-m", __name__, str(path), json.dumps(spec)],
                              capture_output=True, text=True, timeout=wall_s,
                              env=child_env())
    except subprocess.TimeoutExpired:
        raise RasterError(f"{path.name}: its checks took more than {wall_s} s") from None
    lines = done.stdout.strip().splitlines()
    answer = json.loads(lines[-1]) if done.returncode == 0 and lines else None
    if answer is None:
        raise RasterError(
            f"{path.name}: its checks stopped (exit {done.returncode}) within the limits of "
            f"{settings.intake_cpu_s} CPU seconds and {settings.intake_memory_bytes >> 20:,} MiB "
            "of memory: a file this costly to read is refused")
    if "error" in answer:
        raise RasterError(answer["error"])
    return answer["bounds"], answer["pixels"]


def child_env() -> dict:
    """The environment of a limited child: the web process's GDAL settings, one thread each."""
    return {**apply_gdal_env(environ=dict(os.environ)), **ONE_THREAD}


def _limit(cpu_s: int, memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def check_blocks(path: Path, width: int, height: int) -> None:
    """RasterError when the image's blocks store almost nothing for the pixels it claims."""
    from poppyscan.service.tiff_blocks import stored_blocks

    try:
        blocks = stored_blocks(path)
    except (OSError, ValueError) as err:
        raise RasterError(f"{path.name}: its TIFF block table cannot be read ({err})") from None
    mpx = width * height / 1e6
    if mpx > 100 and blocks.stored_bytes < mpx * MIN_STORED_BYTES_PER_MPX:
        raise RasterError(
            f"{path.name}: {width} x {height} px but its image blocks store only "
            f"{blocks.stored_bytes:,} bytes ({blocks.missing:,} of {blocks.blocks:,} blocks "
            "missing): the file holds almost no image data")


def _main(path: Path, spec: dict) -> dict:
    from poppyscan.errors import PoppyscanError

    try:
        import rasterio

        from poppyscan.service.preview import write_preview
        from poppyscan.tiles import inspect_raster
        from poppyscan.tiles.scale import check_scale

        with rasterio.open(path) as src:
            width, height = src.width, src.height
        check_blocks(path, width, height)
        info = inspect_raster(path)
        check_scale(info, GridSpec(**spec["grid"]), max_gsd_ratio=spec["max_gsd_ratio"])
        preview = path.parent / "map" / "preview.tif"
        bounds = write_preview(info, preview, max_px=spec["preview_max_px"])
        return {"bounds": bounds, "pixels": width * height}
    except PoppyscanError as err:
        return {"error": str(err).replace(str(path.parent) + os.sep, "")}
    except MemoryError:
        return {"error": f"{path.name}: reading it needs more than the "
                         f"{spec['memory_bytes'] >> 20:,} MiB of memory its checks may use"}
    except Exception as err:  # noqa: BLE001 - whatever GDAL says, the file is refused
        return {"error": f"{path.name}: cannot be read ({type(err).__name__}: "
                         f"{str(err).replace(str(path.parent) + os.sep, '')})"}


if __name__ == "__main__":
    _spec = json.loads(sys.argv[2])
    _limit(_spec["cpu_s"], _spec["memory_bytes"])
    print(json.dumps(_main(Path(sys.argv[1]), _spec)))
